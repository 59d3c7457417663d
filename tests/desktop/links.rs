//! `spool:` links and drag and drop, in the real app: `xdg-open` of a link
//! with a desktop entry registered (`xdg-mime`) reaches the running app,
//! which asks before adding; Play starts the (stub) player; refused links
//! say why and add nothing; a link dropped on the window is added.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::support::origin::{Faults, Origin};
use super::webdriver::Session;
use super::{session_bus, spool_ls, start_driver, stub_player, until, SPOOL};

fn encode(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The dialog's title and text once it shows, or `None`.
async fn prompt(session: &Session) -> Option<(String, String)> {
    let shown = session
        .execute(
            "const p = document.getElementById('prompt');
             return p.classList.contains('hidden') ? null
               : [document.getElementById('prompt-title').textContent, document.getElementById('prompt-lines').textContent];",
            &[],
        )
        .await;
    let pair = shown.as_array()?;
    Some((pair[0].as_str()?.to_string(), pair[1].as_str()?.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a D-Bus session: run by scripts/test"]
async fn spool_links_are_confirmed_and_dropped_links_are_added() {
    if !super::support::require(
        session_bus(),
        "no D-Bus session (run under dbus-run-session): a second launch reaches the app over D-Bus",
    ) {
        return;
    }
    let sandbox = super::sandbox("spool-links-");
    let data = sandbox.path().join("data");
    let config = sandbox.path().join("config");
    let share = sandbox.path().join("share");
    let (stub, argv_file) = stub_player(sandbox.path());
    let film = Origin::start(
        super::support::content(2 << 20, 11),
        Faults {
            path: Some("/talks/keynote.mp4".to_string()),
            ..Faults::default()
        },
    )
    .await;
    let dropped = Origin::start(
        super::support::content(1 << 20, 12),
        Faults {
            path: Some("/talks/dropped.webm".to_string()),
            ..Faults::default()
        },
    )
    .await;

    // The `.deb`'s desktop entry, registered for this test's user dirs.
    std::fs::create_dir_all(share.join("applications")).expect("applications dir");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        share.join("applications/spool.desktop"),
        format!(
            "[Desktop Entry]\nType=Application\nName=Spool\nExec={SPOOL} %u\nMimeType=x-scheme-handler/spool;\nNoDisplay=true\n"
        ),
    )
    .expect("write the desktop entry");
    let xdg = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.env("SPOOL_DATA_DIR", &data)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", &share)
            .env_remove("XDG_CURRENT_DESKTOP")
            .env_remove("DESKTOP_SESSION");
        cmd
    };
    let registered = xdg("xdg-mime")
        .args(["default", "spool.desktop", "x-scheme-handler/spool"])
        .status()
        .expect("run xdg-mime (package xdg-utils)");
    assert!(registered.success(), "xdg-mime default failed");

    let (_driver, driver_port) = start_driver(sandbox.path(), &data, &config);
    let session = Session::start(driver_port, SPOOL).await;
    until("the empty state", || async {
        let shown = session
            .execute(
                "return !document.getElementById('empty').classList.contains('hidden')",
                &[],
            )
            .await;
        shown.as_bool().filter(|b| *b)
    })
    .await;
    session.click("#settings-toggle").await;
    session.clear("input[name=player_command]").await;
    session
        .type_into("input[name=player_command]", &stub.display().to_string())
        .await;
    session.click("#settings-form button[type=submit]").await;
    until("settings saved", || async {
        (session.text("#settings-status").await == "Saved and applied").then_some(())
    })
    .await;
    session.click("#settings-toggle").await;

    // xdg-open of a play link: the app asks, with the URL and its host.
    let link = format!("spool:play?url={}", encode(&film.url()));
    let opened = xdg("xdg-open")
        .arg(&link)
        .stdout(Stdio::null())
        .status()
        .expect("run xdg-open");
    assert!(opened.success(), "xdg-open {link} failed");
    let (title, text) = until("the link's confirmation", || prompt(&session)).await;
    assert_eq!(title, "Open this media?");
    assert!(text.contains(&film.url()) && text.contains("127.0.0.1"), "{text}");
    assert!(
        spool_ls(&data).is_empty(),
        "nothing is added before the user confirms"
    );
    until("the size from the HEAD probe", || async {
        let (_, text) = prompt(&session).await?;
        text.contains("2.0 MiB").then_some(())
    })
    .await;
    session.click("#prompt-buttons button[data-answer=play]").await;
    let argv = until("the stub player to run", || async {
        std::fs::read_to_string(&argv_file).ok().filter(|s| !s.is_empty())
    })
    .await;
    let items = spool_ls(&data);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["source_url"], film.url().as_str());
    let stream_url = items[0]["stream_url"].as_str().expect("stream_url");
    assert!(argv.lines().any(|l| l == stream_url), "{argv}");

    // Refused links: the reason is shown, nothing is added.
    for (link, reason) in [
        ("spool:play?url=file%3A%2F%2F%2Fetc%2Fpasswd", "\"file\""),
        ("spool:play?url=javascript%3Aalert(1)", "\"javascript\""),
        (
            &*format!("spool:play?url={}&player=sh", encode(&film.url())),
            "\"player\"",
        ),
    ] {
        let second = Command::new(SPOOL)
            .arg(link)
            .env("SPOOL_DATA_DIR", &data)
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .expect("second launch");
        assert!(
            second.status.success(),
            "{}",
            String::from_utf8_lossy(&second.stderr)
        );
        let (title, text) = until("the refusal", || prompt(&session)).await;
        assert_eq!(title, "A link was refused", "{link}");
        assert!(
            text.contains(reason) && text.contains("Nothing was added"),
            "{link}: {text}"
        );
        session.click("#prompt-buttons button[data-answer=cancel]").await;
        until("the dialog to close", || async {
            prompt(&session).await.is_none().then_some(())
        })
        .await;
    }
    assert_eq!(spool_ls(&data).len(), 1, "refused links add nothing");

    // A link dropped on the window (an HTML5 drop, as WebKit delivers it
    // with the window's own drag handling off) is added.
    session
        .execute(
            "const dt = new DataTransfer();
             dt.setData('text/uri-list', arguments[0]);
             dt.setData('text/plain', arguments[0]);
             const target = document.getElementById('items');
             target.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
             document.getElementById('drop-add').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
             return null;",
            &[Value::from(dropped.url())],
        )
        .await;
    until("the dropped link in spool ls", || async {
        spool_ls(&data)
            .iter()
            .any(|i| i["source_url"] == dropped.url().as_str())
            .then_some(())
    })
    .await;
    session.close().await;
}
