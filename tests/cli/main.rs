//! The real `spool` binary.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod util;
