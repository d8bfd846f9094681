//! The messages of the WebSocket protocol, as this client reads and writes them.

use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserializer, IgnoredAny};
use serde_json::Value;

use super::WsError;
use crate::source::Event;
use crate::{Error, Limits};

/// What the client sends.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum Request<'a> {
    Subscribe {
        topic: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    Unsubscribe {
        topic: &'a str,
    },
}

impl Request<'_> {
    pub(super) fn to_text(&self) -> String {
        serde_json::to_string(self).expect("requests always serialize")
    }
}

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

/// Reads one server message, checking it against `limits`.
///
/// The envelope (`type`, `topic`) is read first, so that a message that
/// breaks a limit or the wire form is still reported on its own topic.
pub(super) fn parse(text: &str, limits: &Limits) -> Inbound {
    if let Some(inbound) = quick_update(text, limits) {
        return inbound;
    }
    let envelope = match serde_json::from_str::<Envelope>(text) {
        Ok(envelope) => envelope,
        Err(error) => return Inbound::Unroutable(format!("not a JSON object: {error}")),
    };
    let kind = envelope.kind.as_ref().and_then(Value::as_str);
    let Some(topic) = envelope.topic.as_ref().and_then(Value::as_str) else {
        return Inbound::Unroutable(match (kind, envelope.code.as_ref(), envelope.message) {
            (Some("error"), code, message) => format!(
                "the server refused a request: code {}, message {}",
                code.unwrap_or(&Value::Null),
                message.unwrap_or(Value::Null)
            ),
            _ => "a message without a `topic`".to_owned(),
        });
    };
    let topic = topic.to_owned();
    let malformed = |error: Error| Inbound::Error {
        error: WsError::message(&topic, error),
        topic: topic.clone(),
    };
    let event = match kind {
        Some("update") => match limits.parse_update_lazy(text) {
            Ok(update) => Event::Update(update),
            Err(error) => return malformed(error),
        },
        Some("snapshot") => match limits.parse_snapshot(text.as_bytes()) {
            Ok(snapshot) => Event::Snapshot(snapshot),
            Err(error) => return malformed(error),
        },
        Some("resync") => Event::Resync,
        Some("heartbeat") => match serde_json::from_value(envelope.seq.unwrap_or(Value::Null)) {
            Ok(seq) => Event::Heartbeat(seq),
            Err(error) => return malformed(Error::Malformed(error)),
        },
        Some("error") => {
            let code = envelope.code.as_ref().and_then(Value::as_str).unwrap_or("");
            let message = envelope
                .message
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("");
            let error = WsError::server(&topic, code, message);
            // After these the server holds no subscription for the topic.
            let (ends, permanent) = match code {
                "forbidden" => (true, true),
                "unknown_topic" | "too_many_subscriptions" => (true, false),
                _ => (false, false),
            };
            return if ends {
                Inbound::End {
                    topic,
                    error,
                    permanent,
                }
            } else {
                Inbound::Error { topic, error }
            };
        }
        Some(other) => {
            return Inbound::Unknown {
                kind: other.to_owned(),
            };
        }
        None => {
            let error = <serde_json::Error as de::Error>::custom(
                "a message needs a string `type`: update, snapshot, resync, heartbeat or error",
            );
            return malformed(Error::Malformed(error));
        }
    };
    Inbound::Event { topic, event }
}

/// The common message, an update as this crate's servers write it
/// (`{"type":"update","topic":"quotes","seq":18,"merge":..}`), read without
/// building its envelope: the update is read lazily, as far as its patch,
/// on from the envelope's members read here.
/// `None` for anything else, or anything wrong, which [`parse`] then reads
/// in full and reports.
fn quick_update(text: &str, limits: &Limits) -> Option<Inbound> {
    let mut reader = crate::patch::Reader::new(text);
    reader.expect(b'{').ok()?;
    let kind = reader.string_member(true, "type").ok()?;
    let topic = reader.string_member(false, "topic").ok()?;
    if kind != "update" {
        return None;
    }
    let update = limits.parse_envelope_update_lazy(text, reader).ok()?;
    Some(Inbound::Event {
        topic: topic.to_owned(),
        event: Event::Update(update),
    })
}

/// The members every server message may have; the payload (`data`, `merge`,
/// ..) is skipped here and read by [`Limits`] once the type is known.
#[derive(Default)]
struct Envelope {
    kind: Option<Value>,
    topic: Option<Value>,
    seq: Option<Value>,
    code: Option<Value>,
    message: Option<Value>,
}

impl<'de> de::Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

/// Reads only a JSON object (never an array of fields), member by member.
struct EnvelopeVisitor;

impl<'de> de::Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a message object such as {"type":"update","topic":"quotes",..}"#)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "type" => &mut envelope.kind,
                "topic" => &mut envelope.topic,
                "seq" => &mut envelope.seq,
                "code" => &mut envelope.code,
                "message" => &mut envelope.message,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.replace(map.next_value()?).is_some() {
                return Err(de::Error::custom(format!("duplicate member `{key}`")));
            }
        }
        Ok(envelope)
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
            topic: "quotes",
            since: Some(17),
        };
        assert_eq!(
            subscribe.to_text(),
            r#"{"type":"subscribe","topic":"quotes","since":17}"#
        );
        let fresh = Request::Subscribe {
            topic: "quotes",
            since: None,
        };
        assert_eq!(fresh.to_text(), r#"{"type":"subscribe","topic":"quotes"}"#);
        let unsubscribe = Request::Unsubscribe { topic: "quotes" };
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
