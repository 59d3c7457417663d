//! Random identifiers from the OS CSPRNG.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// 128 random bits as URL-safe base64 without padding (22 characters):
/// item stream tokens and the control token.
pub fn secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// A short item id for people to type (`spool rm 3fa9c2d1`): 32 random bits
/// as 8 hex digits. It is not a secret; the stream token is.
pub fn item_id() -> String {
    random_bytes::<4>().iter().map(|b| format!("{b:02x}")).collect()
}

/// Six decimal digits for people to compare (a pairing request's code).
pub fn short_code() -> String {
    format!("{:06}", u32::from_le_bytes(random_bytes::<4>()) % 1_000_000)
}

/// A value in `[0, 1)` for retry jitter.
pub fn unit_random() -> f64 {
    let bytes = random_bytes::<8>();
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is not something a process can recover from, and
    // a predictable token would be a security hole: stop rather than go on.
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_22_url_safe_characters_and_differ() {
        let a = secret();
        let b = secret();
        assert_eq!(a.len(), 22);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    #[test]
    fn item_ids_are_8_hex_digits() {
        let id = item_id();
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn short_codes_are_6_digits() {
        let code = short_code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn unit_random_is_in_range() {
        for _ in 0..100 {
            let x = unit_random();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
