//! Byte sizes as people write them: `104857600`, `10GiB`, `1.5 GB`, `500M`.

/// Parses a plain byte count or a number with a unit: `KiB MiB GiB TiB`
/// (1024-based), `KB MB GB TB` (1000-based), `K M G T` (1024-based, as in
/// `du -h`). Units are case-insensitive; a `B` alone means bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use e.g. 500MiB, 10GiB, 2GB)"
            ))
        }
    };
    if number.is_empty() {
        return Err(format!("invalid size {text:?}: no number"));
    }
    let bytes = if let Ok(whole) = number.parse::<u64>() {
        whole.checked_mul(multiplier)
    } else {
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid size {text:?}: {number:?} is not a number"))?;
        let bytes = value * multiplier as f64;
        (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes.round() as u64)
    };
    bytes.ok_or_else(|| format!("invalid size {text:?}: too large"))
}

/// A size for people: `512 B`, `1.5 KiB`, `10.0 GiB`. Whole bytes below
/// 1 KiB; else one decimal, rounded half up, in the largest unit that keeps
/// the rounded number below 1024 (1023.96 KiB is `1.0 MiB`, not `1024.0 KiB`).
/// Integer arithmetic, so the window's copy of this rule (`ui/format.ts`)
/// gives the same text; both are checked against `testdata/format_size.json`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    loop {
        let divisor = 1u128 << (10 * (unit + 1));
        let tenths = (u128::from(bytes) * 10 + divisor / 2) / divisor;
        if tenths < 10_240 || unit + 1 == UNITS.len() {
            return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit]);
        }
        unit += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_units() {
        let table = [
            ("104857600", 104_857_600),
            ("0", 0),
            ("1KiB", 1024),
            ("1 KiB", 1024),
            ("10GiB", 10 << 30),
            ("10gib", 10 << 30),
            ("2GB", 2_000_000_000),
            ("500M", 500 << 20),
            ("1.5G", 3 << 29),
            ("3T", 3 << 40),
            ("7B", 7),
            (" 64 MB ", 64_000_000),
        ];
        for (text, want) in table {
            assert_eq!(parse_size(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "GiB",
            "ten",
            "10XB",
            "-5",
            "1.2.3G",
            "99999999999999999999T",
            "1e3",
        ] {
            assert!(parse_size(text).is_err(), "{text:?} should be rejected");
        }
    }

    /// The table the window's formatting is tested against too.
    const CASES: &str = include_str!("../testdata/format_size.json");

    #[test]
    fn formats_for_people_as_the_window_does() {
        let cases: Vec<(u64, String)> = serde_json::from_str(CASES).unwrap();
        assert!(cases.len() >= 10);
        for (bytes, want) in cases {
            assert_eq!(format_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn formats_beyond_what_json_numbers_hold() {
        assert_eq!(format_size(u64::MAX), "16384.0 PiB");
        assert_eq!(format_size(1 << 60), "1024.0 PiB");
    }
}
