//! Engine over real loopback HTTP: a fault-injecting origin on one side,
//! raw sockets and reqwest as players on the other.

#[path = "../support/mod.rs"]
mod support;

mod cache;
mod conditional;
mod damaged;
mod disk;
mod faults;
mod framing;
mod hostile;
mod items;
mod limits;
mod load;
mod player;
mod ranges;
mod relink;
mod security;
mod series;
mod streaming;
mod util;
