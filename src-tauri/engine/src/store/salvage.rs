//! What to make of an item directory found at start-up, whatever state a
//! crash or a damaged disk left it in. Every directory is accounted for: it
//! is an item, an item whose identity is rebuilt from the copy in its state
//! file, a damaged item listed as failed (so its bytes count and it can be
//! removed), or nothing at all (removed).

use super::{ItemMeta, ItemSource, StateFile};

/// One metadata file as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read<T> {
    Missing,
    /// Unreadable or not valid JSON; the reason, for people.
    Bad(String),
    Ok(T),
}

/// What a directory under `items/` holds (after stray temporary files
/// were removed).
#[derive(Debug, Clone)]
pub struct Found {
    /// The directory's name: the item's id.
    pub id: String,
    pub identity: Read<ItemSource>,
    pub state: Read<StateFile>,
    /// Anything else is in the directory: a data file with bytes, or files
    /// Spool did not write.
    pub other_content: bool,
}

/// What the engine does with the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A whole item; `meta` is `Err` with the reason when its state is lost
    /// (it is probed again). `rebuild_identity`: `item.json` was damaged and
    /// is rewritten from the copy in `state.json`.
    Item {
        source: ItemSource,
        meta: Result<ItemMeta, String>,
        rebuild_identity: bool,
    },
    /// Its origin URL is lost: listed as failed with `reason` until removed.
    /// `meta` is kept when the state file was readable (name, size).
    Damaged { meta: Option<ItemMeta>, reason: String },
    /// Nothing worth keeping (an empty directory, an empty data file).
    Empty,
}

pub fn judge(found: Found) -> Verdict {
    let Found {
        id,
        identity,
        state,
        other_content,
    } = found;
    let identity = match identity {
        Read::Ok(source) if source.id != id => Read::Bad(format!("item.json names item {:?}", source.id)),
        other => other,
    };
    let (state_meta, state_identity, state_problem) = match state {
        Read::Ok(file) => (Some(file.meta), file.identity.filter(|s| s.id == id), None),
        Read::Bad(reason) => (None, None, Some(format!("state.json {reason}"))),
        Read::Missing => (None, None, Some("state.json is missing".to_string())),
    };
    match identity {
        Read::Ok(source) => Verdict::Item {
            source,
            meta: state_meta.ok_or_else(|| state_problem.unwrap_or_default()),
            rebuild_identity: false,
        },
        identity => {
            if let (Some(source), Some(meta)) = (state_identity, state_meta.clone()) {
                return Verdict::Item {
                    source,
                    meta: Ok(meta),
                    rebuild_identity: true,
                };
            }
            let identity_problem = match &identity {
                Read::Bad(reason) => format!("item.json {reason}"),
                _ => "item.json is missing".to_string(),
            };
            let nothing = matches!(identity, Read::Missing) && state_meta.is_none() && !other_content;
            if nothing && state_problem.as_deref() == Some("state.json is missing") {
                return Verdict::Empty;
            }
            let problems = match (&state_meta, state_problem) {
                (Some(_), _) => format!("{identity_problem} and state.json holds no copy of it"),
                (None, Some(state)) => format!("{identity_problem}, {state}"),
                (None, None) => identity_problem,
            };
            Verdict::Damaged {
                meta: state_meta,
                reason: format!("its metadata is damaged: {problems}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: &str) -> ItemSource {
        ItemSource {
            id: id.into(),
            token: "t".into(),
            source_url: "http://h/a.mkv".into(),
            headers: Vec::new(),
            created: 1,
        }
    }

    fn meta() -> ItemMeta {
        ItemMeta {
            name: "a.mkv".into(),
            size: Some(10),
            ..ItemMeta::default()
        }
    }

    fn state(identity: Option<ItemSource>) -> Read<StateFile> {
        Read::Ok(StateFile {
            meta: meta(),
            identity,
        })
    }

    fn found(identity: Read<ItemSource>, state: Read<StateFile>, other_content: bool) -> Verdict {
        judge(Found {
            id: "abc".into(),
            identity,
            state,
            other_content,
        })
    }

    fn bad(reason: &str) -> Read<ItemSource> {
        Read::Bad(reason.into())
    }

    fn damaged_reason(v: &Verdict) -> &str {
        match v {
            Verdict::Damaged { reason, .. } => reason,
            other => panic!("not damaged: {other:?}"),
        }
    }

    #[test]
    fn a_whole_item_is_an_item() {
        let v = found(Read::Ok(source("abc")), state(Some(source("abc"))), true);
        assert_eq!(
            v,
            Verdict::Item {
                source: source("abc"),
                meta: Ok(meta()),
                rebuild_identity: false
            }
        );
    }

    #[test]
    fn a_lost_state_costs_only_progress() {
        let v = found(Read::Ok(source("abc")), Read::Bad("is corrupt: EOF".into()), true);
        assert!(
            matches!(&v, Verdict::Item { meta: Err(r), rebuild_identity: false, .. } if r == "state.json is corrupt: EOF"),
            "{v:?}"
        );
        let v = found(Read::Ok(source("abc")), Read::Missing, false);
        assert!(matches!(&v, Verdict::Item { meta: Err(_), .. }), "{v:?}");
    }

    #[test]
    fn a_damaged_identity_is_rebuilt_from_the_state_files_copy() {
        for identity in [bad("is corrupt: EOF"), Read::Missing] {
            let v = found(identity, state(Some(source("abc"))), true);
            assert_eq!(
                v,
                Verdict::Item {
                    source: source("abc"),
                    meta: Ok(meta()),
                    rebuild_identity: true
                }
            );
        }
    }

    #[test]
    fn a_copy_naming_another_item_is_not_trusted() {
        let v = found(bad("is empty"), state(Some(source("zzz"))), true);
        assert_eq!(
            damaged_reason(&v),
            "its metadata is damaged: item.json is empty and state.json holds no copy of it"
        );
        let v = found(Read::Ok(source("zzz")), Read::Missing, true);
        assert!(
            damaged_reason(&v).contains("item.json names item \"zzz\""),
            "{v:?}"
        );
    }

    #[test]
    fn both_damaged_is_a_damaged_item_that_keeps_what_is_known() {
        let v = found(bad("is empty"), Read::Bad("is corrupt: EOF".into()), true);
        assert_eq!(
            damaged_reason(&v),
            "its metadata is damaged: item.json is empty, state.json is corrupt: EOF"
        );
        // An older state file without the copy still gives the name and size.
        let v = found(bad("is empty"), state(None), false);
        assert!(
            matches!(v, Verdict::Damaged { meta: Some(ref m), .. } if m.name == "a.mkv"),
            "{v:?}"
        );
    }

    #[test]
    fn a_data_file_without_metadata_is_listed() {
        let v = found(Read::Missing, Read::Missing, true);
        assert_eq!(
            damaged_reason(&v),
            "its metadata is damaged: item.json is missing, state.json is missing"
        );
    }

    #[test]
    fn a_directory_with_nothing_in_it_is_nothing() {
        assert_eq!(found(Read::Missing, Read::Missing, false), Verdict::Empty);
        // A broken file is something: it is shown, not silently deleted.
        assert!(matches!(
            found(bad("is empty"), Read::Missing, false),
            Verdict::Damaged { .. }
        ));
    }
}
