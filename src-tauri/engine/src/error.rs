//! The engine's typed errors. Each has a stable `code` for the control API
//! and the desktop UI (`{code, message}`).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("another spool engine (pid {pid}, port {port}) already owns {dir}")]
    Locked { dir: PathBuf, pid: u32, port: u16 },
    #[error("another spool engine already owns {dir}")]
    LockedUnknown { dir: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid header {header:?}: {reason}")]
    InvalidHeader { header: String, reason: String },
    /// The origin gave a definitive answer: 401, 403, 404, 410, …
    #[error("origin answered {}", describe(*status))]
    OriginStatus { status: reqwest::StatusCode },
    /// The origin cannot be reached at all: unknown host, refused connection.
    #[error("{0}")]
    OriginUnreachable(String),
    #[error("no item with id {0:?}")]
    NotFound(String),
    /// A relink's URL serves another file than the item's; nothing changed.
    #[error("the new URL is not the same file as item {id}: {difference}; nothing was changed")]
    NotTheSameFile { id: String, difference: String },
    /// An added URL serves the file of a failed item: refresh that item's
    /// link instead of downloading a second copy (or ask for a new copy).
    #[error(
        "this URL serves the file of failed item {id} ({name}): refresh its link with `spool relink {id} URL`, or add it as a new copy"
    )]
    MatchesFailedItem { id: String, name: String },
    /// The item's metadata is damaged and its origin URL lost.
    #[error("item {id} cannot be resumed or relinked: its metadata is damaged; remove it (`spool rm {id}`)")]
    Damaged { id: String },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("invalid player command: {0}")]
    PlayerCommand(#[from] CommandError),
    /// The player could not be started (not found, not executable).
    #[error("could not start `{command}`: {source}")]
    PlayerStart {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// No such pairing request (answered, expired or never made) or pairing.
    #[error("no pairing request or paired extension {0:?} (a request expires after two minutes)")]
    NoSuchPairing(String),
    /// Too many browser extensions are waiting for the user to answer.
    #[error("too many pairing requests are waiting; answer them in Spool's window first")]
    TooManyPairingRequests,
    #[error("{max} browser extensions are paired already; remove one in Spool's window first")]
    TooManyPairings { max: usize },
    /// A listing or playlist that cannot be used.
    #[error("{0}")]
    Listing(#[from] ListingError),
    #[error("no collection with id {0:?}")]
    CollectionNotFound(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A short machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Locked { .. } | Error::LockedUnknown { .. } => "locked",
            Error::Io { .. } => "io",
            Error::InvalidUrl { .. } => "invalid_url",
            Error::InvalidHeader { .. } => "invalid_header",
            Error::OriginStatus { .. } => "origin_status",
            Error::OriginUnreachable(_) => "origin_unreachable",
            Error::NotFound(_) => "not_found",
            Error::NotTheSameFile { .. } => "not_the_same_file",
            Error::MatchesFailedItem { .. } => "matches_failed_item",
            Error::Damaged { .. } => "damaged",
            Error::ShuttingDown => "shutting_down",
            Error::PlayerCommand(_) => "invalid_player_command",
            Error::PlayerStart { .. } => "player_failed",
            Error::NoSuchPairing(_) => "not_found",
            Error::TooManyPairingRequests => "too_many_requests",
            Error::TooManyPairings { .. } => "too_many_pairings",
            Error::Listing(ListingError::Hls) => "hls_not_supported",
            Error::Listing(ListingError::NotAListing(_)) => "not_a_listing",
            Error::Listing(_) => "bad_listing",
            Error::CollectionNotFound(_) => "not_found",
        }
    }

    /// The existing item the error is about, where a client can act on it
    /// (offer "Refresh link" for the failed item an added URL matches).
    pub fn item(&self) -> Option<&str> {
        match self {
            Error::MatchesFailedItem { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// `401 Unauthorized`.
pub(crate) fn describe(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Why a player command cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unclosed {0} quote in the player command")]
    UnclosedQuote(char),
    #[error("the player command ends with a lone \\")]
    TrailingBackslash,
    #[error("nothing to play")]
    NothingToPlay,
    /// Stream URLs are Spool's own `http://` URLs; anything else could be
    /// read as an option.
    #[error("not a URL a player may be given: {0:?}")]
    NotAUrl(String),
}

/// Why a page cannot be used as a listing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    #[error("this is an HLS playlist (a stream cut into segments); HLS is not supported yet")]
    Hls,
    #[error("the WebDAV server answered 207 Multi-Status with malformed XML: {0}")]
    MalformedXml(String),
    #[error("the nginx JSON listing is malformed: {0}")]
    MalformedJson(String),
    #[error("the listing is larger than {} MiB; refused", crate::config::MAX_LISTING_PAGE >> 20)]
    TooLarge,
    #[error("not a directory listing or playlist ({0})")]
    NotAListing(String),
    #[error("the listing names no media files")]
    NoMedia,
    #[error(
        "the listing names no media files, only {0} sub-folder(s): add it with its sub-folders \
         (spool add --recursive) or add a sub-folder by its URL"
    )]
    OnlyFolders(usize),
}
