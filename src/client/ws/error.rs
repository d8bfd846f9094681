//! What can go wrong on a WebSocket connection, per topic.

use std::fmt;
use std::sync::Arc;

use crate::BoxError;

/// An error of the WebSocket client, as an item of a topic's
/// [`EventStream`](crate::source::EventStream) or from
/// [`UpdateSource::updates`](crate::source::UpdateSource::updates).
///
/// It is opaque: ask what happened with the `is_*` methods, and find the
/// cause through [`source`](std::error::Error::source). Errors that retrying
/// cannot fix (a refused topic, a bad URL, an upgrade the server answers
/// with 401, 403 or 404) reach the stream wrapped in
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
#[derive(Clone)]
pub struct WsError {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    topic: Option<String>,
    source: Option<BoxError>,
}

#[derive(Debug)]
enum Kind {
    /// The URL or a header is invalid.
    Config(String),
    /// The connection could not be opened.
    Connect(String),
    /// The connection was lost, or closed.
    Disconnected(String),
    /// The server sent an `error` message about a topic.
    Server { code: String, message: String },
    /// A server message broke the [`Limits`](crate::Limits) or the wire form.
    Message,
    /// The server did not answer in time.
    Timeout(std::time::Duration),
}

impl WsError {
    pub(super) fn config(detail: impl Into<String>, source: Option<BoxError>) -> Self {
        Self::new(Kind::Config(detail.into()), None, source)
    }

    pub(super) fn connect(url: &str, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Connect(url.to_owned()), None, Some(source.into()))
    }

    pub(super) fn disconnected(reason: impl Into<String>) -> Self {
        Self::new(Kind::Disconnected(reason.into()), None, None)
    }

    pub(super) fn server(topic: &str, code: &str, message: &str) -> Self {
        let kind = Kind::Server {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        Self::new(kind, Some(topic.to_owned()), None)
    }

    pub(super) fn message(topic: &str, source: crate::Error) -> Self {
        Self::new(Kind::Message, Some(topic.to_owned()), Some(source.into()))
    }

    pub(super) fn timeout(topic: &str, after: std::time::Duration) -> Self {
        Self::new(Kind::Timeout(after), Some(topic.to_owned()), None)
    }

    fn new(kind: Kind, topic: Option<String>, source: Option<BoxError>) -> Self {
        Self {
            inner: Arc::new(Inner {
                kind,
                topic,
                source,
            }),
        }
    }

    /// The topic the error is about, if it is about one.
    pub fn topic(&self) -> Option<&str> {
        self.inner.topic.as_deref()
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

    /// Whether an open connection was lost or closed.
    pub fn is_disconnect(&self) -> bool {
        matches!(self.inner.kind, Kind::Disconnected(_))
    }

    /// Whether a message from the server broke the [`Limits`](crate::Limits)
    /// or the wire form; the cause is a [`crate::Error`].
    pub fn is_bad_message(&self) -> bool {
        matches!(self.inner.kind, Kind::Message)
    }

    /// Whether the server did not send what was asked for in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// The `code` of the server's `error` message (`unknown_topic`,
    /// `forbidden`, `too_many_subscriptions`, ..), if this is one.
    pub fn server_code(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topic = self.topic().unwrap_or_default();
        match &self.inner.kind {
            Kind::Config(detail) => write!(f, "invalid websocket client settings: {detail}")?,
            Kind::Connect(url) => write!(f, "connecting to {url} failed")?,
            Kind::Disconnected(reason) => write!(f, "the websocket connection was lost: {reason}")?,
            Kind::Server { code, message } => {
                write!(f, "the server refused topic `{topic}` ({code}): {message}")?;
            }
            Kind::Message => write!(f, "bad message for topic `{topic}`")?,
            Kind::Timeout(after) => write!(f, "no snapshot of topic `{topic}` within {after:?}")?,
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsError")
            .field("kind", &self.inner.kind)
            .field("topic", &self.inner.topic)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl std::error::Error for WsError {
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
        let error = WsError::server("jobs/1", "unknown_topic", "no such topic");
        assert_eq!(
            error.to_string(),
            "the server refused topic `jobs/1` (unknown_topic): no such topic"
        );
        assert_eq!(error.server_code(), Some("unknown_topic"));
        assert_eq!(error.topic(), Some("jobs/1"));

        let error = WsError::message("a", crate::Error::TooDeep { max: 4 });
        assert!(error.is_bad_message());
        let cause = std::error::Error::source(&error).unwrap();
        assert!(matches!(
            cause.downcast_ref::<crate::Error>(),
            Some(crate::Error::TooDeep { max: 4 })
        ));
        assert_eq!(
            error.to_string(),
            "bad message for topic `a`: message nests deeper than the limit of 4 levels"
        );
    }
}
