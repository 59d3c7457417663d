//! What users read: `--version`, every command's `--help`, the README and
//! the contract name the same commands, and the man pages and completions
//! that packaging installs are rendered for all of them.

use std::process::Command;

use crate::util::{run, Sandbox, PATIENCE, SPOOL};

/// The commands `spool --help` lists (its "Commands:" section, less `help`).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

fn doc(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn version_and_every_commands_help_match_the_docs() {
    let sandbox = Sandbox::new();
    let out = sandbox.spool(&["--version"]);
    out.expect_ok("spool --version");
    let version = format!("spool {}", env!("CARGO_PKG_VERSION"));
    assert!(out.stdout.starts_with(&version), "{out:?}");

    let help = sandbox.spool(&["--help"]);
    help.expect_ok("spool --help");
    let commands = listed_commands(&help.stdout);
    let want = [
        "serve", "add", "relink", "ls", "rm", "pin", "unpin", "pause", "resume",
    ];
    for c in want {
        assert!(
            commands.iter().any(|l| l == c),
            "spool --help lacks {c}: {commands:?}"
        );
    }
    assert!(
        !help.stdout.contains("generate-docs"),
        "the packaging command stays hidden"
    );
    let (readme, contract) = (doc("README.md"), doc("docs/CONTRACT.md"));
    for c in &commands {
        let named = format!("`spool {c}");
        let grouped = format!("|{c}");
        assert!(
            readme.contains(&named) || readme.contains(&grouped),
            "README.md does not name `spool {c}`"
        );
        assert!(
            contract.contains(&named),
            "docs/CONTRACT.md does not name `spool {c}`"
        );

        let out = sandbox.spool(&[c, "--help"]);
        out.expect_ok(&format!("spool {c} --help"));
        assert!(out.stdout.contains(&format!("Usage: spool {c}")), "{out:?}");
        // Every argument and option is described (no bare names).
        for line in out.stdout.lines().filter(|l| l.starts_with("  ")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let described = words
                .iter()
                .skip(1)
                .any(|w| w.chars().any(char::is_lowercase) && !w.starts_with('<') && !w.starts_with('-'));
            assert!(described, "spool {c} --help: {line:?} has no description");
        }
        let out = sandbox.spool(&[c, "--version"]);
        assert!(
            out.stdout.contains(env!("CARGO_PKG_VERSION")),
            "spool {c} --version: {out:?}"
        );
    }
}

#[test]
fn generated_docs_cover_every_command() {
    let sandbox = Sandbox::new();
    let commands = listed_commands(&sandbox.spool(&["--help"]).stdout);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(SPOOL);
    cmd.arg("generate-docs").arg(out_dir.path());
    run(cmd, PATIENCE).expect_ok("spool generate-docs");

    let man = out_dir.path().join("man");
    let main_page = std::fs::read_to_string(man.join("spool.1")).expect("spool.1");
    assert!(main_page.contains(".TH spool 1"), "a man page: {main_page}");
    for c in &commands {
        let page = man.join(format!("spool-{c}.1"));
        assert!(page.is_file(), "no {}", page.display());
        assert!(
            main_page.contains(&format!("spool\\-{c}(1)")),
            "spool.1 names spool-{c}(1)"
        );
    }
    let pages = std::fs::read_dir(&man).expect("man dir").count();
    assert_eq!(pages, commands.len() + 1, "one page per command, and no other");

    let completions = out_dir.path().join("completions");
    for (file, marker) in [
        ("spool.bash", "complete -F"),
        ("_spool", "#compdef spool"),
        ("spool.fish", "complete -c spool"),
    ] {
        let text = std::fs::read_to_string(completions.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(marker), "{file} lacks {marker:?}");
        assert!(text.contains("relink"), "{file} completes the commands");
        assert!(
            !text.contains("generate-docs"),
            "{file} offers the hidden command"
        );
    }
}
