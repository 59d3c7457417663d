//! Engine over real loopback HTTP.

#[path = "../support/mod.rs"]
mod support;
