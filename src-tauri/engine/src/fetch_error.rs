//! Why an origin request did not give usable bytes, as a type: the
//! downloader retries or fails by its kind, `add` and relink turn it into
//! the engine's [`Error`].

use std::time::Duration;

use reqwest::StatusCode;

use crate::error::{describe, Error};

/// Why an origin request did not give usable bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// The origin said no for good (401, 403, 404, 410, …): fail at once.
    Refused { status: StatusCode },
    /// Redirects that never end: fail at once.
    TooManyRedirects { cause: String },
    /// The host does not resolve or refuses connections: definitive when a
    /// user adds a URL, retried during a download (a server restarting).
    Unreachable { message: String },
    /// Worth retrying: 5xx, 408, 429 (with their status), reset, timeout,
    /// short body.
    Transient {
        status: Option<StatusCode>,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused { status } => write!(f, "origin answered {}", describe(*status)),
            FetchError::TooManyRedirects { cause } => write!(f, "too many redirects: {cause}"),
            FetchError::Unreachable { message } | FetchError::Transient { message, .. } => {
                f.write_str(message)
            }
        }
    }
}

impl FetchError {
    pub fn transient(message: impl Into<String>) -> Self {
        FetchError::Transient {
            status: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure that no retry will mend: the item fails at once.
    pub fn is_definitive(&self) -> bool {
        matches!(
            self,
            FetchError::Refused { .. } | FetchError::TooManyRedirects { .. }
        )
    }

    /// The HTTP status the origin answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            FetchError::Refused { status } => Some(*status),
            FetchError::Transient { status, .. } => *status,
            FetchError::TooManyRedirects { .. } | FetchError::Unreachable { .. } => None,
        }
    }
}

/// An origin request that failed, as the engine's error: the origin's
/// status where it answered, else why it could not be reached.
impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        match e.status() {
            Some(status) => Error::OriginStatus { status },
            None => Error::OriginUnreachable(e.to_string()),
        }
    }
}
