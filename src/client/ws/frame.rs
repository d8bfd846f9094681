//! The messages of the WebSocket protocol, as this client reads them: the
//! meaning of each is the protocol module's; this file routes it to a topic.

use super::WsError;
use crate::protocol::inbound::{self, Head, Meaning};
use crate::source::Event;
use crate::{Error, Limits};

pub(super) use crate::protocol::Request;

/// What one server message means for the topics.
#[derive(Debug)]
pub(super) enum Inbound {
    /// An event for the topic's subscribers.
    Event { topic: String, event: Event },
    /// An error for the topic's subscribers; their streams go on.
    Error { topic: String, error: WsError },
    /// The server dropped the topic's subscription: the error ends its streams.
    End {
        topic: String,
        error: WsError,
        /// Retrying cannot help (the topic is forbidden).
        permanent: bool,
    },
    /// A message that names no topic, so cannot be routed: why, for the log.
    Unroutable(String),
    /// A message type this client does not know, from a newer server.
    Unknown { kind: String },
}

/// An event for `topic`'s stream, or what was wrong with its message.
fn on_topic(topic: String, read: Result<Event, Error>) -> Inbound {
    match read {
        Ok(event) => Inbound::Event { topic, event },
        Err(error) => Inbound::Error {
            error: WsError::message(&topic, error),
            topic,
        },
    }
}

/// Reads one server message, checking it against `limits`.
///
/// The envelope (`type`, `topic`) is read first, so that a message that
/// breaks a limit or the wire form is still reported on its own topic.
pub(super) fn parse(text: &str, limits: &Limits) -> Inbound {
    if let Some((topic, update)) = inbound::quick_update(text, limits) {
        return on_topic(topic.to_owned(), update.map(Event::Update));
    }
    if let Some((topic, snapshot)) = inbound::quick_snapshot(text, limits) {
        return on_topic(topic.to_owned(), snapshot.map(Event::SnapshotText));
    }
    let head = match serde_json::from_str::<Head>(text) {
        Ok(head) => head,
        Err(error) => return Inbound::Unroutable(format!("not a JSON object: {error}")),
    };
    let Some(topic) = head.topic() else {
        return Inbound::Unroutable(match head.kind() {
            Some("error") => format!(
                "the server refused a request: code {}, message {}",
                head.code.as_ref().unwrap_or(&serde_json::Value::Null),
                head.message.as_ref().unwrap_or(&serde_json::Value::Null)
            ),
            _ => "a message without a `topic`".to_owned(),
        });
    };
    let topic = topic.to_owned();
    let Some(kind) = head.kind() else {
        let error = <serde_json::Error as serde::de::Error>::custom(
            "a message needs a string `type`: update, snapshot, resync, heartbeat or error",
        );
        return Inbound::Error {
            error: WsError::message(&topic, Error::Malformed(error)),
            topic,
        };
    };
    match inbound::read(kind, &head, text, limits) {
        Some(Meaning::Event(event)) => on_topic(topic, Ok(event)),
        Some(Meaning::Bad(error)) => on_topic(topic, Err(error)),
        Some(Meaning::Refused(refusal)) => {
            let error = WsError::server(&topic, &refusal.code, &refusal.message);
            if refusal.ends_subscription() {
                Inbound::End {
                    topic,
                    error,
                    permanent: refusal.is_permanent(),
                }
            } else {
                Inbound::Error { topic, error }
            }
        }
        None => Inbound::Unknown {
            kind: kind.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Snapshot, Update};
    use serde_json::json;

    fn parse_default(text: &str) -> Inbound {
        parse(text, &Limits::default())
    }

    #[test]
    fn requests_are_in_the_wire_form() {
        let subscribe = Request::Subscribe {
            topic: "quotes".into(),
            since: Some(17),
        };
        assert_eq!(
            subscribe.to_text(),
            r#"{"type":"subscribe","topic":"quotes","since":17}"#
        );
        let fresh = Request::Subscribe {
            topic: "quotes".into(),
            since: None,
        };
        assert_eq!(fresh.to_text(), r#"{"type":"subscribe","topic":"quotes"}"#);
        let unsubscribe = Request::Unsubscribe {
            topic: "quotes".into(),
        };
        assert_eq!(
            unsubscribe.to_text(),
            r#"{"type":"unsubscribe","topic":"quotes"}"#
        );
    }

    #[test]
    fn each_message_type_becomes_its_event() {
        let cases = [
            (
                r#"{"type":"snapshot","topic":"q","version":17,"data":{"a":1}}"#,
                Event::Snapshot(Snapshot::new(17, json!({"a": 1}))),
            ),
            // Members in another order: read whole.
            (
                r#"{"type":"snapshot","topic":"q","data":{"a":1},"version":17}"#,
                Event::Snapshot(Snapshot::new(17, json!({"a": 1}))),
            ),
            (
                r#"{"type":"update","topic":"q","seq":18,"merge":{"a":2}}"#,
                Event::Update(Update::merge(18, json!({"a": 2}))),
            ),
            (r#"{"type":"resync","topic":"q"}"#, Event::Resync),
            (
                r#"{"type":"heartbeat","topic":"q","seq":18}"#,
                Event::Heartbeat(Some(18)),
            ),
            (
                r#"{"type":"heartbeat","topic":"q","seq":null}"#,
                Event::Heartbeat(None),
            ),
        ];
        for (text, expected) in cases {
            match parse_default(text) {
                Inbound::Event { topic, event } => {
                    assert_eq!(topic, "q", "{text}");
                    // Kept as text, for the subscribers that read it in
                    // pages; the others read it whole.
                    let event = match event {
                        Event::SnapshotText(text) => Event::Snapshot(text.to_snapshot().unwrap()),
                        event => event,
                    };
                    assert_eq!(event, expected, "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn refusals_end_the_topic_and_forbidden_is_permanent() {
        let cases = [
            ("unknown_topic", true, false),
            ("too_many_subscriptions", true, false),
            ("forbidden", true, true),
            ("something_new", false, false),
        ];
        for (code, ends, expect_permanent) in cases {
            let text = format!(r#"{{"type":"error","topic":"q","code":"{code}","message":"no"}}"#);
            match parse_default(&text) {
                Inbound::End {
                    topic,
                    error,
                    permanent,
                } => {
                    assert!(ends, "{code}");
                    assert_eq!(topic, "q");
                    assert_eq!(permanent, expect_permanent, "{code}");
                    assert_eq!(error.server_code(), Some(code));
                }
                Inbound::Error { error, .. } => {
                    assert!(!ends, "{code}");
                    assert_eq!(error.server_code(), Some(code));
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_messages_with_a_topic_are_errors_on_it() {
        let limits = Limits::default().max_depth(2).max_message_bytes(200);
        let long = format!(
            r#"{{"type":"update","topic":"q","seq":1,"merge":{{"x":"{}"}}}}"#,
            "y".repeat(300)
        );
        let cases = [
            r#"{"topic":"q","seq":1,"merge":{}}"#.to_owned(),
            r#"{"type":"update","topic":"q","seq":1,"patch":[{"op":"bogus"}]}"#.to_owned(),
            r#"{"type":"update","topic":"q","seq":1,"merge":{"a":{"b":{"c":1}}}}"#.to_owned(),
            r#"{"type":"snapshot","topic":"q","version":1}"#.to_owned(),
            r#"{"type":"heartbeat","topic":"q","seq":"x"}"#.to_owned(),
            long,
        ];
        for text in cases {
            match parse(&text, &limits) {
                Inbound::Error { topic, error } => {
                    assert_eq!(topic, "q", "{text}");
                    assert!(error.is_bad_message(), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_update_whose_patch_is_not_json_is_an_error_on_its_topic() {
        // Short: read strictly, refused before it reaches the state.
        let short = r#"{"type":"update","topic":"q","seq":1,"merge":{"a":}}"#;
        match parse_default(short) {
            Inbound::Error { topic, error } => {
                assert_eq!(topic, "q");
                assert!(error.is_bad_message(), "{error:?}");
            }
            other => panic!("{other:?}"),
        }
        // Past what is worth recording: read lazily, refused when applied,
        // with nothing written.
        let long = format!(
            r#"{{"type":"update","topic":"q","seq":1,"merge":{{"a":"{}","b":}}}}"#,
            "x".repeat(20 << 10)
        );
        let Inbound::Event {
            topic,
            event: Event::Update(update),
        } = parse_default(&long)
        else {
            panic!("a long update is read lazily");
        };
        assert_eq!(topic, "q");
        let mut state = crate::Document::from(serde_json::json!({"a": 1}));
        assert!(matches!(
            state.apply(&update.patch),
            Err(Error::Malformed(_))
        ));
        assert_eq!(state, serde_json::json!({"a": 1}));
    }

    #[test]
    fn an_update_that_names_its_topic_or_type_twice_is_not_routed() {
        for text in [
            r#"{"type":"update","topic":"a","topic":"b","seq":1,"merge":{}}"#,
            r#"{"type":"update","type":"snapshot","topic":"a","seq":1,"merge":{}}"#,
        ] {
            match parse_default(text) {
                Inbound::Unroutable(why) => assert!(why.contains("duplicate"), "{text}: {why}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn messages_without_a_topic_cannot_be_routed() {
        for text in [
            "not json",
            "[1,2]",
            r#"["update","q"]"#,
            r#"{"type":"update","seq":1,"merge":{}}"#,
            r#"{"type":"update","topic":7,"seq":1,"merge":{}}"#,
            r#"{"type":"error","code":"bad_message","message":"what?"}"#,
            r#"{"type":"resync","topic":"a","topic":"b"}"#,
        ] {
            assert!(
                matches!(parse_default(text), Inbound::Unroutable(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_types_are_told_apart() {
        assert!(matches!(
            parse_default(r#"{"type":"presence","topic":"q","who":["a"]}"#),
            Inbound::Unknown { kind } if kind == "presence"
        ));
    }
}
