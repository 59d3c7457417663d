//! Following a listing's sub-folders one level down, when asked (`spool add
//! --recursive`): each sub-folder is read as a listing of its own and its
//! media entries (with their subtitles) join the parent's, after the
//! parent's own files, folder by folder in natural order. Bounded: at most
//! [`MAX_FOLLOWED`] sub-folders are read; theirs are counted, never
//! followed; the entries stay within the one listing's bound.
//!
//! [`merge`] is the pure part; the engine reads the folders.

use super::{Listing, ListingError, MAX_MEDIA};
use crate::error::Error;

/// Sub-folders read for one add, at most.
pub const MAX_FOLLOWED: usize = 100;

/// The sub-folders of `listing` to read: the first [`MAX_FOLLOWED`], in
/// natural order.
pub fn to_follow(listing: &Listing) -> Vec<String> {
    listing.subfolders.iter().take(MAX_FOLLOWED).cloned().collect()
}

/// `parent` with the entries of the sub-folders read (`(url, what reading
/// it gave)`, in the order of [`to_follow`]) after its own; a sub-folder
/// that could not be read is returned with the reason. One without media
/// files (covers, extras) adds nothing and is no failure.
pub fn merge(
    mut parent: Listing,
    read: Vec<(String, Result<Listing, Error>)>,
) -> (Listing, Vec<(String, String)>) {
    let mut failed = Vec::new();
    parent.folders = parent.folders.saturating_sub(read.len());
    for (url, result) in read {
        parent.followed += 1;
        match result {
            Ok(sub) => {
                parent.entries.extend(sub.entries);
                parent.skipped.extend(sub.skipped);
                parent.dropped += sub.dropped;
                parent.folders += sub.folders;
            }
            Err(Error::Listing(ListingError::NoMedia)) => {}
            Err(Error::Listing(ListingError::OnlyFolders(n))) => parent.folders += n,
            Err(e) => failed.push((url, e.to_string())),
        }
    }
    if parent.entries.len() > MAX_MEDIA {
        parent.dropped += parent.entries.len() - MAX_MEDIA;
        parent.entries.truncate(MAX_MEDIA);
    }
    (parent, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{Entry, Format};

    fn listing(files: &[&str], subfolders: &[&str], nested: usize) -> Listing {
        Listing {
            format: Format::Html,
            url: "http://h/show/".into(),
            name: "show".into(),
            entries: files
                .iter()
                .map(|f| Entry {
                    url: format!("http://h/show/{f}"),
                    name: f.rsplit('/').next().unwrap_or(f).to_string(),
                    title: None,
                    subtitles: Vec::new(),
                })
                .collect(),
            skipped: Vec::new(),
            dropped: 0,
            folders: subfolders.len() + nested,
            subfolders: subfolders.iter().map(|s| format!("http://h/show/{s}")).collect(),
            followed: 0,
        }
    }

    fn names(l: &Listing) -> Vec<&str> {
        l.entries.iter().map(|e| e.url.as_str()).collect()
    }

    #[test]
    fn sub_folders_join_after_the_parent_in_their_order() {
        let parent = listing(&["Trailer.mkv"], &["S1/", "S2/", "Covers/"], 0);
        let read = vec![
            (
                "http://h/show/S1/".into(),
                Ok(listing(&["S1/E1.mkv", "S1/E2.mkv"], &[], 1)),
            ),
            ("http://h/show/S2/".into(), Ok(listing(&["S2/E1.mkv"], &[], 0))),
            (
                "http://h/show/Covers/".into(),
                Err(Error::Listing(ListingError::NoMedia)),
            ),
        ];
        let (merged, failed) = merge(parent, read);
        assert_eq!(
            names(&merged),
            [
                "http://h/show/Trailer.mkv",
                "http://h/show/S1/E1.mkv",
                "http://h/show/S1/E2.mkv",
                "http://h/show/S2/E1.mkv"
            ]
        );
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(merged.followed, 3);
        assert_eq!(merged.folders, 1, "S1's own sub-folder, counted, not followed");
    }

    #[test]
    fn a_sub_folder_that_cannot_be_read_is_reported_and_the_rest_stay() {
        let parent = listing(&[], &["S1/", "S2/"], 0);
        let read = vec![
            (
                "http://h/show/S1/".into(),
                Err(Error::Listing(ListingError::TooLarge)),
            ),
            ("http://h/show/S2/".into(), Ok(listing(&["S2/E1.mkv"], &[], 0))),
        ];
        let (merged, failed) = merge(parent, read);
        assert_eq!(names(&merged), ["http://h/show/S2/E1.mkv"]);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "http://h/show/S1/");
        assert!(failed[0].1.contains("larger than"), "{}", failed[0].1);
    }

    #[test]
    fn the_bounds_hold_past_many_folders() {
        let many: Vec<String> = (0..MAX_FOLLOWED + 5).map(|i| format!("F{i}/")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let parent = listing(&[], &many, 0);
        let follow = to_follow(&parent);
        assert_eq!(follow.len(), MAX_FOLLOWED);
        let files: Vec<String> = (0..20).map(|i| format!("E{i}.mkv")).collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let read = follow
            .into_iter()
            .map(|url| (url, Ok(listing(&files, &[], 0))))
            .collect();
        let (merged, _) = merge(parent, read);
        assert_eq!(merged.entries.len(), MAX_MEDIA);
        assert_eq!(merged.dropped, MAX_FOLLOWED * 20 - MAX_MEDIA);
        assert_eq!(merged.folders, 5, "the folders past the bound, not followed");
    }
}
