//! The hidden `spool generate-docs DIR`: man pages and shell completions
//! rendered from the CLI definition itself, so they cannot drift from
//! `--help`. Packaging runs it and installs what it writes.

use std::path::Path;

use anyhow::{Context, Result};
use clap_complete::Shell;

/// Writes `DIR/man/spool.1` plus one page per subcommand (`spool-serve.1`,
/// …: the main page names them), and `DIR/completions/` for bash, zsh and fish.
pub fn generate(cmd: clap::Command, dir: &Path) -> Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("cannot write the man pages into {}", man.display()))?;
    let mut cmd = cmd;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "spool", &completions).with_context(|| {
            format!(
                "cannot write the {shell} completion into {}",
                completions.display()
            )
        })?;
    }
    Ok(())
}
