//! A season added from a directory listing (Python's `http.server`) shows in
//! the window as one group with its total progress, its episodes in natural
//! order, and ▶ Play all hands the player the whole season in order. Takes
//! the README's screenshot of the group.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::webdriver::Session;
use super::{spool_add, start_driver, stub_player, until, Guard, SPOOL};

const EPISODES: [&str; 4] = [
    "Show S01E01.mkv",
    "Show S01E02.mkv",
    "Show S01E03.mkv",
    "Show S01E10.mkv",
];

/// The group's heading and the names of its rows, in the window's order.
const GROUP_JS: &str = r#"
const group = document.querySelector('li[data-collection]');
if (!group) return null;
return {
  name: group.querySelector('.group-head .name').textContent,
  summary: group.querySelector('.group-head .badge').textContent,
  bytes: group.querySelector('.group-head .bytes').textContent,
  rows: [...group.querySelectorAll('.members li.item .name')].map(n => n.textContent),
  actions: [...group.querySelectorAll('.group-head .actions button')].map(b => b.dataset.action),
};
"#;

async fn group(session: &Session) -> Option<Value> {
    let value = session.execute(GROUP_JS, &[]).await;
    (!value.is_null()).then_some(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver and WebKitWebDriver: run by scripts/test"]
async fn a_season_from_a_listing_is_one_group_and_play_all_plays_it_in_order() {
    if !super::support::require(
        Command::new("python3").arg("--version").output().is_ok(),
        "python3 is not installed (the listing's server)",
    ) {
        return;
    }
    let sandbox = super::sandbox("spool-season-");
    let data = sandbox.path().join("data");
    let (stub, argv_file) = stub_player(sandbox.path());

    // The season on a folder served by `python3 -m http.server`: four
    // episodes of 24 MiB (sparse) and a subtitle.
    let root = sandbox.path().join("www");
    let season = root.join("Show").join("Season 1");
    std::fs::create_dir_all(&season).expect("season dir");
    for name in EPISODES {
        let file = std::fs::File::create(season.join(name)).expect("episode");
        file.set_len(24 << 20).expect("episode size");
    }
    std::fs::write(
        season.join("Show S01E01.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nHello\n",
    )
    .expect("subtitle");
    let port = super::free_port();
    let _server = Guard(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .arg("--directory")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );

    // Two at a time, at 1 MiB/s in all: the window shows the season part
    // way, some episodes downloading and the rest queued.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod data dir");
    }
    let settings = serde_json::json!({
        "player_command": stub.display().to_string(),
        "max_active": 2,
        "rate_limit": 1 << 20,
        "notifications": false,
    });
    std::fs::write(
        data.join("desktop-settings.json"),
        serde_json::to_vec_pretty(&settings).expect("settings JSON"),
    )
    .expect("write the settings");

    let (_driver, driver_port) = start_driver(sandbox.path(), &data, &sandbox.path().join("config"));
    let session = Session::start(driver_port, SPOOL).await;
    until("the listing's server", || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(drop)
    })
    .await;
    spool_add(&data, &format!("http://127.0.0.1:{port}/Show/Season%201/"));

    let last_seen = std::sync::Mutex::new(String::new());
    let shown = until("the season's group, its episodes in order", || async {
        let g = group(&session).await;
        // What the window shows when it changes: the reason, should this time out.
        let seen = format!("{g:?}");
        if let Ok(mut last) = last_seen.lock() {
            if *last != seen {
                eprintln!("season test: the window shows {seen}");
                *last = seen;
            }
        }
        let g = g?;
        let rows: Vec<&str> = g["rows"].as_array()?.iter().filter_map(Value::as_str).collect();
        (rows == EPISODES).then_some(g)
    })
    .await;
    assert_eq!(shown["name"], "Season 1");
    assert!(
        shown["actions"]
            .as_array()
            .is_some_and(|a| a.first() == Some(&Value::from("group-play"))),
        "{shown}"
    );
    // Part way: episodes downloading and others queued, the total shown.
    let part_way = until("the season to download part way", || async {
        let g = group(&session).await?;
        let summary = g["summary"].as_str()?;
        (summary.starts_with("4 items") && summary.contains("downloading") && summary.contains("queued"))
            .then_some(g)
    })
    .await;
    assert!(
        part_way["bytes"]
            .as_str()
            .is_some_and(|b| b.ends_with("of 96.0 MiB")),
        "{part_way}"
    );
    let png = session.screenshot().await;
    let shot = std::env::var_os("SPOOL_SEASON_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/desktop-season.png"));
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).expect("screenshot dir");
    }
    std::fs::write(&shot, png).expect("write screenshot");
    eprintln!("screenshot: {}", shot.display());

    // ▶ Play all: the player gets every episode's stream URL, in order.
    session
        .click("li[data-collection] .group-head button[data-action=group-play]")
        .await;
    let argv = until("the player to get the season", || async {
        std::fs::read_to_string(&argv_file)
            .ok()
            .filter(|s| s.lines().filter(|l| l.starts_with("http://")).count() >= EPISODES.len())
    })
    .await;
    let urls: Vec<&str> = argv.lines().filter(|l| l.starts_with("http://")).collect();
    let wanted: Vec<String> = EPISODES.iter().map(|e| e.replace(' ', "%20")).collect();
    assert_eq!(urls.len(), EPISODES.len(), "{argv}");
    for (url, episode) in urls.iter().zip(&wanted) {
        assert!(
            url.ends_with(&format!("/{episode}")),
            "{url} is not {episode}: {argv}"
        );
    }
    session.close().await;
}
