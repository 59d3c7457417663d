//! Which player to start for a playlist of stream URLs, and with which
//! arguments.
//!
//! [`resolve`] is pure: the caller says which programs exist. The result is
//! always a program plus an argument list (never a shell string), or the
//! fallback of opening a generated `.m3u` playlist with the system's default
//! handler.

use std::path::{Path, PathBuf};

/// Players tried in order when none is configured.
pub const KNOWN_PLAYERS: &[&str] = &["mpv", "vlc", "celluloid", "totem"];

/// Players whose option parser takes `--` as "no options after this", so a
/// URL can never be read as an option.
const TAKES_DOUBLE_DASH: &[&str] = &["mpv", "vlc", "cvlc", "celluloid", "totem"];

/// Placeholder in a configured command for where the URL goes. A word that
/// is exactly the placeholder becomes every URL of the playlist; a word
/// that contains it among other text gets the first URL.
pub const URL_PLACEHOLDER: &str = "{url}";

/// One thing to play.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub stream_url: String,
    /// What the player shows as the title (the item's name).
    pub title: String,
    /// Subtitles that belong to this entry.
    #[serde(default)]
    pub subtitle_urls: Vec<String>,
}

/// What to play: entries in order, the first from `start` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub entries: &'a [Entry],
    /// Where the first entry starts, in seconds; `None`: at its beginning.
    pub start: Option<f64>,
    /// For mpv: the JSON IPC socket Spool follows the position on.
    pub ipc_socket: Option<&'a Path>,
}

/// The players Spool knows how to pass a start position and subtitles to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mpv,
    Vlc,
    Other,
}

impl Kind {
    pub fn of(program: &str) -> Kind {
        match base_name(program) {
            "mpv" => Kind::Mpv,
            "vlc" | "cvlc" => Kind::Vlc,
            _ => Kind::Other,
        }
    }
}

/// How to play a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Start `program` with `args`.
    Command {
        program: String,
        args: Vec<String>,
        kind: Kind,
    },
    /// No player found: write a playlist ([`m3u`]) and open it with the
    /// desktop's default handler.
    Playlist,
}

pub use crate::error::CommandError;

/// A command as people read it, for messages (`mpv -- http://…`).
pub fn describe(program: &str, args: &[String]) -> String {
    let mut words = vec![quote_for_display(program)];
    words.extend(args.iter().map(|a| quote_for_display(a)));
    words.join(" ")
}

fn quote_for_display(word: &str) -> String {
    if !word.is_empty() && !word.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Chooses how to play `request`. `configured` is the player command
/// (empty: none); `exists` says whether a program name is on `PATH`.
pub fn resolve(
    configured: &str,
    request: &Request<'_>,
    exists: impl Fn(&str) -> bool,
) -> Result<Launch, CommandError> {
    if request.entries.is_empty() {
        return Err(CommandError::NothingToPlay);
    }
    for url in request
        .entries
        .iter()
        .flat_map(|e| std::iter::once(&e.stream_url).chain(&e.subtitle_urls))
    {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CommandError::NotAUrl(url.clone()));
        }
    }
    let words = split_command(configured)?;
    if let Some((program, rest)) = words.split_first() {
        let kind = Kind::of(program);
        let mut args = leading_options(kind, request);
        if rest.iter().any(|a| a.contains(URL_PLACEHOLDER)) {
            let first = &request.entries[0].stream_url;
            for arg in rest {
                if arg == URL_PLACEHOLDER {
                    args.extend(request.entries.iter().map(|e| e.stream_url.clone()));
                } else {
                    args.push(arg.replace(URL_PLACEHOLDER, first));
                }
            }
        } else {
            args.extend(rest.iter().cloned());
            args.extend(targets(kind, takes_double_dash(program), request));
        }
        return Ok(Launch::Command {
            program: program.clone(),
            args,
            kind,
        });
    }
    for player in KNOWN_PLAYERS {
        if exists(player) {
            let kind = Kind::of(player);
            let mut args = leading_options(kind, request);
            args.extend(targets(kind, true, request));
            return Ok(Launch::Command {
                program: (*player).to_string(),
                args,
                kind,
            });
        }
    }
    Ok(Launch::Playlist)
}

/// Options that go before everything else: the IPC socket, and for one
/// entry its start, subtitles and title.
fn leading_options(kind: Kind, request: &Request<'_>) -> Vec<String> {
    let mut args = Vec::new();
    if kind != Kind::Mpv {
        return args;
    }
    if let Some(socket) = request.ipc_socket {
        args.push(format!("--input-ipc-server={}", socket.display()));
    }
    if let [only] = request.entries {
        args.extend(mpv_entry_options(only, request.start));
    }
    args
}

fn mpv_entry_options(entry: &Entry, start: Option<f64>) -> Vec<String> {
    let mut options = Vec::new();
    if let Some(start) = start {
        options.push(format!("--start={}", seconds(start)));
    }
    options.extend(entry.subtitle_urls.iter().map(|s| format!("--sub-file={s}")));
    let title: String = entry.title.chars().filter(|c| !c.is_control()).collect();
    if !title.is_empty() {
        options.push(format!("--force-media-title={title}"));
    }
    options
}

/// The URLs (and per-entry options) after the player's own options.
fn targets(kind: Kind, double_dash: bool, request: &Request<'_>) -> Vec<String> {
    let mut args = Vec::new();
    match (kind, request.entries) {
        // One entry: its options were given up front.
        (Kind::Mpv, [only]) => {
            args.push("--".to_string());
            args.push(only.stream_url.clone());
        }
        // Several: each entry's options in a per-file group (`--{ … --}`).
        // Every URL was checked to start with http, so none reads as an option.
        (Kind::Mpv, entries) => {
            for (n, entry) in entries.iter().enumerate() {
                let options = mpv_entry_options(entry, if n == 0 { request.start } else { None });
                if options.is_empty() {
                    args.push(entry.stream_url.clone());
                } else {
                    args.push("--{".to_string());
                    args.extend(options);
                    args.push(entry.stream_url.clone());
                    args.push("--}".to_string());
                }
            }
        }
        // VLC reads `:option` words after an MRL as that item's options.
        (Kind::Vlc, entries) => {
            args.push("--".to_string());
            for (n, entry) in entries.iter().enumerate() {
                args.push(entry.stream_url.clone());
                if n == 0 {
                    if let Some(start) = request.start {
                        args.push(format!(":start-time={}", seconds(start)));
                    }
                }
                if !entry.subtitle_urls.is_empty() {
                    args.push(format!(":input-slave={}", entry.subtitle_urls.join("#")));
                }
                let title: String = entry.title.chars().filter(|c| !c.is_control()).collect();
                if !title.is_empty() {
                    args.push(format!(":meta-title={title}"));
                }
            }
        }
        (Kind::Other, entries) => {
            if double_dash {
                args.push("--".to_string());
            }
            args.extend(entries.iter().map(|e| e.stream_url.clone()));
        }
    }
    args
}

/// Seconds as a player option: milliseconds at most, no exponent.
fn seconds(value: f64) -> String {
    let value = if value.is_finite() { value.max(0.0) } else { 0.0 };
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn base_name(program: &str) -> &str {
    Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program)
}

fn takes_double_dash(program: &str) -> bool {
    TAKES_DOUBLE_DASH.contains(&base_name(program))
}

/// Splits a command line into words like a POSIX shell does for quoting only:
/// whitespace separates, `'…'` is literal, `"…"` allows `\"` and `\\`, and a
/// backslash outside quotes escapes the next character. No variables, globs
/// or operators: nothing is ever run through a shell.
pub fn split_command(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(CommandError::UnclosedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(CommandError::UnclosedQuote('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(CommandError::UnclosedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(CommandError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Whether `program` can be started: a path that exists, or a name found in
/// one of `path_var`'s directories.
pub fn on_path(program: &str, path_var: Option<&std::ffi::OsStr>) -> bool {
    find_program(program, path_var).is_some()
}

fn find_program(program: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    let path_var = path_var?;
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// An extended M3U playlist of the entries, in order.
pub fn m3u(entries: &[Entry]) -> String {
    let mut text = String::from("#EXTM3U\n");
    for entry in entries {
        let title: String = entry.title.chars().filter(|c| !c.is_control()).collect();
        let url: String = entry.stream_url.chars().filter(|c| !c.is_control()).collect();
        text.push_str(&format!("#EXTINF:-1,{title}\n{url}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:17173/m/tok/film.mkv";
    const URL2: &str = "http://127.0.0.1:17173/m/tok2/next.mkv";
    const SUB: &str = "http://127.0.0.1:17173/m/tok3/film.srt";

    fn entry(url: &str, title: &str, subs: &[&str]) -> Entry {
        Entry {
            stream_url: url.to_string(),
            title: title.to_string(),
            subtitle_urls: subs.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// One untitled entry from its beginning, no socket.
    fn one(url: &str) -> Vec<Entry> {
        vec![entry(url, "", &[])]
    }

    fn plain(entries: &[Entry]) -> Request<'_> {
        Request {
            entries,
            start: None,
            ipc_socket: None,
        }
    }

    fn cmd(program: &str, args: &[&str]) -> Launch {
        Launch::Command {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            kind: Kind::of(program),
        }
    }

    #[test]
    fn the_configured_player_wins_even_if_others_exist() {
        let launch = resolve("vlc --fullscreen", &plain(&one(URL)), |_| true);
        assert_eq!(launch, Ok(cmd("vlc", &["--fullscreen", "--", URL])));
    }

    #[test]
    fn an_unknown_configured_program_gets_the_url_without_double_dash() {
        let launch = resolve("/opt/stub player", &plain(&one(URL)), |_| false);
        assert_eq!(launch, Ok(cmd("/opt/stub", &["player", URL])));
    }

    #[test]
    fn a_known_player_given_by_path_gets_double_dash() {
        let launch = resolve("/usr/bin/mpv", &plain(&one(URL)), |_| false);
        assert_eq!(launch, Ok(cmd("/usr/bin/mpv", &["--", URL])));
    }

    #[test]
    fn the_url_placeholder_puts_the_url_where_the_user_wants_it() {
        let entries = one(URL);
        let launch = resolve(
            "celluloid --new-window {url} --mpv-options=--pause",
            &plain(&entries),
            |_| true,
        );
        assert_eq!(
            launch,
            Ok(cmd("celluloid", &["--new-window", URL, "--mpv-options=--pause"]))
        );
    }

    #[test]
    fn the_placeholder_alone_is_every_url_and_inside_a_word_the_first() {
        let entries = [entry(URL, "", &[]), entry(URL2, "", &[])];
        let launch = resolve("play --first={url} {url}", &plain(&entries), |_| true);
        assert_eq!(launch, Ok(cmd("play", &[&format!("--first={URL}"), URL, URL2])));
    }

    #[test]
    fn without_configuration_the_first_known_player_on_path_is_used() {
        let entries = one(URL);
        let launch = resolve("", &plain(&entries), |p| p == "totem" || p == "vlc");
        assert_eq!(launch, Ok(cmd("vlc", &["--", URL])));
        let launch = resolve("   ", &plain(&entries), |p| p == "mpv");
        assert_eq!(launch, Ok(cmd("mpv", &["--", URL])));
    }

    #[test]
    fn without_any_player_the_playlist_fallback_is_chosen() {
        assert_eq!(resolve("", &plain(&one(URL)), |_| false), Ok(Launch::Playlist));
    }

    #[test]
    fn nothing_to_play_and_non_urls_are_refused() {
        assert_eq!(
            resolve("mpv", &plain(&[]), |_| true),
            Err(CommandError::NothingToPlay)
        );
        assert_eq!(
            resolve("", &plain(&one("--help")), |p| p == "mpv"),
            Err(CommandError::NotAUrl("--help".to_string()))
        );
        let sneaky = [entry(URL, "", &["--script=/tmp/x.lua"])];
        assert!(matches!(
            resolve("", &plain(&sneaky), |p| p == "mpv"),
            Err(CommandError::NotAUrl(_))
        ));
    }

    #[test]
    fn shell_metacharacters_are_plain_text() {
        let launch = resolve("mpv; rm -rf ~", &plain(&one(URL)), |_| false);
        assert_eq!(launch, Ok(cmd("mpv;", &["rm", "-rf", "~", URL])));
    }

    /// Start, subtitles, title and IPC socket for each kind of player.
    #[test]
    fn start_subtitles_and_title_per_player() {
        let socket = Path::new("/run/user/1000/spool/mpv-1.sock");
        let film = [entry(URL, "Film", &[SUB])];
        let request = Request {
            entries: &film,
            start: Some(754.25),
            ipc_socket: Some(socket),
        };
        let table: &[(&str, Launch)] = &[
            (
                "mpv",
                cmd(
                    "mpv",
                    &[
                        "--input-ipc-server=/run/user/1000/spool/mpv-1.sock",
                        "--start=754.25",
                        &format!("--sub-file={SUB}"),
                        "--force-media-title=Film",
                        "--",
                        URL,
                    ],
                ),
            ),
            (
                "vlc",
                cmd(
                    "vlc",
                    &[
                        "--",
                        URL,
                        ":start-time=754.25",
                        &format!(":input-slave={SUB}"),
                        ":meta-title=Film",
                    ],
                ),
            ),
            ("totem", cmd("totem", &["--", URL])),
        ];
        for (player, expected) in table {
            let launch = resolve("", &request, |p| p == *player);
            assert_eq!(&launch.unwrap(), expected, "{player}");
        }
    }

    #[test]
    fn a_playlist_for_mpv_groups_each_entrys_options() {
        let entries = [entry(URL, "One", &[SUB]), entry(URL2, "", &[])];
        let request = Request {
            entries: &entries,
            start: Some(12.0),
            ipc_socket: None,
        };
        let launch = resolve("mpv --fs", &request, |_| true);
        assert_eq!(
            launch,
            Ok(cmd(
                "mpv",
                &[
                    "--fs",
                    "--{",
                    "--start=12",
                    &format!("--sub-file={SUB}"),
                    "--force-media-title=One",
                    URL,
                    "--}",
                    URL2,
                ]
            ))
        );
    }

    #[test]
    fn a_playlist_for_vlc_starts_only_the_first_entry_late() {
        let entries = [entry(URL, "", &[]), entry(URL2, "", &[])];
        let request = Request {
            entries: &entries,
            start: Some(3.5),
            ipc_socket: None,
        };
        let launch = resolve("", &request, |p| p == "vlc");
        assert_eq!(launch, Ok(cmd("vlc", &["--", URL, ":start-time=3.5", URL2])));
    }

    #[test]
    fn seconds_are_plain_decimals() {
        assert_eq!(seconds(12.011), "12.011");
        assert_eq!(seconds(12.0), "12");
        assert_eq!(seconds(0.0004), "0");
        assert_eq!(seconds(-3.0), "0");
        assert_eq!(seconds(f64::NAN), "0");
        assert_eq!(seconds(1e9), "1000000000");
    }

    #[test]
    fn quoting_splits_like_a_shell() {
        assert_eq!(
            split_command(r#"'/opt/My Player/play' --title "a \"b\" c" x\ y"#),
            Ok(vec![
                "/opt/My Player/play".to_string(),
                "--title".to_string(),
                r#"a "b" c"#.to_string(),
                "x y".to_string()
            ])
        );
        assert_eq!(split_command("''"), Ok(vec![String::new()]));
        assert_eq!(split_command(""), Ok(vec![]));
        assert_eq!(split_command("mpv 'oops"), Err(CommandError::UnclosedQuote('\'')));
        assert_eq!(split_command("mpv \"oops"), Err(CommandError::UnclosedQuote('"')));
        assert_eq!(split_command("mpv \\"), Err(CommandError::TrailingBackslash));
    }

    #[test]
    fn describe_quotes_words_with_spaces() {
        let args = ["--".to_string(), URL.to_string()];
        assert_eq!(
            describe("/opt/My Player", &args),
            format!("'/opt/My Player' -- {URL}")
        );
    }

    #[test]
    fn playlist_lists_every_entry_without_control_characters() {
        let entries = [entry(URL, "film\n.mkv", &[]), entry(URL2, "next", &[])];
        assert_eq!(
            m3u(&entries),
            format!("#EXTM3U\n#EXTINF:-1,film.mkv\n{URL}\n#EXTINF:-1,next\n{URL2}\n")
        );
    }

    #[test]
    fn on_path_finds_executables_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("player");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert!(on_path("player", Some(&path)));
        assert!(!on_path("plain", Some(&path)));
        assert!(!on_path("missing", Some(&path)));
        assert!(on_path(exe.to_str().unwrap(), None));
        assert!(!on_path("player", None));
    }
}
