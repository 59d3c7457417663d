//! Natural order of names, as people sort episodes: `E2` before `E10`,
//! letters without regard to case.

use std::cmp::Ordering;

/// Compares two names in natural order: runs of digits by their value
/// (leading zeros break ties), everything else case-insensitively.
pub fn compare(a: &str, b: &str) -> Ordering {
    // Case decides only between names otherwise equal.
    folded(a, b).then_with(|| a.cmp(b))
}

fn folded(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| da.len().cmp(&db.len()));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                let order = x.to_lowercase().cmp(y.to_lowercase());
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_and_letters_ignore_case() {
        let cases = [
            ("E2.mkv", "E10.mkv", Ordering::Less),
            ("E10.mkv", "E9.mkv", Ordering::Greater),
            ("s01e02", "S01E10", Ordering::Less),
            ("a", "B", Ordering::Less),
            ("Show 1", "Show 1 extra", Ordering::Less),
            ("007", "7", Ordering::Greater),
            (
                "x99999999999999999999999",
                "x100000000000000000000000",
                Ordering::Less,
            ),
            ("Épisode 2", "Épisode 11", Ordering::Less),
            ("same", "same", Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn sorting_a_season() {
        let mut names = vec!["E10.mkv", "e1.mkv", "E2.mkv", "E11.mkv", "E3.mkv"];
        names.sort_by(|a, b| compare(a, b));
        assert_eq!(names, ["e1.mkv", "E2.mkv", "E3.mkv", "E10.mkv", "E11.mkv"]);
    }
}
