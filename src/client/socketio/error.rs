//! What can go wrong on a Socket.IO connection.

use std::sync::Arc;

use crate::BoxError;

/// An error of the Socket.IO client, from
/// [`UpdateSource::updates`](crate::source::UpdateSource::updates) or as an
/// item of its stream.
///
/// It is opaque: ask what happened with the `is_*` methods, and find the
/// cause through [`source`](std::error::Error::source). Errors that retrying
/// cannot fix (a bad URL or header, a server certificate refused, a
/// namespace the server refuses with a `connect_error`, a topic it forbids)
/// reach the caller wrapped in
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
#[derive(Clone, Debug, thiserror::Error)]
#[error(transparent)]
pub struct SocketIoError(Arc<Kind>);

#[derive(Debug, thiserror::Error)]
enum Kind {
    /// The URL or a header is invalid.
    #[error("invalid socket.io client settings: {0}")]
    Config(String),
    /// The connection could not be opened.
    #[error("connecting to {url} failed")]
    Connect {
        url: String,
        #[source]
        source: BoxError,
    },
    /// The server broke the Engine.IO or Socket.IO protocol.
    #[error("the socket.io server broke the protocol: {0}")]
    Protocol(String),
    /// The server refused the namespace with a `connect_error`.
    #[error("the socket.io server refused the namespace: {0}")]
    Refused(String),
    /// The connection was lost, or the server left the namespace.
    #[error("the socket.io connection was lost: {0}")]
    Disconnected(String),
    /// The server sent an `error` event about the topic; its reason is the
    /// source (for `unknown_topic`, the crate's [`Error::UnknownTopic`](crate::Error::UnknownTopic)).
    #[error("refused by the server")]
    Server {
        code: String,
        #[source]
        reason: BoxError,
    },
    /// The server did not send what was asked for in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

impl SocketIoError {
    pub(super) fn config(detail: impl Into<String>) -> Self {
        Self::new(Kind::Config(detail.into()))
    }

    pub(super) fn connect(url: &str, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Connect {
            url: url.to_owned(),
            source: source.into(),
        })
    }

    pub(super) fn protocol(detail: impl Into<String>) -> Self {
        Self::new(Kind::Protocol(detail.into()))
    }

    pub(super) fn refused(message: impl Into<String>) -> Self {
        Self::new(Kind::Refused(message.into()))
    }

    pub(super) fn disconnected(reason: impl Into<String>) -> Self {
        Self::new(Kind::Disconnected(reason.into()))
    }

    pub(super) fn server(topic: &str, code: &str, message: &str) -> Self {
        Self::new(Kind::Server {
            code: code.to_owned(),
            reason: crate::client::refusal_reason(topic, code, message),
        })
    }

    pub(super) fn timeout(what: impl Into<String>) -> Self {
        Self::new(Kind::Timeout(what.into()))
    }

    fn new(kind: Kind) -> Self {
        Self(Arc::new(kind))
    }

    /// Whether the client is misconfigured: an invalid URL or header.
    pub fn is_config(&self) -> bool {
        matches!(*self.0, Kind::Config(_))
    }

    /// Whether the connection could not be opened (refused, timed out, or
    /// the upgrade was answered with an HTTP error).
    pub fn is_connect(&self) -> bool {
        matches!(*self.0, Kind::Connect { .. })
    }

    /// Whether the server sent something that is not Engine.IO v4 or
    /// Socket.IO v5.
    pub fn is_protocol(&self) -> bool {
        matches!(*self.0, Kind::Protocol(_))
    }

    /// Whether the server refused to connect the namespace (a `connect_error`,
    /// as its middleware sends on failed authentication).
    pub fn is_refused(&self) -> bool {
        matches!(*self.0, Kind::Refused(_))
    }

    /// Whether an open connection was lost, went silent, or the server left
    /// the namespace.
    pub fn is_disconnect(&self) -> bool {
        matches!(*self.0, Kind::Disconnected(_))
    }

    /// Whether the server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(*self.0, Kind::Timeout(_))
    }

    /// The `code` of the server's `error` event (`unknown_topic`,
    /// `forbidden`, `too_many_subscriptions`, ..: see
    /// [`ErrorCode`](crate::protocol::ErrorCode)), if this is one.
    pub fn server_code(&self) -> Option<&str> {
        match &*self.0 {
            Kind::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Chain;

    #[test]
    fn messages_are_short_and_the_causes_follow() {
        let error = SocketIoError::server("stats", "unknown_topic", "no such topic");
        assert_eq!(error.to_string(), "refused by the server");
        assert_eq!(error.server_code(), Some("unknown_topic"));
        assert!(crate::Error::Subscribe(error.into()).is_unknown_topic());

        let error = SocketIoError::server("stats", "too_many_subscriptions", "at most 2");
        assert_eq!(
            Chain(&error).to_string(),
            "refused by the server: at most 2"
        );

        let error = SocketIoError::connect("ws://h/socket.io/", "connection refused");
        assert!(error.is_connect());
        assert_eq!(error.to_string(), "connecting to ws://h/socket.io/ failed");
        assert_eq!(
            Chain(&error).to_string(),
            "connecting to ws://h/socket.io/ failed: connection refused"
        );
        assert!(SocketIoError::refused("bad token").is_refused());
    }
}
