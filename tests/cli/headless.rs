//! The two builds of the one `spool` binary: the desktop build (default
//! features) links the GUI libraries; the headless build
//! (`--no-default-features`) links none and says so when asked for the app.

use std::process::Command;

use crate::util::{run, PATIENCE, SPOOL};

/// Parts of the file names of the GUI libraries the desktop app links
/// (GTK, GDK, WebKitGTK with its JavaScript engine, libsoup, the tray's
/// app-indicator).
const GUI_LIBRARIES: [&str; 6] = ["gtk", "gdk", "webkit", "javascriptcore", "soup", "appindicator"];

/// The libraries `ldd` lists for the binary under test that are GUI ones.
fn gui_libraries() -> Vec<String> {
    // ldd comes with libc (libc-bin): it is there wherever the binary runs.
    let mut ldd = Command::new("ldd");
    ldd.arg(SPOOL);
    let out = run(ldd, PATIENCE);
    out.expect_ok("ldd (libc-bin) on the spool binary");
    out.stdout
        .lines()
        .map(str::trim)
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("").to_lowercase();
            GUI_LIBRARIES.iter().any(|gui| name.contains(gui))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(not(feature = "desktop"))]
#[test]
fn headless_build_links_no_gui_library() {
    let gui = gui_libraries();
    assert!(gui.is_empty(), "the headless {SPOOL} links {gui:#?}");
}

/// The counterpart: the check above recognises the libraries it rules out.
#[cfg(feature = "desktop")]
#[test]
fn desktop_build_links_the_gui_libraries() {
    let gui = gui_libraries();
    for wanted in ["gtk", "webkit"] {
        assert!(
            gui.iter().any(|lib| lib.contains(wanted)),
            "no {wanted} library among {gui:#?} ({SPOOL})"
        );
    }
}

/// `spool` and `spool URL` ask for the desktop app: the headless build
/// names itself, points at what works instead, exits 2 and starts nothing.
#[cfg(not(feature = "desktop"))]
#[test]
fn headless_build_refuses_the_desktop_app_and_says_what_works() {
    let sandbox = crate::util::Sandbox::new();

    let out = sandbox.spool(&[]);
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("headless build"), "{out:?}");
    assert!(out.stderr.contains("`spool serve`"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");

    let url = "http://127.0.0.1:9/film.mkv";
    let out = sandbox.spool(&[url]);
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("headless build"), "{out:?}");
    assert!(out.stderr.contains(&format!("`spool add {url}`")), "{out:?}");

    assert!(!sandbox.data().exists(), "the data directory was created");

    let out = sandbox.spool(&["--version"]);
    out.expect_ok("spool --version");
    assert!(out.stdout.contains("(headless)"), "{out:?}");
}
