//! Which player to start for a stream URL, and with which arguments.
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

/// Placeholder in a configured command for where the URL goes.
pub const URL_PLACEHOLDER: &str = "{url}";

/// How to play one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Start `program` with `args`.
    Command { program: String, args: Vec<String> },
    /// No player found: write a playlist and open it with `xdg-open`.
    Playlist,
}

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

/// Chooses how to play `url`. `configured` is the user's player command
/// (empty: none); `exists` says whether a program name is on `PATH`.
pub fn resolve(configured: &str, url: &str, exists: impl Fn(&str) -> bool) -> Result<Launch, String> {
    let words = split_command(configured)?;
    if let Some((program, rest)) = words.split_first() {
        let mut args: Vec<String> = rest.to_vec();
        if args.iter().any(|a| a.contains(URL_PLACEHOLDER)) {
            for arg in &mut args {
                *arg = arg.replace(URL_PLACEHOLDER, url);
            }
        } else {
            if takes_double_dash(program) {
                args.push("--".to_string());
            }
            args.push(url.to_string());
        }
        return Ok(Launch::Command {
            program: program.clone(),
            args,
        });
    }
    for player in KNOWN_PLAYERS {
        if exists(player) {
            return Ok(Launch::Command {
                program: (*player).to_string(),
                args: vec!["--".to_string(), url.to_string()],
            });
        }
    }
    Ok(Launch::Playlist)
}

fn takes_double_dash(program: &str) -> bool {
    let base = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    TAKES_DOUBLE_DASH.contains(&base)
}

/// Splits a command line into words like a POSIX shell does for quoting only:
/// whitespace separates, `'…'` is literal, `"…"` allows `\"` and `\\`, and a
/// backslash outside quotes escapes the next character. No variables, globs
/// or operators: nothing is ever run through a shell.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
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
                        None => return Err("unclosed ' quote in the player command".to_string()),
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
                            None => return Err("unclosed \" quote in the player command".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unclosed \" quote in the player command".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("the player command ends with a lone \\".to_string()),
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

/// An extended M3U playlist with one entry.
pub fn m3u(name: &str, url: &str) -> String {
    let title: String = name.chars().filter(|c| !c.is_control()).collect();
    format!("#EXTM3U\n#EXTINF:-1,{title}\n{url}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:17173/m/tok/film.mkv";

    fn cmd(program: &str, args: &[&str]) -> Launch {
        Launch::Command {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_configured_player_wins_even_if_others_exist() {
        let launch = resolve("vlc --fullscreen", URL, |_| true);
        assert_eq!(launch, Ok(cmd("vlc", &["--fullscreen", "--", URL])));
    }

    #[test]
    fn an_unknown_configured_program_gets_the_url_without_double_dash() {
        let launch = resolve("/opt/stub player", URL, |_| false);
        assert_eq!(launch, Ok(cmd("/opt/stub", &["player", URL])));
    }

    #[test]
    fn a_known_player_given_by_path_gets_double_dash() {
        let launch = resolve("/usr/bin/mpv", URL, |_| false);
        assert_eq!(launch, Ok(cmd("/usr/bin/mpv", &["--", URL])));
    }

    #[test]
    fn the_url_placeholder_puts_the_url_where_the_user_wants_it() {
        let launch = resolve("celluloid --new-window {url} --mpv-options=--pause", URL, |_| {
            true
        });
        assert_eq!(
            launch,
            Ok(cmd("celluloid", &["--new-window", URL, "--mpv-options=--pause"]))
        );
    }

    #[test]
    fn without_configuration_the_first_known_player_on_path_is_used() {
        let launch = resolve("", URL, |p| p == "totem" || p == "vlc");
        assert_eq!(launch, Ok(cmd("vlc", &["--", URL])));
        let launch = resolve("   ", URL, |p| p == "mpv");
        assert_eq!(launch, Ok(cmd("mpv", &["--", URL])));
    }

    #[test]
    fn without_any_player_the_playlist_fallback_is_chosen() {
        assert_eq!(resolve("", URL, |_| false), Ok(Launch::Playlist));
    }

    #[test]
    fn a_url_that_looks_like_an_option_stays_an_argument() {
        let launch = resolve("", "--help", |p| p == "mpv");
        assert_eq!(launch, Ok(cmd("mpv", &["--", "--help"])));
    }

    #[test]
    fn shell_metacharacters_are_plain_text() {
        let launch = resolve("mpv; rm -rf ~", URL, |_| false);
        assert_eq!(launch, Ok(cmd("mpv;", &["rm", "-rf", "~", URL])));
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
        assert!(split_command("mpv 'oops").is_err());
        assert!(split_command("mpv \"oops").is_err());
        assert!(split_command("mpv \\").is_err());
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
    fn playlist_has_one_entry_and_no_control_characters_in_the_title() {
        assert_eq!(
            m3u("film\n.mkv", URL),
            format!("#EXTM3U\n#EXTINF:-1,film.mkv\n{URL}\n")
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
