//! The multi-topic wire protocol's vocabulary, in one place: the messages a
//! client and a server exchange over WebSocket (and, as events, over
//! Socket.IO), and the codes of the server's `error` message.
//!
//! Every server and client of this crate writes and reads these messages
//! through this module, so a rule of the protocol is written once:
//!
//! | from | message |
//! | --- | --- |
//! | client | `{"type":"subscribe","topic":"quotes","since":17}`; without `since` the snapshot comes first |
//! | client | `{"type":"unsubscribe","topic":"quotes"}` |
//! | server | `{"type":"snapshot","topic":"quotes","version":17,"data":..}` |
//! | server | `{"type":"update","topic":"quotes","seq":18,"merge":{..}}` (or `patch`, `replace`) |
//! | server | `{"type":"resync","topic":"quotes"}`: take a new snapshot |
//! | server | `{"type":"heartbeat","topic":"quotes","seq":18}`: the last `seq` sent |
//! | server | `{"type":"error","topic":"quotes","code":"unknown_topic","message":".."}` |
//!
//! Over Socket.IO each message is the payload of an event named after its
//! `type` (a client's request, without its `type`, likewise). Over SSE,
//! `GET /live/sse?topic=..` carries the server's messages, each as the `data`
//! of an event, for the topics its query names (the client's requests are
//! the query: `topic=quotes&since=quotes:17`); there a `resync` also ends
//! the topic on that stream. See the `server` module's *Many topics
//! over SSE*.

// The transports' sides of the protocol, for the transports built.
#[cfg(any(feature = "ws", feature = "socketio-client"))]
pub(crate) mod inbound;
#[cfg(feature = "server")]
pub(crate) mod reply;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize, Serializer};

/// The `code` of a server's `error` message.
///
/// The first three name a topic whose subscription does not exist after
/// the error ([`ends_subscription`](ErrorCode::ends_subscription)); the last
/// three are about a request the server could not read, and name no topic
/// (its subscriptions go on).
///
/// # Examples
///
/// ```
/// use live_resource::protocol::ErrorCode;
///
/// let code: ErrorCode = "forbidden".parse().unwrap();
/// assert_eq!(code, ErrorCode::Forbidden);
/// assert!(code.ends_subscription() && code.is_permanent());
/// assert_eq!(ErrorCode::UnknownTopic.as_str(), "unknown_topic");
/// assert!(!ErrorCode::UnknownTopic.is_permanent(), "the topic may come");
/// assert!("something_newer".parse::<ErrorCode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No such topic, or it was removed: retrying later may find it.
    UnknownTopic,
    /// The authorization hook refused the topic: retrying cannot help.
    Forbidden,
    /// The connection follows as many topics as the server allows.
    TooManySubscriptions,
    /// A request that is not JSON or not a request of the protocol.
    BadMessage,
    /// A request larger than the server's limit.
    TooLarge,
    /// A request nested deeper than the server's limit.
    TooDeep,
    /// The server cannot reach where its topics live (its backplane, such as
    /// Redis) just now: retrying later may succeed.
    Unavailable,
}

impl ErrorCode {
    const ALL: [Self; 7] = [
        Self::UnknownTopic,
        Self::Forbidden,
        Self::TooManySubscriptions,
        Self::BadMessage,
        Self::TooLarge,
        Self::TooDeep,
        Self::Unavailable,
    ];

    /// The code as it is written on the wire, such as `unknown_topic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownTopic => "unknown_topic",
            Self::Forbidden => "forbidden",
            Self::TooManySubscriptions => "too_many_subscriptions",
            Self::BadMessage => "bad_message",
            Self::TooLarge => "too_large",
            Self::TooDeep => "too_deep",
            Self::Unavailable => "unavailable",
        }
    }

    /// Whether the server holds no subscription to the topic after an error
    /// with this code: the client's stream of that topic ends.
    pub fn ends_subscription(self) -> bool {
        matches!(
            self,
            Self::UnknownTopic | Self::Forbidden | Self::TooManySubscriptions | Self::Unavailable
        )
    }

    /// Whether asking again cannot help.
    pub fn is_permanent(self) -> bool {
        self == Self::Forbidden
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code this crate does not know, from a newer server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode(String);

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown error code `{}`", self.0)
    }
}

impl std::error::Error for UnknownCode {}

impl FromStr for ErrorCode {
    type Err = UnknownCode;

    fn from_str(code: &str) -> Result<Self, UnknownCode> {
        Self::ALL
            .into_iter()
            .find(|known| known.as_str() == code)
            .ok_or_else(|| UnknownCode(code.to_owned()))
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a client asks of a WebSocket server.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Request<'a> {
    Subscribe {
        topic: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    Unsubscribe {
        topic: Cow<'a, str>,
    },
}

impl Request<'_> {
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).expect("requests always serialize")
    }
}

/// The update message, `{"type":"update","topic":..,"seq":18,"merge":..}`,
/// around an update's own wire text `{"seq":18,"merge":..}`.
pub(crate) fn update_envelope(topic: &str, update: &[u8]) -> Bytes {
    let topic = serde_json::to_string(topic).expect("strings always serialize");
    let mut envelope = BytesMut::with_capacity(update.len() + topic.len() + 32);
    envelope.put_slice(br#"{"type":"update","topic":"#);
    envelope.put_slice(topic.as_bytes());
    envelope.put_u8(b',');
    // The update's own members, without its opening brace.
    envelope.put_slice(&update[1..]);
    envelope.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_code_reads_back_from_its_text() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }

    #[test]
    fn requests_are_in_the_wire_form_and_read_back() {
        let cases = [
            (
                Request::Subscribe {
                    topic: "quotes".into(),
                    since: Some(17),
                },
                r#"{"type":"subscribe","topic":"quotes","since":17}"#,
            ),
            (
                Request::Subscribe {
                    topic: "quotes".into(),
                    since: None,
                },
                r#"{"type":"subscribe","topic":"quotes"}"#,
            ),
            (
                Request::Unsubscribe {
                    topic: "quotes".into(),
                },
                r#"{"type":"unsubscribe","topic":"quotes"}"#,
            ),
        ];
        for (request, text) in cases {
            assert_eq!(request.to_text(), text);
            let read: Request<'static> = serde_json::from_str(text).unwrap();
            assert_eq!(read, request);
        }
    }

    #[test]
    fn updates_are_wrapped_in_their_envelope() {
        let update = br#"{"seq":18,"merge":{"a":1}}"#;
        assert_eq!(
            &update_envelope("q\"", update)[..],
            br#"{"type":"update","topic":"q\"","seq":18,"merge":{"a":1}}"#
        );
    }
}
