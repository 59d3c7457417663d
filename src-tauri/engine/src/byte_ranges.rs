//! Which bytes of an item are present: a sorted, coalesced set of half-open
//! byte ranges. Pure; changed only through [`RangeSet::insert`].

use serde::{Deserialize, Serialize};

/// A half-open byte span `[start, end)` of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn new(start: u64, end: u64) -> Self {
        debug_assert!(start <= end, "ByteRange {start}..{end}");
        Self { start, end }
    }

    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn contains(&self, offset: u64) -> bool {
        self.start <= offset && offset < self.end
    }
}

/// Present byte ranges, kept sorted, non-overlapping and coalesced (no two
/// ranges touch), so equal sets have equal representations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<ByteRange>", into = "Vec<ByteRange>")]
pub struct RangeSet {
    spans: Vec<ByteRange>,
}

impl RangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `[start, end)`, merging with every range it overlaps or touches.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // First span that ends at or after `start` (it may touch or overlap).
        let first = self.spans.partition_point(|s| s.end < start);
        // First span that starts after `end` (it neither touches nor overlaps).
        let last = self.spans.partition_point(|s| s.start <= end);
        let mut merged = ByteRange::new(start, end);
        if first < last {
            merged.start = merged.start.min(self.spans[first].start);
            merged.end = merged.end.max(self.spans[last - 1].end);
        }
        self.spans.splice(first..last, [merged]);
    }

    /// True when every byte of `[start, end)` is present (an empty span is).
    pub fn covers(&self, start: u64, end: u64) -> bool {
        start >= end || self.run_from(start) >= end - start
    }

    /// Length of the contiguous present run that begins at `offset`
    /// (0 when the byte at `offset` is missing).
    pub fn run_from(&self, offset: u64) -> u64 {
        match self.span_at(offset) {
            Some(s) => s.end - offset,
            None => 0,
        }
    }

    /// The first missing span at or after `offset`, ending at the next present
    /// byte or at `limit` (the item's length, or `u64::MAX` when unknown).
    pub fn first_gap_from(&self, offset: u64, limit: u64) -> Option<ByteRange> {
        let mut start = offset;
        if let Some(s) = self.span_at(offset) {
            start = s.end;
        }
        if start >= limit {
            return None;
        }
        let next = self.spans.partition_point(|s| s.start <= start);
        let end = self.spans.get(next).map_or(limit, |s| s.start.min(limit));
        Some(ByteRange::new(start, end))
    }

    /// The missing parts of `[start, end)`, in order.
    pub fn missing(&self, start: u64, end: u64) -> Vec<ByteRange> {
        let mut out = Vec::new();
        let mut pos = start;
        while let Some(gap) = self.first_gap_from(pos, end) {
            out.push(gap);
            pos = gap.end;
        }
        out
    }

    /// Number of present bytes.
    pub fn total(&self) -> u64 {
        self.spans.iter().map(ByteRange::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn clear(&mut self) {
        self.spans.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = ByteRange> + '_ {
        self.spans.iter().copied()
    }

    /// The span that holds the byte at `offset`, if present.
    fn span_at(&self, offset: u64) -> Option<ByteRange> {
        let i = self.spans.partition_point(|s| s.end <= offset);
        self.spans.get(i).copied().filter(|s| s.start <= offset)
    }
}

impl From<RangeSet> for Vec<ByteRange> {
    fn from(set: RangeSet) -> Self {
        set.spans
    }
}

impl TryFrom<Vec<ByteRange>> for RangeSet {
    type Error = String;

    /// Accepts any list of well-formed ranges (a hand-edited or older file
    /// may not be coalesced); rejects a range whose end precedes its start.
    fn try_from(list: Vec<ByteRange>) -> Result<Self, Self::Error> {
        let mut set = RangeSet::new();
        for r in list {
            if r.end < r.start {
                return Err(format!("range {}..{} ends before it starts", r.start, r.end));
            }
            set.insert(r.start, r.end);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a set from a picture: `X` is a present byte, `.` a missing one.
    fn drawn(picture: &str) -> RangeSet {
        let mut set = RangeSet::new();
        for (i, c) in picture.chars().enumerate() {
            if c == 'X' {
                set.insert(i as u64, i as u64 + 1);
            }
        }
        set
    }

    fn picture(set: &RangeSet, len: usize) -> String {
        (0..len as u64)
            .map(|i| if set.covers(i, i + 1) { 'X' } else { '.' })
            .collect()
    }

    #[test]
    fn insert_merges_overlapping_and_touching_spans() {
        // (before, insert start..end, after)
        let table = [
            ("..........", (2, 5), "..XXX....."),
            ("..XXX.....", (5, 7), "..XXXXX..."),
            ("..XXX.....", (0, 2), "XXXXX....."),
            ("XX..XX..XX", (1, 9), "XXXXXXXXXX"),
            ("XX..XX..XX", (3, 4), "XX.XXX..XX"),
            ("XX......XX", (4, 5), "XX..X...XX"),
            ("..XXXXX...", (3, 4), "..XXXXX..."),
            ("..........", (3, 3), ".........."),
        ];
        for (before, (s, e), after) in table {
            let mut set = drawn(before);
            set.insert(s, e);
            assert_eq!(picture(&set, 10), after, "{before} + {s}..{e}");
            assert_eq!(set, drawn(after), "representation is canonical");
        }
    }

    #[test]
    fn covers_and_run_from() {
        let set = drawn("..XXX..XX.");
        assert!(set.covers(2, 5));
        assert!(!set.covers(2, 6));
        assert!(set.covers(9, 9), "an empty span is covered");
        assert_eq!(set.run_from(3), 2);
        assert_eq!(set.run_from(5), 0);
        assert_eq!(set.run_from(7), 2);
    }

    #[test]
    fn first_gap_from_finds_the_next_missing_span() {
        let set = drawn("..XXX..XX.");
        let gap = |o, l| set.first_gap_from(o, l).map(|g| (g.start, g.end));
        assert_eq!(gap(0, 10), Some((0, 2)));
        assert_eq!(gap(2, 10), Some((5, 7)));
        assert_eq!(gap(6, 10), Some((6, 7)));
        assert_eq!(gap(7, 10), Some((9, 10)));
        assert_eq!(gap(7, 9), None, "the limit ends the search");
        assert_eq!(gap(10, 10), None);
        assert_eq!(gap(9, u64::MAX), Some((9, u64::MAX)), "unknown length");
    }

    #[test]
    fn missing_lists_the_gaps_of_a_span() {
        let set = drawn("..XXX..XX.");
        let gaps: Vec<_> = set.missing(1, 10).iter().map(|g| (g.start, g.end)).collect();
        assert_eq!(gaps, vec![(1, 2), (5, 7), (9, 10)]);
        assert!(set.missing(2, 5).is_empty());
    }

    #[test]
    fn total_counts_present_bytes() {
        assert_eq!(drawn("..XXX..XX.").total(), 5);
        assert_eq!(RangeSet::new().total(), 0);
    }

    #[test]
    fn deserializing_coalesces_and_rejects_reversed_ranges() {
        let set: RangeSet =
            serde_json::from_str(r#"[{"start":5,"end":7},{"start":0,"end":5}]"#).expect("valid list");
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![ByteRange::new(0, 7)]);
        assert!(serde_json::from_str::<RangeSet>(r#"[{"start":7,"end":5}]"#).is_err());
    }

    proptest! {
        /// After any sequence of inserts the set is sorted, non-overlapping,
        /// coalesced, and holds exactly the union of what was inserted.
        #[test]
        fn inserts_keep_the_invariant(ops in proptest::collection::vec((0u64..200, 0u64..40), 0..60)) {
            let mut set = RangeSet::new();
            let mut model = [false; 240];
            for (start, len) in ops {
                set.insert(start, start + len);
                for b in &mut model[start as usize..(start + len) as usize] {
                    *b = true;
                }
                let spans: Vec<_> = set.iter().collect();
                for w in spans.windows(2) {
                    prop_assert!(w[0].end < w[1].start, "coalesced and sorted: {:?}", spans);
                }
                prop_assert!(spans.iter().all(|s| !s.is_empty()));
            }
            for (i, &present) in model.iter().enumerate() {
                prop_assert_eq!(set.covers(i as u64, i as u64 + 1), present);
            }
            prop_assert_eq!(set.total(), model.iter().filter(|b| **b).count() as u64);
        }
    }
}
