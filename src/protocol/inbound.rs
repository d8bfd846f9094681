//! What a client reads: a server message's members, and what it means for
//! the subscription to its topic.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de;
use serde_json::Value;

use super::ErrorCode;
use crate::source::{Event, SnapshotText};
use crate::text::{LONGEST_TAPED, Reader, Token};
use crate::{Error, Limits, Update};

/// The common message, an update as this crate's servers write it
/// (`{"type":"update","topic":"quotes","seq":18,"merge":..}`), read without
/// building its envelope: its topic, and the update read on from the
/// envelope's members read here; or, when what follows them is not JSON,
/// the error that says so, for its topic. `None` for any other message, or
/// one that breaks a bound or the update's form, which the client then
/// reads with [`Head`] and [`read`].
///
/// Read strictly or lazily by its length ([`read_lazily`]): a short one
/// whose patch is malformed is refused before it reaches the state.
pub(crate) fn quick_update<'t>(
    text: &'t str,
    limits: &Limits,
) -> Option<(&'t str, Result<Update, Error>)> {
    let ("update", topic, reader) = envelope(text)? else {
        return None;
    };
    let lazy = read_lazily(text);
    match limits.parse_lazy(text, || Update::read_merge_from(text, reader, true, lazy)) {
        Ok(update) => Some((topic, Ok(update))),
        // Not JSON past its envelope: an error on the topic it names, as it
        // would be when applied had it been read lazily.
        Err(Error::Malformed(error)) if error.is_syntax() || error.is_eof() => {
            Some((topic, Err(Error::Malformed(error))))
        }
        // JSON, but not an update as written here (a member named twice, a
        // bound broken): read whole, to tell what it is and whose.
        Err(_) => None,
    }
}

/// A snapshot as this crate's servers write it
/// (`{"type":"snapshot","topic":"quotes","version":17,"data":..}`): its
/// topic, and the snapshot checked against the limits and kept as its
/// text, for the resource to read its state a page at a time. `None` for
/// anything else, which the client reads with [`Head`] and [`read`].
pub(crate) fn quick_snapshot<'t>(
    text: &'t str,
    limits: &Limits,
) -> Option<(&'t str, Result<SnapshotText, Error>)> {
    let ("snapshot", topic, mut reader) = envelope(text)? else {
        return None;
    };
    if let Err(error) = limits.check_text(text.as_bytes(), limits.max_snapshot_bytes) {
        return Some((topic, Err(error)));
    }
    let (version, data) = crate::source::snapshot_text::read_to_data(&mut reader, false)?;
    Some((topic, Ok(SnapshotText::new(Arc::from(text), version, data))))
}

/// The `type` and `topic` a message begins with, as this crate's servers
/// write it, and a reader just past them.
fn envelope(text: &str) -> Option<(&str, &str, Reader<'_>)> {
    let mut reader = Reader::new(text);
    reader.expect(b'{').ok()?;
    let kind = plain_string_member(&mut reader, true, "type")?;
    let topic = plain_string_member(&mut reader, false, "topic")?;
    Some((kind, topic, reader))
}

/// Whether an update message is read lazily: past what is worth recording
/// ([`LONGEST_TAPED`]), its patch is checked as it is merged, in one pass
/// over it; a shorter one is checked and recorded when read, and merged
/// from the record, which for the usual few fields costs less.
fn read_lazily(text: &str) -> bool {
    text.len() > LONGEST_TAPED
}

/// The member `name`, which must come next and be a string without escapes
/// (the envelope's own members never need any).
fn plain_string_member<'t>(reader: &mut Reader<'t>, first: bool, name: &str) -> Option<&'t str> {
    if reader.plain_key(first).ok()? != Some(name) {
        return None;
    }
    match reader.token().ok()? {
        Token::String(Cow::Borrowed(value)) => Some(value),
        _ => None,
    }
}

/// The members of a server message a client reads before it knows what the
/// message is; the payload (`data`, `merge`, ..) is read by [`Limits`] once
/// the type is known. Only a JSON object is a message (never an array of
/// fields), and one that names a member twice is unreadable: it could not
/// say which topic or type it is.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub(crate) kind: Option<Value>,
    pub(crate) topic: Option<Value>,
    pub(crate) seq: Option<Value>,
    pub(crate) code: Option<Value>,
    pub(crate) message: Option<Value>,
}

impl Head {
    /// The message's `type`, if it is a string.
    pub(crate) fn kind(&self) -> Option<&str> {
        self.kind.as_ref().and_then(Value::as_str)
    }

    /// The message's `topic`, if it is a string.
    pub(crate) fn topic(&self) -> Option<&str> {
        self.topic.as_ref().and_then(Value::as_str)
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeadVisitor)
    }
}

struct HeadVisitor;

impl<'de> de::Visitor<'de> for HeadVisitor {
    type Value = Head;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a message object such as {"type":"update","topic":"quotes",..}"#)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let mut head = Head::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "type" => &mut head.kind,
                "topic" => &mut head.topic,
                "seq" => &mut head.seq,
                "code" => &mut head.code,
                "message" => &mut head.message,
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            if slot.replace(map.next_value()?).is_some() {
                return Err(de::Error::custom(format!("duplicate member `{key}`")));
            }
        }
        Ok(head)
    }
}

/// What a server message means for the subscription to its topic.
#[derive(Debug)]
pub(crate) enum Meaning {
    /// An event for the topic's stream.
    Event(Event),
    /// A message of a known type that is not what that type must be: an
    /// error for the topic's stream, which goes on.
    Bad(Error),
    /// The server's `error` about the topic.
    Refused(Refusal),
}

/// A server's `error` about a topic, as a client takes it.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The code as sent: a newer server may send one this crate does not know.
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Refusal {
    fn known(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }

    /// Whether the server holds no subscription to the topic after it.
    pub(crate) fn ends_subscription(&self) -> bool {
        self.known().is_some_and(ErrorCode::ends_subscription)
    }

    /// Whether asking again cannot help.
    pub(crate) fn is_permanent(&self) -> bool {
        self.known().is_some_and(ErrorCode::is_permanent)
    }
}

/// The message types a server sends.
#[cfg_attr(not(feature = "socketio-client"), allow(dead_code))]
pub(crate) const SERVER_TYPES: [&str; 5] = ["update", "snapshot", "resync", "heartbeat", "error"];

/// An update in a form [`quick_update`] does not read (its members in
/// another order, say): strictly when it is short enough to record, as
/// `quick_update` would.
fn read_update(text: &str, limits: &Limits) -> Result<Update, Error> {
    if read_lazily(text) {
        limits.parse_update_lazy(text)
    } else {
        limits.parse_update(text.as_bytes())
    }
}

/// Reads a server message of type `kind` about one topic: `text` is the
/// whole message, `head` its members read so far. `None` for a type this
/// crate does not know (a newer server's), which a client skips.
pub(crate) fn read(kind: &str, head: &Head, text: &str, limits: &Limits) -> Option<Meaning> {
    let meaning = |read: Result<Event, Error>| match read {
        Ok(event) => Meaning::Event(event),
        Err(error) => Meaning::Bad(error),
    };
    Some(match kind {
        "update" => meaning(read_update(text, limits).map(Event::Update)),
        "snapshot" => meaning(limits.parse_snapshot(text.as_bytes()).map(Event::Snapshot)),
        "resync" => Meaning::Event(Event::Resync),
        "heartbeat" => meaning(
            serde_json::from_value(head.seq.clone().unwrap_or(Value::Null))
                .map(Event::Heartbeat)
                .map_err(Error::Malformed),
        ),
        "error" => {
            let text_of = |member: &Option<Value>| {
                member
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            Meaning::Refused(Refusal {
                code: text_of(&head.code),
                message: text_of(&head.message),
            })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Update;
    use serde_json::json;

    fn meaning(text: &str) -> Option<Meaning> {
        let head: Head = serde_json::from_str(text).unwrap_or_default();
        read(head.kind().unwrap_or(""), &head, text, &Limits::default())
    }

    #[test]
    fn each_server_message_has_its_meaning() {
        let Some(Meaning::Event(Event::Update(update))) =
            meaning(r#"{"type":"update","topic":"q","seq":2,"merge":{"a":1}}"#)
        else {
            panic!("an update")
        };
        assert_eq!(update, Update::merge(2, json!({"a": 1})));
        assert!(matches!(
            meaning(r#"{"type":"heartbeat","topic":"q","seq":"x"}"#),
            Some(Meaning::Bad(Error::Malformed(_)))
        ));
        let Some(Meaning::Refused(refusal)) =
            meaning(r#"{"type":"error","topic":"q","code":"forbidden","message":"no"}"#)
        else {
            panic!("a refusal")
        };
        assert!(refusal.ends_subscription() && refusal.is_permanent());
        assert_eq!(refusal.message, "no");
        assert!(meaning(r#"{"type":"presence","topic":"q"}"#).is_none());
    }
}
