//! Pairing browser extensions with the engine.
//!
//! An extension asks to pair (`POST /api/pair`); the app shows its origin and
//! a short code, which the extension's popup shows too; the user confirms in
//! the app; the extension's next poll receives a token that may only add and
//! play items. Pending requests live in memory (at most [`MAX_PENDING`], for
//! [`REQUEST_TTL`]); granted pairings are saved in `pairings.json` (0600,
//! written atomically), at most [`MAX_PAIRED`].
//!
//! The decisions (who is calling, what a token may do) are pure functions
//! with table tests; [`Pairings`] only holds the state and saves it.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{store, token};

/// Pairing requests waiting for the user at once; more get 429.
pub const MAX_PENDING: usize = 4;
/// A request the user has not answered by then is forgotten.
pub const REQUEST_TTL: Duration = Duration::from_secs(120);
/// Paired extensions kept; confirming one more is refused.
pub const MAX_PAIRED: usize = 32;
/// Longest extension name shown to the user (characters).
const MAX_NAME: usize = 64;

/// Who an `Origin` header says is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginKind {
    /// No `Origin` header: the CLI, scripts, players.
    Absent,
    /// The loopback server itself (`http://127.0.0.1:PORT` and its aliases).
    Loopback,
    /// A browser extension: `chrome-extension://ID` or `moz-extension://UUID`.
    Extension(String),
    /// Anything else: web pages, `null`, other ports.
    Foreign,
}

/// Classifies an `Origin` header value for a server on `port`.
pub fn origin_kind(origin: Option<&str>, port: u16) -> OriginKind {
    let Some(origin) = origin else {
        return OriginKind::Absent;
    };
    let loopback = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ];
    if loopback.iter().any(|l| origin.eq_ignore_ascii_case(l)) {
        return OriginKind::Loopback;
    }
    for scheme in ["chrome-extension://", "moz-extension://"] {
        if let Some(id) = origin.strip_prefix(scheme) {
            // Chromium ids are 32 letters a–p, Firefox's are UUIDs: either
            // way one label of letters, digits and dashes, nothing more.
            let plausible =
                !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            return if plausible {
                OriginKind::Extension(origin.to_ascii_lowercase())
            } else {
                OriginKind::Foreign
            };
        }
    }
    OriginKind::Foreign
}

/// What a control API request may do, decided from its origin and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The control token: everything.
    Full,
    /// A paired extension's token: add and play only.
    Paired,
    /// The pairing endpoints, which need no token.
    Pairing,
    /// 401: no token, or a wrong one.
    Unauthorized,
    /// 403: a web page, an unpaired extension, a token used from another origin.
    Forbidden,
}

/// Which route a request is on, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/pair`: needs an extension's origin, shown to the user.
    Pair,
    /// `GET /api/pair/{request}`: the request id is the secret, so a poll
    /// that carries no `Origin` is answered too (an `Origin`, if sent, must
    /// be the request's).
    PairPoll,
    /// `POST /api/items` (add).
    Add,
    /// `POST /api/items/{id}/play`.
    Play,
    /// Everything else.
    Other,
}

impl Route {
    pub fn of(method: &http::Method, segments: &[&str]) -> Route {
        use http::Method;
        match (method, segments) {
            (&Method::POST, ["pair"]) => Route::Pair,
            (&Method::GET, ["pair", _]) => Route::PairPoll,
            (&Method::POST, ["items"]) => Route::Add,
            (&Method::POST, ["items", _, "play"]) => Route::Play,
            _ => Route::Other,
        }
    }
}

/// The token a request presented, as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    Control,
    /// A paired token, with the origin it was granted to.
    Paired {
        origin: String,
    },
    Unknown,
}

/// The access rule (docs/CONTRACT.md, "Browser extensions"):
/// - web pages (any other `Origin`) are refused, whatever they present;
/// - an extension origin reaches the pairing endpoints without a token, and
///   everything else only with the token paired to that same origin;
/// - without an `Origin` (or from the loopback server itself), the control
///   token opens everything and a paired token adds and plays;
/// - a paired token may only add and play.
pub fn decide(origin: &OriginKind, presented: &Presented, route: Route) -> Access {
    let access = match (origin, presented) {
        (OriginKind::Foreign, _) => return Access::Forbidden,
        (OriginKind::Extension(_) | OriginKind::Absent, _) if route == Route::PairPoll => {
            return Access::Pairing
        }
        (OriginKind::Extension(_), _) if route == Route::Pair => return Access::Pairing,
        (OriginKind::Extension(from), Presented::Paired { origin }) if from == origin => Access::Paired,
        (OriginKind::Extension(_), _) => return Access::Forbidden,
        // Pairing is for extensions, whose origin the user is shown.
        (_, _) if matches!(route, Route::Pair | Route::PairPoll) => return Access::Forbidden,
        (_, Presented::Control) => Access::Full,
        (_, Presented::Paired { .. }) => Access::Paired,
        (_, Presented::None | Presented::Unknown) => Access::Unauthorized,
    };
    match (access, route) {
        (Access::Paired, Route::Add | Route::Play) => Access::Paired,
        (Access::Paired, _) => Access::Forbidden,
        (access, _) => access,
    }
}

/// A paired extension, as saved in `pairings.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paired {
    /// Identifies the pairing for `DELETE /api/pairings/{id}`.
    pub id: String,
    pub origin: String,
    pub name: String,
    pub token: String,
    /// Unix milliseconds.
    pub created: u64,
}

/// A paired extension as the app lists it (no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PairedView {
    pub id: String,
    pub origin: String,
    pub name: String,
    pub created: u64,
}

/// A request waiting for the user, as the app lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RequestView {
    pub request: String,
    pub origin: String,
    pub name: String,
    /// The code the extension's popup shows too.
    pub code: String,
}

/// `GET /api/pairings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PairingsView {
    pub requests: Vec<RequestView>,
    pub paired: Vec<PairedView>,
}

/// What a polling extension learns (`GET /api/pair/{request}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PollAnswer {
    Pending,
    Refused,
    Paired { token: String },
}

#[derive(Debug, Clone)]
enum Outcome {
    Waiting,
    Refused,
    Granted(String),
}

#[derive(Debug, Clone)]
struct Request {
    view: RequestView,
    created: Instant,
    outcome: Outcome,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    paired: Vec<Paired>,
}

impl State {
    /// Forgets requests older than [`REQUEST_TTL`], answered or not.
    fn expire(&mut self, now: Instant) {
        self.requests
            .retain(|r| now.saturating_duration_since(r.created) < REQUEST_TTL);
    }

    fn waiting(&self) -> impl Iterator<Item = &Request> {
        self.requests
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Waiting))
    }
}

/// The engine's pairings: pending requests in memory, paired ones on disk.
pub struct Pairings {
    path: PathBuf,
    state: Mutex<State>,
}

impl Pairings {
    /// Loads `pairings.json` from `data_dir`. A damaged file is set aside
    /// (extensions pair again) rather than stopping the engine.
    pub fn load(data_dir: &std::path::Path) -> Pairings {
        let path = data_dir.join("pairings.json");
        let paired = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Vec<Paired>>(&bytes) {
                Ok(paired) => paired,
                Err(e) => {
                    tracing::warn!(
                        "{} is damaged ({e}); browser extensions must pair again",
                        path.display()
                    );
                    let _ = std::fs::rename(&path, path.with_extension("json.damaged"));
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", path.display());
                Vec::new()
            }
        };
        Pairings {
            path,
            state: Mutex::new(State {
                requests: Vec::new(),
                paired,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change below is made whole under the lock; a poisoned one is consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An extension at `origin` asks to pair.
    pub fn request(&self, origin: &str, name: &str, now: Instant) -> Result<RequestView> {
        let mut state = self.state();
        state.expire(now);
        if state.waiting().count() >= MAX_PENDING {
            return Err(Error::TooManyPairingRequests);
        }
        let view = RequestView {
            request: token::secret(),
            origin: origin.to_string(),
            name: clean_name(name),
            code: token::short_code(),
        };
        state.requests.push(Request {
            view: view.clone(),
            created: now,
            outcome: Outcome::Waiting,
        });
        Ok(view)
    }

    /// The extension polls its request. An answer other than `Pending` is
    /// given once; then the request is forgotten. `origin`, when the poll
    /// carries one, must be the request's.
    pub fn poll(&self, request: &str, origin: Option<&str>, now: Instant) -> Result<PollAnswer> {
        let mut state = self.state();
        state.expire(now);
        let index = state
            .requests
            .iter()
            .position(|r| r.view.request == request && origin.is_none_or(|o| o == r.view.origin))
            .ok_or_else(|| Error::NoSuchPairing(request.to_string()))?;
        let answer = match &state.requests[index].outcome {
            Outcome::Waiting => return Ok(PollAnswer::Pending),
            Outcome::Refused => PollAnswer::Refused,
            Outcome::Granted(token) => PollAnswer::Paired { token: token.clone() },
        };
        state.requests.remove(index);
        Ok(answer)
    }

    /// The requests waiting for the user and the paired extensions.
    pub fn view(&self, now: Instant) -> PairingsView {
        let mut state = self.state();
        state.expire(now);
        PairingsView {
            requests: state.waiting().map(|r| r.view.clone()).collect(),
            paired: state
                .paired
                .iter()
                .map(|p| PairedView {
                    id: p.id.clone(),
                    origin: p.origin.clone(),
                    name: p.name.clone(),
                    created: p.created,
                })
                .collect(),
        }
    }

    /// The user confirms a request: the extension is paired (replacing an
    /// earlier pairing of the same origin) and saved.
    pub fn confirm(&self, request: &str, now: Instant, unix_millis: u64) -> Result<PairedView> {
        let mut state = self.state();
        state.expire(now);
        let index = waiting_index(&state, request)?;
        let view = state.requests[index].view.clone();
        let mut paired = state.paired.clone();
        paired.retain(|p| p.origin != view.origin);
        if paired.len() >= MAX_PAIRED {
            return Err(Error::TooManyPairings { max: MAX_PAIRED });
        }
        let entry = Paired {
            id: token::item_id(),
            origin: view.origin.clone(),
            name: view.name.clone(),
            token: token::secret(),
            created: unix_millis,
        };
        paired.push(entry.clone());
        self.save(&paired)?;
        state.paired = paired;
        state.requests[index].outcome = Outcome::Granted(entry.token);
        Ok(PairedView {
            id: entry.id,
            origin: entry.origin,
            name: entry.name,
            created: entry.created,
        })
    }

    /// The user refuses a request; the extension's next poll says so.
    pub fn refuse(&self, request: &str, now: Instant) -> Result<()> {
        let mut state = self.state();
        state.expire(now);
        let index = waiting_index(&state, request)?;
        state.requests[index].outcome = Outcome::Refused;
        Ok(())
    }

    /// Forgets a paired extension: its token stops working at once.
    pub fn remove(&self, id: &str) -> Result<()> {
        let mut state = self.state();
        let mut paired = state.paired.clone();
        let before = paired.len();
        paired.retain(|p| p.id != id);
        if paired.len() == before {
            return Err(Error::NoSuchPairing(id.to_string()));
        }
        self.save(&paired)?;
        state.paired = paired;
        Ok(())
    }

    /// What `token` is, compared in constant time against each known one.
    pub fn presented(&self, bearer: Option<&[u8]>, control_token: &str) -> Presented {
        let Some(bearer) = bearer else {
            return Presented::None;
        };
        if constant_time_eq(bearer, control_token.as_bytes()) {
            return Presented::Control;
        }
        let state = self.state();
        let mut found = None;
        for p in &state.paired {
            if constant_time_eq(bearer, p.token.as_bytes()) {
                found = Some(p.origin.clone());
            }
        }
        match found {
            Some(origin) => Presented::Paired { origin },
            None => Presented::Unknown,
        }
    }

    fn save(&self, paired: &[Paired]) -> Result<()> {
        serde_json::to_vec_pretty(paired)
            .map_err(std::io::Error::other)
            .and_then(|json| store::write_atomically(&self.path, &json))
            .map_err(|e| Error::io(format!("cannot write {}", self.path.display()), e))
    }
}

fn waiting_index(state: &State, request: &str) -> Result<usize> {
    state
        .requests
        .iter()
        .position(|r| r.view.request == request && matches!(r.outcome, Outcome::Waiting))
        .ok_or_else(|| Error::NoSuchPairing(request.to_string()))
}

/// The name an extension reports, made safe to show: no control
/// characters, at most [`MAX_NAME`] characters.
fn clean_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect();
    match name.trim() {
        "" => "Browser extension".to_string(),
        name => name.to_string(),
    }
}

pub(crate) fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    const EXT: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";

    #[test]
    fn origins_are_classified() {
        let table = [
            (None, OriginKind::Absent),
            (Some("http://127.0.0.1:8000"), OriginKind::Loopback),
            (Some("http://LOCALHOST:8000"), OriginKind::Loopback),
            (Some("http://[::1]:8000"), OriginKind::Loopback),
            (Some("http://127.0.0.1:8001"), OriginKind::Foreign),
            (Some("https://evil.example"), OriginKind::Foreign),
            (Some("null"), OriginKind::Foreign),
            (Some(EXT), OriginKind::Extension(EXT.to_string())),
            (
                Some("moz-extension://0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
                OriginKind::Extension("moz-extension://0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".to_string()),
            ),
            (Some("chrome-extension://"), OriginKind::Foreign),
            (Some("chrome-extension://abc/path"), OriginKind::Foreign),
            (Some("chrome-extension://abc:80"), OriginKind::Foreign),
            (Some("safari-web-extension://abc"), OriginKind::Foreign),
        ];
        for (origin, want) in table {
            assert_eq!(origin_kind(origin, 8000), want, "{origin:?}");
        }
    }

    #[test]
    fn routes_are_recognised() {
        assert_eq!(Route::of(&Method::POST, &["pair"]), Route::Pair);
        assert_eq!(Route::of(&Method::GET, &["pair", "r"]), Route::PairPoll);
        assert_eq!(Route::of(&Method::GET, &["pair"]), Route::Other);
        assert_eq!(Route::of(&Method::POST, &["items"]), Route::Add);
        assert_eq!(Route::of(&Method::GET, &["items"]), Route::Other);
        assert_eq!(Route::of(&Method::POST, &["items", "x", "play"]), Route::Play);
        assert_eq!(Route::of(&Method::POST, &["items", "x", "pin"]), Route::Other);
        assert_eq!(Route::of(&Method::DELETE, &["items", "x"]), Route::Other);
        assert_eq!(Route::of(&Method::GET, &["pairings"]), Route::Other);
    }

    #[test]
    fn who_may_do_what() {
        use Access::*;
        let ext = OriginKind::Extension(EXT.to_string());
        let other_ext = OriginKind::Extension("moz-extension://x".to_string());
        let mine = Presented::Paired {
            origin: EXT.to_string(),
        };
        let table = [
            // Web pages: refused whatever they present.
            (OriginKind::Foreign, Presented::Control, Route::Other, Forbidden),
            (OriginKind::Foreign, mine.clone(), Route::Add, Forbidden),
            (OriginKind::Foreign, Presented::None, Route::Pair, Forbidden),
            // An extension: pairing without a token…
            (ext.clone(), Presented::None, Route::Pair, Pairing),
            (ext.clone(), Presented::None, Route::PairPoll, Pairing),
            (OriginKind::Absent, Presented::None, Route::PairPoll, Pairing),
            (OriginKind::Loopback, Presented::None, Route::PairPoll, Forbidden),
            (OriginKind::Foreign, Presented::None, Route::PairPoll, Forbidden),
            // …add and play with its own paired token…
            (ext.clone(), mine.clone(), Route::Add, Paired),
            (ext.clone(), mine.clone(), Route::Play, Paired),
            // …nothing else with it…
            (ext.clone(), mine.clone(), Route::Other, Forbidden),
            // …and nothing unpaired, nor with another's token or the control token.
            (ext.clone(), Presented::None, Route::Add, Forbidden),
            (ext.clone(), Presented::Unknown, Route::Add, Forbidden),
            (other_ext, mine.clone(), Route::Add, Forbidden),
            (ext, Presented::Control, Route::Other, Forbidden),
            // No Origin (the CLI, scripts): the control token does everything…
            (OriginKind::Absent, Presented::Control, Route::Other, Full),
            (OriginKind::Loopback, Presented::Control, Route::Add, Full),
            // …a paired token adds and plays…
            (OriginKind::Absent, mine.clone(), Route::Play, Paired),
            (OriginKind::Absent, mine, Route::Other, Forbidden),
            // …no token is 401, and pairing needs an extension's origin.
            (OriginKind::Absent, Presented::None, Route::Other, Unauthorized),
            (OriginKind::Absent, Presented::Unknown, Route::Add, Unauthorized),
            (OriginKind::Absent, Presented::Control, Route::Pair, Forbidden),
            (OriginKind::Loopback, Presented::None, Route::Pair, Forbidden),
        ];
        for (origin, presented, route, want) in table {
            assert_eq!(
                decide(&origin, &presented, route),
                want,
                "{origin:?} {presented:?} {route:?}"
            );
        }
    }

    fn pairings() -> (tempfile::TempDir, Pairings) {
        let dir = tempfile::tempdir().unwrap();
        let pairings = Pairings::load(dir.path());
        (dir, pairings)
    }

    #[test]
    fn a_confirmed_request_yields_a_saved_private_token_once() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, pairings) = pairings();
        let now = Instant::now();
        let request = pairings.request(EXT, "Spool \u{7}for Chromium", now).unwrap();
        assert_eq!(request.name, "Spool for Chromium");
        assert_eq!(request.code.len(), 6);
        assert_eq!(
            pairings.poll(&request.request, Some(EXT), now).unwrap(),
            PollAnswer::Pending
        );
        assert!(pairings
            .poll(&request.request, Some("moz-extension://other"), now)
            .is_err());
        let paired = pairings.confirm(&request.request, now, 7).unwrap();
        let PollAnswer::Paired { token } = pairings.poll(&request.request, None, now).unwrap() else {
            panic!("not paired");
        };
        // Given once.
        assert!(pairings.poll(&request.request, Some(EXT), now).is_err());
        assert_eq!(
            pairings.presented(Some(token.as_bytes()), "control"),
            Presented::Paired {
                origin: EXT.to_string()
            }
        );
        assert_eq!(
            pairings.presented(Some(b"control"), "control"),
            Presented::Control
        );
        assert_eq!(pairings.presented(Some(b"nope"), "control"), Presented::Unknown);
        let path = dir.path().join("pairings.json");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Survives a restart; removing it revokes the token.
        let again = Pairings::load(dir.path());
        assert_eq!(again.view(now).paired, vec![paired.clone()]);
        again.remove(&paired.id).unwrap();
        assert_eq!(
            again.presented(Some(token.as_bytes()), "control"),
            Presented::Unknown
        );
        assert!(Pairings::load(dir.path()).view(now).paired.is_empty());
        assert!(again.remove(&paired.id).is_err());
    }

    #[test]
    fn refused_requests_say_so_once() {
        let (_dir, pairings) = pairings();
        let now = Instant::now();
        let request = pairings.request(EXT, "x", now).unwrap();
        pairings.refuse(&request.request, now).unwrap();
        assert!(
            pairings.confirm(&request.request, now, 0).is_err(),
            "answered already"
        );
        assert_eq!(
            pairings.poll(&request.request, Some(EXT), now).unwrap(),
            PollAnswer::Refused
        );
        assert!(pairings.poll(&request.request, Some(EXT), now).is_err());
        assert!(pairings.view(now).paired.is_empty());
    }

    #[test]
    fn pending_requests_are_bounded_and_expire() {
        let (_dir, pairings) = pairings();
        let now = Instant::now();
        for _ in 0..MAX_PENDING {
            pairings.request(EXT, "x", now).unwrap();
        }
        assert!(matches!(
            pairings.request(EXT, "x", now),
            Err(Error::TooManyPairingRequests)
        ));
        assert_eq!(pairings.view(now).requests.len(), MAX_PENDING);
        let later = now + REQUEST_TTL;
        assert!(pairings.view(later).requests.is_empty());
        let fresh = pairings.request(EXT, "", later).unwrap();
        assert_eq!(fresh.name, "Browser extension");
        assert!(
            pairings.confirm(&fresh.request, later + REQUEST_TTL, 0).is_err(),
            "expired"
        );
    }

    #[test]
    fn paired_extensions_are_bounded_and_one_per_origin() {
        let (_dir, pairings) = pairings();
        let now = Instant::now();
        let pair = |origin: &str| {
            let r = pairings.request(origin, "x", now)?;
            pairings.confirm(&r.request, now, 0)
        };
        pair(EXT).unwrap();
        pair(EXT).unwrap();
        assert_eq!(pairings.view(now).paired.len(), 1, "re-pairing replaces");
        for i in 1..MAX_PAIRED {
            pair(&format!("moz-extension://{i}")).unwrap();
        }
        assert!(matches!(
            pair("moz-extension://one-too-many"),
            Err(Error::TooManyPairings { .. })
        ));
        assert_eq!(pairings.view(now).paired.len(), MAX_PAIRED);
    }
}
