//! Shared test support: the fault-injecting origin and small helpers.
#![allow(dead_code)]

pub mod origin;

/// `len` pseudo-random bytes (xorshift64*): every offset looks different, so
/// a byte served from the wrong place, or from another seed, shows.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}
