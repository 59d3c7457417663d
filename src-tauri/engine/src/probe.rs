//! Adding a URL, decided: what the origin's answer to the first request
//! (the probe) means ([`Probe::judge`]), what the new item starts with
//! ([`Probe::meta`]), and whether it is added at all ([`admit`]).
//! `Engine::add_with` sends the probe and carries these out.

use crate::download::learn;
use crate::download::origin::{Answer, FetchError};
use crate::name;
use crate::store::ItemMeta;

/// The probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The origin answered with the file's bytes: the item starts with what
    /// it told, and the answer's body feeds the first fetch.
    Answered(Answer),
    /// Refused for good (401, 403, 404, 410, too many redirects), or the
    /// host cannot be reached: nothing is added.
    Refused(FetchError),
    /// A transient fault (or an answer that could not be read): the item is
    /// added and its download retries; `come_back` when the origin said when
    /// (`Retry-After`), which the first fetch waits for.
    NotReady { fault: FetchError, come_back: bool },
}

impl Probe {
    /// `result`: the origin's answer, or why there is none.
    pub fn judge(result: Result<Answer, FetchError>) -> Probe {
        match result {
            Ok(answer) => Probe::Answered(answer),
            // A URL a user adds must reach its host now; a download that
            // is under way retries an unreachable one (a server restarting).
            Err(fault) if fault.is_definitive() || matches!(fault, FetchError::Unreachable { .. }) => {
                Probe::Refused(fault)
            }
            Err(fault) => {
                let come_back = matches!(
                    fault,
                    FetchError::Transient {
                        retry_after: Some(_),
                        ..
                    }
                );
                Probe::NotReady { fault, come_back }
            }
        }
    }

    /// The new item's metadata at `now` (Unix milliseconds): what the answer
    /// told, else a name from the URL and nothing known yet.
    pub fn meta(&self, url: &str, now: u64) -> ItemMeta {
        let mut meta = ItemMeta {
            name: name::display_name(None, url),
            last_access: now,
            ..ItemMeta::default()
        };
        if let Probe::Answered(answer) = self {
            learn(&mut meta, answer, url);
        }
        meta
    }
}

/// Whether an item is added for the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit<T> {
    /// The URL is an item already (two adds raced): that one is the answer.
    Existing(T),
    /// The file is a failed item's (same name, length and validators):
    /// refused, so that the user relinks that item instead.
    MatchesFailed {
        id: String,
        name: String,
    },
    Add,
}

/// `existing`: the item that has the URL; `failed_twin`: the oldest failed
/// item whose file the probe found (id, name); `probed`: the origin told
/// what the file is (else nothing can match); `new_copy`: the user asked
/// for a second copy.
pub(crate) fn admit<T>(
    existing: Option<T>,
    failed_twin: Option<(String, String)>,
    probed: bool,
    new_copy: bool,
) -> Admit<T> {
    if let Some(item) = existing {
        return Admit::Existing(item);
    }
    match failed_twin {
        Some((id, name)) if probed && !new_copy => Admit::MatchesFailed { id, name },
        _ => Admit::Add,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::StatusCode;

    use super::*;
    use crate::download::origin::Body;

    fn answer(body: Body) -> Answer {
        Answer {
            body,
            etag: Some("\"e\"".into()),
            last_modified: None,
            content_type: Some("video/mp4".into()),
            content_disposition: None,
        }
    }

    fn transient(retry_after: Option<u64>) -> FetchError {
        FetchError::Transient {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            message: "origin answered 503 Service Unavailable".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn what_the_probe_means() {
        let partial = answer(Body::Partial {
            start: 0,
            last: 99,
            total: Some(100),
        });
        let refused = |status| FetchError::Refused { status };
        let unreachable = FetchError::Unreachable {
            message: "cannot resolve host nowhere.invalid".into(),
        };
        let table = [
            (Ok(partial.clone()), Probe::Answered(partial)),
            (
                Err(refused(StatusCode::NOT_FOUND)),
                Probe::Refused(refused(StatusCode::NOT_FOUND)),
            ),
            (
                Err(refused(StatusCode::UNAUTHORIZED)),
                Probe::Refused(refused(StatusCode::UNAUTHORIZED)),
            ),
            (Err(unreachable.clone()), Probe::Refused(unreachable)),
            (
                Err(FetchError::TooManyRedirects { cause: "loop".into() }),
                Probe::Refused(FetchError::TooManyRedirects { cause: "loop".into() }),
            ),
            (
                Err(transient(None)),
                Probe::NotReady {
                    fault: transient(None),
                    come_back: false,
                },
            ),
            (
                Err(transient(Some(5))),
                Probe::NotReady {
                    fault: transient(Some(5)),
                    come_back: true,
                },
            ),
            (
                Err(FetchError::transient("origin sent 206 without Content-Range")),
                Probe::NotReady {
                    fault: FetchError::transient("origin sent 206 without Content-Range"),
                    come_back: false,
                },
            ),
        ];
        for (result, want) in table {
            let why = format!("{result:?}");
            assert_eq!(Probe::judge(result), want, "{why}");
        }
    }

    #[test]
    fn what_a_new_item_starts_with() {
        let url = "http://h/films/a.mkv";
        let probed = Probe::Answered(answer(Body::Partial {
            start: 0,
            last: 99,
            total: Some(100),
        }))
        .meta(url, 7);
        assert!(probed.probed && probed.accepts_ranges);
        assert_eq!(
            (
                probed.size,
                probed.etag.as_deref(),
                probed.name.as_str(),
                probed.last_access
            ),
            (Some(100), Some("\"e\""), "a.mkv", 7)
        );

        let chunked = Probe::Answered(answer(Body::Full { len: None })).meta(url, 7);
        assert!(chunked.probed && !chunked.accepts_ranges);
        assert_eq!(chunked.size, None);

        let later = Probe::NotReady {
            fault: transient(None),
            come_back: false,
        }
        .meta(url, 7);
        assert!(!later.probed);
        assert_eq!((later.size, later.name.as_str()), (None, "a.mkv"));
    }

    #[test]
    fn whether_an_item_is_added() {
        let twin = || Some(("f1".to_string(), "a.mkv".to_string()));
        let matches = || Admit::MatchesFailed {
            id: "f1".into(),
            name: "a.mkv".into(),
        };
        let table = [
            (Some("e1"), twin(), true, false, Admit::Existing("e1")),
            (Some("e1"), None, false, true, Admit::Existing("e1")),
            (None, twin(), true, false, matches()),
            (None, twin(), true, true, Admit::Add),
            (None, twin(), false, false, Admit::Add),
            (None, None, true, false, Admit::Add),
        ];
        for (existing, failed, probed, new_copy, want) in table {
            assert_eq!(
                admit(existing, failed.clone(), probed, new_copy),
                want,
                "{existing:?} {failed:?} probed {probed} new copy {new_copy}"
            );
        }
    }
}
