//! The app's life as a tray app under a real window manager (openbox):
//! the window manager's close request destroys the window and its webview
//! (no WebKit web process of the app remains) while the tray and the engine
//! carry on; "Open Spool" builds the window again with the current items;
//! "Add URL from clipboard" reads the X clipboard (`xclip`); "Start at login"
//! writes an autostart entry whose `Exec` starts the app. Prints the memory
//! (PSS) with the window open and in the tray only, and the time to reopen.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::procs::{app_pid, comm, tree, web_processes};
use super::support::origin::{Faults, Origin};
use super::webdriver::Session;
use super::{
    menu_of, on_path, press, row, session_bus, spool_add, spool_ls, start_driver, tray_menu, until, Guard,
    MenuEntry, SPOOL,
};

/// Proportional set size of the app and its WebKit children, KiB: each
/// process's share of the memory it maps, so shared libraries count once.
fn pss_kib(app: u32) -> (u64, Vec<(String, u64)>) {
    let mut parts = Vec::new();
    for pid in tree(app) {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let pss = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(pss) = pss {
            parts.push((comm(pid), pss));
        }
    }
    (parts.iter().map(|(_, k)| k).sum(), parts)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// The app's top-level windows managed by the window manager (`wmctrl -lp`).
fn app_windows(app: u32) -> Vec<String> {
    let Ok(out) = Command::new("wmctrl").arg("-lp").output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 3 && fields[2] == app.to_string()).then(|| fields[0].to_string())
        })
        .collect()
}

fn entry(entries: &[MenuEntry], label: &str) -> MenuEntry {
    entries
        .iter()
        .find(|e| e.label == label)
        .cloned()
        .unwrap_or_else(|| panic!("no {label:?} in {entries:?}"))
}

/// The program of a desktop entry's `Exec` line (quoted or not) and its
/// arguments (field codes such as `%u` left out).
fn exec_command(entry: &str) -> Option<(String, Vec<String>)> {
    let exec = entry.lines().find_map(|l| l.strip_prefix("Exec="))?;
    let (program, rest) = if let Some(quoted) = exec.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => out.push(chars.next()?.1),
                (i, '"') => break i + 1,
                (_, c) => out.push(c),
            }
        };
        (out, &quoted[end..])
    } else {
        let program = exec.split_whitespace().next()?;
        (program.to_string(), &exec[program.len()..])
    };
    let args = rest
        .split_whitespace()
        .filter(|a| !a.starts_with('%'))
        .map(str::to_string)
        .collect();
    Some((program, args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, openbox, wmctrl, xclip, a D-Bus session and tauri-driver: run by scripts/test"]
async fn closed_to_the_tray_the_webview_goes_and_open_spool_brings_the_items_back() {
    let tools = ["openbox", "wmctrl", "xclip", "busctl"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if !super::support::require(
        session_bus() && missing.is_empty(),
        &format!("needs a D-Bus session (dbus-run-session) and {missing:?} (scripts/install-deps)"),
    ) {
        return;
    }
    let sandbox = super::sandbox("spool-life-");
    let data = sandbox.path().join("data");
    let config = sandbox.path().join("config");

    // A real window manager, so the close request is the one users send.
    let _wm = Guard(
        Command::new("openbox")
            .arg("--sm-disable")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openbox"),
    );
    until("openbox to manage the display", || async {
        let out = Command::new("wmctrl").arg("-m").output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .contains("Openbox")
            .then_some(())
    })
    .await;

    let film = Origin::start(
        super::support::content(1 << 20, 5),
        Faults {
            path: Some("/films/Harbour-at-Dawn.mkv".to_string()),
            ..Faults::default()
        },
    )
    .await;
    let clip = Origin::start(
        super::support::content(1 << 20, 6),
        Faults {
            path: Some("/clips/from-the-clipboard.mp4".to_string()),
            ..Faults::default()
        },
    )
    .await;

    let (driver, driver_port) = start_driver(sandbox.path(), &data, &config);
    let session = Session::start(driver_port, SPOOL).await;
    let app = until("the app's process", || async { app_pid(driver.pid()) }).await;
    until("the window, managed by openbox", || async {
        (!app_windows(app).is_empty()).then_some(())
    })
    .await;
    let (bus_name, _) = until("the tray menu on the bus", || async { tray_menu(app) }).await;

    // "Start at login" writes an autostart entry whose Exec starts this app.
    session.click("#settings-toggle").await;
    session.click("input[name=start_at_login]").await;
    session.click("#settings-form button[type=submit]").await;
    until("settings saved", || async {
        (session.text("#settings-status").await == "Saved and applied").then_some(())
    })
    .await;
    session.click("#settings-toggle").await;
    let autostart = config.join("autostart").join("spool.desktop");
    let entry_text = std::fs::read_to_string(&autostart).expect("the autostart entry");
    let (program, args) = exec_command(&entry_text).expect("an Exec line");
    assert_eq!(args, ["--tray"], "at login, the app starts in the tray");
    assert_eq!(
        std::fs::canonicalize(&program).ok(),
        std::fs::canonicalize(SPOOL).ok(),
        "Exec starts the app: {entry_text}"
    );
    // Started as the session would at login, it reaches this app (one per
    // data directory) and exits 0.
    let login = Command::new(&program)
        .args(&args)
        .env("SPOOL_DATA_DIR", &data)
        .output()
        .expect("run the autostart Exec");
    assert!(
        login.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&login.stderr)
    );

    // An item, shown in the window.
    spool_add(&data, &film.url());
    until("the film's row, complete", || async {
        let r = row(&session, "Harbour-at-Dawn.mkv").await?;
        (r["state"] == "Complete").then_some(())
    })
    .await;
    let old_handles = session.window_handles().await;
    assert_eq!(
        web_processes(app).len(),
        1,
        "one web process while the window is open"
    );
    let (open_kib, open_parts) = pss_kib(app);

    // The window manager's close request: the window and its web process go,
    // the app stays (its tray answers, and so does its engine).
    let window = app_windows(app).pop().expect("the window");
    let closed = Command::new("wmctrl")
        .args(["-i", "-c", &window])
        .status()
        .expect("wmctrl -c");
    assert!(closed.success());
    until("the window to go", || async {
        app_windows(app).is_empty().then_some(())
    })
    .await;
    until("the app's web process to end", || async {
        web_processes(app).is_empty().then_some(())
    })
    .await;
    assert!(
        std::fs::read_link(format!("/proc/{app}/exe")).is_ok(),
        "the app still runs"
    );
    assert_eq!(spool_ls(&data).len(), 1, "spool ls answers");
    let entries = menu_of(&bus_name).expect("the tray menu still answers");
    let (tray_kib, tray_parts) = pss_kib(app);

    // "Add URL from clipboard", from the tray alone.
    let mut xclip = Guard(
        Command::new("xclip")
            .args(["-selection", "clipboard", "-quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start xclip"),
    );
    xclip
        .0
        .stdin
        .take()
        .expect("xclip stdin")
        .write_all(clip.url().as_bytes())
        .expect("write to xclip");
    until("the URL on the X clipboard", || async {
        let out = Command::new("xclip")
            .args(["-selection", "clipboard", "-o"])
            .output()
            .ok()?;
        (String::from_utf8_lossy(&out.stdout) == clip.url()).then_some(())
    })
    .await;
    press(&bus_name, &entry(&entries, "Add URL from clipboard"));
    until("the clipboard's URL to be added", || async {
        spool_ls(&data)
            .iter()
            .any(|i| i["source_url"] == clip.url().as_str() && i["state"] == "complete")
            .then_some(())
    })
    .await;
    drop(xclip);

    // "Open Spool": a new window whose page shows both items.
    let reopen = Instant::now();
    press(&bus_name, &entry(&entries, "Open Spool"));
    let handle = until("a new window", || async {
        session
            .window_handles()
            .await
            .into_iter()
            .find(|h| !old_handles.contains(h))
    })
    .await;
    session.switch_to_window(&handle).await;
    until("both rows in the new window", || async {
        row(&session, "Harbour-at-Dawn.mkv").await?;
        row(&session, "from-the-clipboard.mp4").await
    })
    .await;
    let reopen_time = reopen.elapsed();
    assert_eq!(app_windows(app).len(), 1, "one window again");
    assert_eq!(web_processes(app).len(), 1, "one web process again");

    eprintln!(
        "memory (PSS, the app and its WebKit processes): window open {}, tray only {}; reopened with the items in {:.2} s",
        mib(open_kib),
        mib(tray_kib),
        reopen_time.as_secs_f64()
    );
    let show = |parts: &[(String, u64)]| {
        parts
            .iter()
            .map(|(name, kib)| format!("{name} {}", mib(*kib)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!("  window open: {}", show(&open_parts));
    eprintln!("  tray only:   {}", show(&tray_parts));
    assert!(tray_kib < open_kib, "the tray-only app is lighter");

    // Quit from the tray: the app exits, its engine stopped cleanly.
    let entries = menu_of(&bus_name).expect("the tray menu");
    press(&bus_name, &entry(&entries, "Quit Spool"));
    until("the app to quit", || async {
        std::fs::read_link(format!("/proc/{app}/exe"))
            .is_err()
            .then_some(())
    })
    .await;
    assert!(!data.join("engine.json").exists(), "the engine shut down cleanly");
    session.close().await;
}

#[test]
fn exec_lines_are_read_quoted_or_bare() {
    let words = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        exec_command("[Desktop Entry]\nExec=\"/opt/my \\$pool/spool\" --tray\n"),
        Some(("/opt/my $pool/spool".to_string(), words(&["--tray"])))
    );
    assert_eq!(
        exec_command("Exec=/usr/bin/spool %u\n"),
        Some(("/usr/bin/spool".to_string(), Vec::new()))
    );
    assert_eq!(exec_command("Name=x\n"), None);
}
