//! [`HttpError`]: a failed request of the HTTP clients (snapshots and SSE).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderName;
use reqwest::{StatusCode, Url};

#[cfg(doc)]
use super::HttpSnapshot;
#[cfg(doc)]
use crate::Limits;
#[cfg(doc)]
use crate::source::Permanent;

/// A request of an HTTP client that failed: it names the URL, and the status
/// and the server's own error text when the server answered.
///
/// [`HttpSnapshot`] and [`SseSource`](crate::client::sse::SseSource) return
/// it boxed, wrapped in [`Permanent`] for `401` and `403`. When the response
/// body was refused by the [`Limits`], the [`source`](StdError::source) is
/// the crate's [`Error`](crate::Error) that says why.
///
/// # Examples
///
/// ```no_run
/// use live_resource::client::http::{HttpError, HttpSnapshot};
/// use live_resource::source::SnapshotSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = HttpSnapshot::live("http://localhost:3000", "no-such-topic");
/// let error = source.snapshot().await.unwrap_err();
/// if let Some(error) = error.downcast_ref::<HttpError>() {
///     assert_eq!(error.status(), Some(reqwest::StatusCode::NOT_FOUND));
///     println!("{}", error.server_message().unwrap_or("no reason given"));
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct HttpError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    url: Url,
    kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// The server answered with an error status.
    Status {
        status: StatusCode,
        message: Option<String>,
    },
    /// The request could not be sent, or the response not read.
    Request(reqwest::Error),
    /// No response came in time (the SSE client's own bound).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    TimedOut(Duration),
    /// The body was refused by the limits, or did not parse.
    Body(crate::Error),
    /// The version header was missing or did not hold a version.
    Version {
        header: HeaderName,
        value: Option<String>,
    },
    /// The response was not what the protocol says (an SSE stream that is not one).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    Protocol(String),
}

impl HttpError {
    pub(crate) fn new(url: &Url, kind: Kind) -> Self {
        Self(Box::new(Inner {
            url: url.clone(),
            kind,
        }))
    }

    pub(crate) fn request(url: &Url, error: reqwest::Error) -> Self {
        // The URL is already ours to show.
        Self::new(url, Kind::Request(error.without_url()))
    }

    /// The URL requested.
    pub fn url(&self) -> &Url {
        &self.0.url
    }

    /// The status of the response, when the server answered with an error status.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.0.kind {
            Kind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The text of the server's `{"error":..}` body, when it answered with one.
    pub fn server_message(&self) -> Option<&str> {
        match &self.0.kind {
            Kind::Status { message, .. } => message.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GET {}: ", self.0.url)?;
        match &self.0.kind {
            Kind::Status { status, message } => {
                write!(f, "{status}")?;
                match message {
                    Some(message) => write!(f, ": {message}"),
                    None => Ok(()),
                }
            }
            Kind::Request(error) => {
                // reqwest's own message is terse ("error sending request"):
                // the reason is in its causes.
                write!(f, "{error}")?;
                let mut cause = error.source();
                while let Some(error) = cause {
                    write!(f, ": {error}")?;
                    cause = error.source();
                }
                Ok(())
            }
            Kind::TimedOut(after) => write!(f, "no response within {after:?}"),
            Kind::Body(error) => write!(f, "response refused: {error}"),
            Kind::Version {
                header,
                value: None,
            } => write!(f, "no `{header}` header with the version"),
            Kind::Version {
                header,
                value: Some(value),
            } => write!(f, "the `{header}` header `{value}` is not a version"),
            Kind::Protocol(message) => f.write_str(message),
        }
    }
}

impl StdError for HttpError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.0.kind {
            Kind::Request(error) => Some(error),
            Kind::Body(error) => Some(error),
            _ => None,
        }
    }
}
