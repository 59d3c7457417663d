//! Shared test support: the fault-injecting origin and small helpers.
#![allow(dead_code)]

pub mod origin;
