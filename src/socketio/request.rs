//! What a client asks, read in the order it arrives.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use socketioxide::adapter::LocalAdapter;
use socketioxide::handler::{MessageHandler, Value};
use socketioxide::socket::{DisconnectReason, Socket};
use tokio::sync::mpsc;

use crate::protocol::ErrorCode;
use crate::protocol::reply::Reply;
use crate::server::subscribe::Refused;
use crate::{Error, Limits};

/// What the socket's handlers tell its task.
#[derive(Debug)]
pub(super) enum Command {
    Subscribe { topic: String, since: Option<u64> },
    Unsubscribe { topic: String },
    Closed(DisconnectReason),
}

/// A client's request, as the payload of its event.
#[derive(Debug, Deserialize)]
pub(super) struct Request {
    pub(super) topic: String,
    #[serde(default)]
    pub(super) since: Option<u64>,
}

/// Which event a [`Requests`] handler reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Subscribe,
    Unsubscribe,
}

/// The handler of the `subscribe` or `unsubscribe` event of one socket.
///
/// socketioxide runs closures given as handlers in tasks of their own, which
/// may run in any order; this handler reads the request where it arrives and
/// queues it for the socket's connection task, so that an `unsubscribe`
/// never overtakes the `subscribe` before it.
#[derive(Clone)]
pub(super) struct Requests {
    pub(super) kind: Kind,
    pub(super) limits: Limits,
    pub(super) commands: mpsc::Sender<Command>,
}

impl MessageHandler<LocalAdapter, Requests> for Requests {
    fn call(&self, socket: Arc<Socket>, value: Value, _ack: Option<i64>) {
        let text = value.as_str().map_or("", |text| &**text);
        let request = match parse(text.as_bytes(), &self.limits) {
            Ok(request) => request,
            Err(error) => {
                refuse(&socket, None, Refused::unreadable(&error));
                return;
            }
        };
        let command = match self.kind {
            Kind::Subscribe => Command::Subscribe {
                topic: request.topic,
                since: request.since,
            },
            Kind::Unsubscribe => Command::Unsubscribe {
                topic: request.topic,
            },
        };
        if let Err(mpsc::error::TrySendError::Full(command)) = self.commands.try_send(command) {
            let topic = match &command {
                Command::Subscribe { topic, .. } | Command::Unsubscribe { topic } => topic,
                Command::Closed(_) => return,
            };
            let message = "too many requests are waiting: this one was dropped";
            let refused = Refused {
                code: ErrorCode::BadMessage,
                message: message.to_owned(),
            };
            refuse(&socket, Some(topic), refused);
        }
    }
}

fn refuse(socket: &Socket, topic: Option<&str>, Refused { code, message }: Refused) {
    crate::metrics::refused(crate::metrics::Transport::SocketIo, code);
    tracing::debug!(id = %socket.id, topic, %code, message, "socket.io request refused");
    let reply = Reply::Error {
        topic,
        code,
        message,
    };
    // A client whose queue is full misses this refusal, as it would any
    // other message: its next request is refused again.
    let _ = socket.emit("error", &reply);
}

/// Reads a request from the event's packet data, `["subscribe",{..}]`, after
/// checking its size and depth.
pub(super) fn parse(bytes: &[u8], limits: &Limits) -> Result<Request, Error> {
    limits
        .parse_message::<Arguments>(bytes)
        .map(|arguments| arguments.0)
}

/// An event's arguments: the name, then the request; more are ignored.
struct Arguments(Request);

impl<'de> Deserialize<'de> for Arguments {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ArgumentsVisitor)
    }
}

struct ArgumentsVisitor;

impl<'de> Visitor<'de> for ArgumentsVisitor {
    type Value = Arguments;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an event with a request, such as ["subscribe",{"topic":"quotes"}]"#)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arguments, A::Error> {
        const EXPECTED: &str = r#"a request object such as {"topic":"quotes"}"#;
        seq.next_element::<IgnoredAny>()?
            .ok_or_else(|| de::Error::invalid_length(0, &EXPECTED))?;
        let request = seq
            .next_element::<Request>()?
            .ok_or_else(|| de::Error::invalid_length(1, &EXPECTED))?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Arguments(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_from_the_event_arguments() {
        let limits = Limits::default();
        let request = parse(br#"["subscribe",{"topic":"quotes","since":17}]"#, &limits).unwrap();
        assert_eq!(
            (request.topic.as_str(), request.since),
            ("quotes", Some(17))
        );
        let request = parse(
            br#"["subscribe",{"topic":"a/b","since":null},"x"]"#,
            &limits,
        )
        .unwrap();
        assert_eq!((request.topic.as_str(), request.since), ("a/b", None));
        let request = parse(
            br#"["unsubscribe",{"type":"unsubscribe","topic":"q"}]"#,
            &limits,
        )
        .unwrap();
        assert_eq!(request.topic, "q");
    }

    #[test]
    fn bad_requests_are_refused_by_kind() {
        let limits = Limits::default().max_depth(2).max_message_bytes(64);
        for text in [
            r#"["subscribe"]"#,
            r#"["subscribe","quotes"]"#,
            r#"["subscribe",{"since":1}]"#,
            r#"{"topic":"q"}"#,
            "",
        ] {
            assert!(
                matches!(parse(text.as_bytes(), &limits), Err(Error::Malformed(_))),
                "{text}"
            );
        }
        let deep = br#"["subscribe",{"topic":"q","x":{"y":{}}}]"#;
        assert!(matches!(parse(deep, &limits), Err(Error::TooDeep { .. })));
        let long = format!(r#"["subscribe",{{"topic":"{}"}}]"#, "q".repeat(80));
        assert!(matches!(
            parse(long.as_bytes(), &limits),
            Err(Error::TooLarge { .. })
        ));
    }
}
