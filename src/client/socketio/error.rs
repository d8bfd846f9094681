//! What can go wrong on a Socket.IO connection.

use std::fmt;
use std::sync::Arc;

use crate::BoxError;

/// An error of the Socket.IO client, from
/// [`UpdateSource::updates`](crate::source::UpdateSource::updates) or as an
/// item of its stream.
///
/// It is opaque: ask what happened with the `is_*` methods, and find the
/// cause through [`source`](std::error::Error::source). Errors that retrying
/// cannot fix (a bad URL or header, a namespace the server refuses with a
/// `connect_error`, a topic it forbids) reach the caller wrapped in
/// [`Permanent`](crate::source::Permanent), so a
/// [`LiveResource`](crate::LiveResource) stops retrying on them.
///
/// # Examples
///
/// ```
/// use live_resource::client::socketio::SocketIoError;
///
/// fn explain(error: &live_resource::BoxError) -> String {
///     match error.downcast_ref::<SocketIoError>() {
///         Some(sio) if sio.is_disconnect() => "the connection dropped: reconnecting".into(),
///         Some(sio) if sio.is_refused() => format!("the server refused us: {sio}"),
///         Some(sio) => format!("{:?}: {sio}", sio.server_code()),
///         None => error.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Clone)]
pub struct SocketIoError {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug)]
enum Kind {
    /// The URL or a header is invalid.
    Config(String),
    /// The connection could not be opened.
    Connect(String),
    /// The server broke the Engine.IO or Socket.IO protocol.
    Protocol(String),
    /// The server refused the namespace with a `connect_error`.
    Refused(String),
    /// The connection was lost, or the server left the namespace.
    Disconnected(String),
    /// The server sent an `error` event about the topic.
    Server { code: String, message: String },
    /// The server did not send what was asked for in time.
    Timeout(String),
}

impl SocketIoError {
    pub(super) fn config(detail: impl Into<String>) -> Self {
        Self::new(Kind::Config(detail.into()), None)
    }

    pub(super) fn connect(url: &str, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Connect(url.to_owned()), Some(source.into()))
    }

    pub(super) fn protocol(detail: impl Into<String>) -> Self {
        Self::new(Kind::Protocol(detail.into()), None)
    }

    pub(super) fn refused(message: impl Into<String>) -> Self {
        Self::new(Kind::Refused(message.into()), None)
    }

    pub(super) fn disconnected(reason: impl Into<String>) -> Self {
        Self::new(Kind::Disconnected(reason.into()), None)
    }

    pub(super) fn server(code: &str, message: &str) -> Self {
        let kind = Kind::Server {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        Self::new(kind, None)
    }

    pub(super) fn timeout(what: impl Into<String>) -> Self {
        Self::new(Kind::Timeout(what.into()), None)
    }

    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Self {
            inner: Arc::new(Inner { kind, source }),
        }
    }

    /// Whether the client is misconfigured: an invalid URL or header.
    pub fn is_config(&self) -> bool {
        matches!(self.inner.kind, Kind::Config(_))
    }

    /// Whether the connection could not be opened (refused, timed out, or
    /// the upgrade was answered with an HTTP error).
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Connect(_))
    }

    /// Whether the server sent something that is not Engine.IO v4 or
    /// Socket.IO v5.
    pub fn is_protocol(&self) -> bool {
        matches!(self.inner.kind, Kind::Protocol(_))
    }

    /// Whether the server refused to connect the namespace (a `connect_error`,
    /// as its middleware sends on failed authentication).
    pub fn is_refused(&self) -> bool {
        matches!(self.inner.kind, Kind::Refused(_))
    }

    /// Whether an open connection was lost, went silent, or the server left
    /// the namespace.
    pub fn is_disconnect(&self) -> bool {
        matches!(self.inner.kind, Kind::Disconnected(_))
    }

    /// Whether the server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// The `code` of the server's `error` event (`unknown_topic`,
    /// `forbidden`, `too_many_subscriptions`, ..), if this is one.
    pub fn server_code(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for SocketIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::Config(detail) => write!(f, "invalid socket.io client settings: {detail}")?,
            Kind::Connect(url) => write!(f, "connecting to {url} failed")?,
            Kind::Protocol(detail) => {
                write!(f, "the socket.io server broke the protocol: {detail}")?
            }
            Kind::Refused(message) => {
                write!(f, "the socket.io server refused the namespace: {message}")?
            }
            Kind::Disconnected(reason) => write!(f, "the socket.io connection was lost: {reason}")?,
            Kind::Server { code, message } => {
                write!(f, "the server refused the topic ({code}): {message}")?;
            }
            Kind::Timeout(what) => write!(f, "timed out waiting for {what}")?,
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SocketIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoError")
            .field("kind", &self.inner.kind)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl std::error::Error for SocketIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_was_being_done() {
        let error = SocketIoError::server("unknown_topic", "no such topic");
        assert_eq!(
            error.to_string(),
            "the server refused the topic (unknown_topic): no such topic"
        );
        assert_eq!(error.server_code(), Some("unknown_topic"));
        let error = SocketIoError::connect("ws://h/socket.io/", "connection refused");
        assert!(error.is_connect());
        assert_eq!(
            error.to_string(),
            "connecting to ws://h/socket.io/ failed: connection refused"
        );
        assert!(SocketIoError::refused("bad token").is_refused());
    }
}
