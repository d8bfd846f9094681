//! [`HttpError`]: a failed request of the HTTP clients (snapshots and SSE).

use std::time::Duration;

use reqwest::header::HeaderName;
use reqwest::{StatusCode, Url};

use crate::BoxError;
use crate::client::{CertificateError, ServerMessage};

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
/// it boxed, wrapped in [`Permanent`] for `401` and `403`, and for a server
/// certificate the client refused: the [`source`](std::error::Error::source)
/// is then a [`CertificateError`]. When the response
/// body was refused by the [`Limits`], the [`source`](std::error::Error::source) is
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
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HttpError(Box<Kind>);

#[derive(Debug, thiserror::Error)]
enum Kind {
    /// The server answered with an error status; what it means, or the
    /// server's own text, is the source.
    #[error("GET {url}: {status}")]
    Status {
        url: Url,
        status: StatusCode,
        message: Option<String>,
        #[source]
        reason: Option<BoxError>,
    },
    /// The request could not be sent, or the response not read.
    #[error("GET {url} failed")]
    Request {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    /// The server's certificate was refused.
    #[error("GET {url} failed")]
    Certificate {
        url: Url,
        #[source]
        source: CertificateError,
    },
    /// No response came in time (the SSE client's own bound).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    #[error("GET {url}: no response within {after:?}")]
    TimedOut { url: Url, after: Duration },
    /// The body was refused by the limits, or did not parse.
    #[error("GET {url}: response refused")]
    Body {
        url: Url,
        #[source]
        source: crate::Error,
    },
    /// The version header was missing.
    #[error("GET {url}: no `{header}` header with the version")]
    NoVersion { url: Url, header: HeaderName },
    /// The version header did not hold a version.
    #[error("GET {url}: the `{header}` header `{value}` is not a version")]
    BadVersion {
        url: Url,
        header: HeaderName,
        value: String,
    },
    /// The response was not what the protocol says (an SSE stream that is not one).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    #[error("GET {url}: {message}")]
    Protocol { url: Url, message: String },
}

impl HttpError {
    /// An error status. A `404` of a topic means that the topic does not
    /// exist: [`Error::UnknownTopic`](crate::Error::UnknownTopic) is then the source.
    pub(crate) fn refused_with(
        url: &Url,
        status: StatusCode,
        message: Option<String>,
        topic: Option<&str>,
    ) -> Self {
        let reason: Option<BoxError> = match topic {
            Some(topic) if status == StatusCode::NOT_FOUND => {
                Some(Box::new(crate::Error::UnknownTopic {
                    topic: topic.to_owned(),
                }))
            }
            _ => message
                .clone()
                .map(|message| Box::new(ServerMessage(message)) as BoxError),
        };
        Self::new(Kind::Status {
            url: url.clone(),
            status,
            message,
            reason,
        })
    }

    pub(crate) fn request(url: &Url, error: reqwest::Error) -> Self {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or_default();
        if let Some(refused) = CertificateError::find(&error, &format!("{host}:{port}")) {
            return Self::new(Kind::Certificate {
                url: url.clone(),
                source: refused,
            });
        }
        // The URL is already ours to show.
        Self::new(Kind::Request {
            url: url.clone(),
            source: error.without_url(),
        })
    }

    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn timed_out(url: &Url, after: Duration) -> Self {
        Self::new(Kind::TimedOut {
            url: url.clone(),
            after,
        })
    }

    pub(crate) fn body(url: &Url, source: crate::Error) -> Self {
        Self::new(Kind::Body {
            url: url.clone(),
            source,
        })
    }

    pub(crate) fn version(url: &Url, header: &HeaderName, value: Option<String>) -> Self {
        let (url, header) = (url.clone(), header.clone());
        Self::new(match value {
            None => Kind::NoVersion { url, header },
            Some(value) => Kind::BadVersion { url, header, value },
        })
    }

    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn protocol(url: &Url, message: String) -> Self {
        Self::new(Kind::Protocol {
            url: url.clone(),
            message,
        })
    }

    fn new(kind: Kind) -> Self {
        Self(Box::new(kind))
    }

    /// The URL requested.
    pub fn url(&self) -> &Url {
        match &*self.0 {
            Kind::Status { url, .. }
            | Kind::Request { url, .. }
            | Kind::Certificate { url, .. }
            | Kind::TimedOut { url, .. }
            | Kind::Body { url, .. }
            | Kind::NoVersion { url, .. }
            | Kind::BadVersion { url, .. }
            | Kind::Protocol { url, .. } => url,
        }
    }

    /// The status of the response, when the server answered with an error status.
    pub fn status(&self) -> Option<StatusCode> {
        match &*self.0 {
            Kind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server's certificate was refused: the
    /// [`source`](std::error::Error::source) is then a [`CertificateError`]
    /// that says why.
    pub fn is_certificate(&self) -> bool {
        matches!(*self.0, Kind::Certificate { .. })
    }

    /// The text of the server's `{"error":..}` body, when it answered with one.
    pub fn server_message(&self) -> Option<&str> {
        match &*self.0 {
            Kind::Status { message, .. } => message.as_deref(),
            _ => None,
        }
    }
}
