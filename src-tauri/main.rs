//! `spool`: the desktop app and the CLI in one binary. The work happens in
//! the engine crate and the desktop library; this is flags plus glue.

mod cli;
mod gendocs;

fn main() -> std::process::ExitCode {
    cli::main()
}
