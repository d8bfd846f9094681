//! What can go wrong on a WebSocket connection, per topic.

use std::sync::Arc;
use std::time::Duration;

use crate::BoxError;

/// An error of the WebSocket client, as an item of a topic's
/// [`EventStream`](crate::source::EventStream) or from
/// [`UpdateSource::updates`](crate::source::UpdateSource::updates).
///
/// It is opaque: ask what happened with the `is_*` methods, and find the
/// cause through [`source`](std::error::Error::source). Errors that retrying
/// cannot fix (a refused topic, a bad URL, a server certificate refused, an
/// upgrade the server answers with 401, 403 or 404) reach the stream wrapped in
/// [`Permanent`](crate::source::Permanent), so a
/// [`LiveResource`](crate::LiveResource) stops retrying on them.
///
/// Cloning is cheap: a lost connection reports the same error to every topic.
///
/// # Examples
///
/// ```
/// use live_resource::client::ws::WsError;
/// use live_resource::source::Permanent;
///
/// fn explain(error: &live_resource::BoxError) -> String {
///     let permanent = Permanent::is_permanent(&**error);
///     match error.downcast_ref::<WsError>() {
///         Some(ws) if ws.is_disconnect() => "the connection dropped: reconnecting".into(),
///         Some(ws) => format!("{:?} says {ws}", ws.server_code()),
///         None if permanent => format!("giving up: {error}"),
///         None => error.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[error(transparent)]
pub struct WsError(Arc<Kind>);

#[derive(Debug, thiserror::Error)]
enum Kind {
    /// The URL or a header is invalid.
    #[error("invalid websocket client settings: {detail}")]
    Config {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The connection could not be opened.
    #[error("connecting to {url} failed")]
    Connect {
        url: String,
        #[source]
        source: BoxError,
    },
    /// The connection was lost, or closed.
    #[error("the websocket connection was lost: {0}")]
    Disconnected(String),
    /// The server sent an `error` message about a topic; its reason is the
    /// source (for `unknown_topic`, the crate's [`Error::UnknownTopic`](crate::Error::UnknownTopic)).
    #[error("refused by the server")]
    Server {
        topic: String,
        code: String,
        #[source]
        reason: BoxError,
    },
    /// A server message broke the [`Limits`](crate::Limits) or the wire form.
    #[error("bad message for topic `{topic}`")]
    Message {
        topic: String,
        #[source]
        source: crate::Error,
    },
    /// The server did not answer in time.
    #[error("no snapshot of topic `{topic}` within {after:?}")]
    Timeout { topic: String, after: Duration },
}

impl WsError {
    pub(super) fn config(detail: impl Into<String>, source: Option<BoxError>) -> Self {
        Self::new(Kind::Config {
            detail: detail.into(),
            source,
        })
    }

    pub(super) fn connect(url: &str, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Connect {
            url: url.to_owned(),
            source: source.into(),
        })
    }

    pub(super) fn disconnected(reason: impl Into<String>) -> Self {
        Self::new(Kind::Disconnected(reason.into()))
    }

    pub(super) fn server(topic: &str, code: &str, message: &str) -> Self {
        Self::new(Kind::Server {
            topic: topic.to_owned(),
            code: code.to_owned(),
            reason: crate::client::refusal_reason(topic, code, message),
        })
    }

    pub(super) fn message(topic: &str, source: crate::Error) -> Self {
        Self::new(Kind::Message {
            topic: topic.to_owned(),
            source,
        })
    }

    pub(super) fn timeout(topic: &str, after: Duration) -> Self {
        Self::new(Kind::Timeout {
            topic: topic.to_owned(),
            after,
        })
    }

    fn new(kind: Kind) -> Self {
        Self(Arc::new(kind))
    }

    /// The topic the error is about, if it is about one.
    pub fn topic(&self) -> Option<&str> {
        match &*self.0 {
            Kind::Server { topic, .. }
            | Kind::Message { topic, .. }
            | Kind::Timeout { topic, .. } => Some(topic),
            Kind::Config { .. } | Kind::Connect { .. } | Kind::Disconnected(_) => None,
        }
    }

    /// Whether the client is misconfigured: an invalid URL or header.
    pub fn is_config(&self) -> bool {
        matches!(*self.0, Kind::Config { .. })
    }

    /// Whether the connection could not be opened (refused, timed out, or
    /// the upgrade was answered with an HTTP error).
    pub fn is_connect(&self) -> bool {
        matches!(*self.0, Kind::Connect { .. })
    }

    /// Whether an open connection was lost or closed.
    pub fn is_disconnect(&self) -> bool {
        matches!(*self.0, Kind::Disconnected(_))
    }

    /// Whether a message from the server broke the [`Limits`](crate::Limits)
    /// or the wire form; the cause is a [`crate::Error`].
    pub fn is_bad_message(&self) -> bool {
        matches!(*self.0, Kind::Message { .. })
    }

    /// Whether the server did not send what was asked for in time.
    pub fn is_timeout(&self) -> bool {
        matches!(*self.0, Kind::Timeout { .. })
    }

    /// The `code` of the server's `error` message (`unknown_topic`,
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
        let error = WsError::server("jobs/1", "unknown_topic", "no such topic");
        assert_eq!(error.to_string(), "refused by the server");
        assert_eq!(error.server_code(), Some("unknown_topic"));
        assert_eq!(error.topic(), Some("jobs/1"));
        let cause = std::error::Error::source(&error).unwrap();
        assert!(matches!(
            cause.downcast_ref::<crate::Error>(),
            Some(crate::Error::UnknownTopic { topic }) if topic == "jobs/1"
        ));
        assert!(crate::Error::Updates(error.into()).is_unknown_topic());

        let error = WsError::server("jobs/1", "forbidden", "not yours");
        assert_eq!(
            Chain(&error).to_string(),
            "refused by the server: not yours"
        );
        assert!(!crate::Error::Updates(error.into()).is_unknown_topic());

        let error = WsError::message("a", crate::Error::TooDeep { max: 4 });
        assert!(error.is_bad_message());
        let cause = std::error::Error::source(&error).unwrap();
        assert!(matches!(
            cause.downcast_ref::<crate::Error>(),
            Some(crate::Error::TooDeep { max: 4 })
        ));
        assert_eq!(
            Chain(&error).to_string(),
            "bad message for topic `a`: message nests deeper than the limit of 4 levels"
        );

        let error = WsError::connect("ws://h/live/ws", "connection refused");
        assert_eq!(
            Chain(&error).to_string(),
            "connecting to ws://h/live/ws failed: connection refused"
        );
    }
}
