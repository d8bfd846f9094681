//! The Engine.IO v4 and Socket.IO v5 packets this client reads and writes,
//! as text WebSocket messages.
//!
//! An Engine.IO packet is one digit then its data: `0` open (`0{"sid":..,
//! "pingInterval":25000,"pingTimeout":20000}`), `1` close, `2` ping, `3` pong,
//! `4` message, `6` noop. A message carries a Socket.IO packet: one digit
//! (`0` connect, `1` disconnect, `2` event, `3` ack, `4` connect error, `5`
//! and `6` their binary forms), an attachment count and `-` for the binary
//! ones, the namespace and `,` unless it is `/`, an ack id, then JSON.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The Engine.IO packets the server sends.
#[derive(Debug, PartialEq)]
pub(super) enum Engine<'a> {
    Open(Open),
    Close,
    Ping,
    Message(Packet<'a>),
    /// Pong, noop, upgrade: nothing to do.
    Other,
}

/// The handshake data of an open packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Open {
    pub(super) ping_interval: Duration,
    pub(super) ping_timeout: Duration,
}

/// A Socket.IO packet, on `namespace`.
#[derive(Debug, PartialEq)]
pub(super) struct Packet<'a> {
    pub(super) namespace: &'a str,
    pub(super) kind: Kind<'a>,
}

#[derive(Debug, PartialEq)]
pub(super) enum Kind<'a> {
    /// The namespace is connected.
    Connect,
    /// The server left the namespace.
    Disconnect,
    /// An event: its JSON text, `["name", args..]`.
    Event(&'a str),
    /// The server refused the namespace: its JSON text, `{"message":".."}`.
    ConnectError(&'a str),
    /// Acks and binary packets, which this client does not use.
    Unused,
}

/// Why a packet could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unreadable(pub(super) &'static str);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Reads one text message from the server.
pub(super) fn parse(text: &str) -> Result<Engine<'_>, Unreadable> {
    let mut chars = text.char_indices();
    let Some((_, kind)) = chars.next() else {
        return Err(Unreadable("an empty message"));
    };
    let data = &text[kind.len_utf8()..];
    Ok(match kind {
        '0' => Engine::Open(open(data)?),
        '1' => Engine::Close,
        '2' => Engine::Ping,
        '4' => Engine::Message(packet(data)?),
        '3' | '5' | '6' => Engine::Other,
        _ => return Err(Unreadable("an unknown Engine.IO packet type")),
    })
}

fn open(data: &str) -> Result<Open, Unreadable> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Handshake {
        ping_interval: u64,
        ping_timeout: u64,
    }
    let handshake: Handshake =
        serde_json::from_str(data).map_err(|_| Unreadable("an open packet without ping times"))?;
    Ok(Open {
        ping_interval: Duration::from_millis(handshake.ping_interval),
        ping_timeout: Duration::from_millis(handshake.ping_timeout),
    })
}

fn packet(data: &str) -> Result<Packet<'_>, Unreadable> {
    let Some(kind) = data.bytes().next() else {
        return Err(Unreadable("an empty Socket.IO packet"));
    };
    // The type is one ASCII digit; anything else is refused before the
    // slice below, which is on a character boundary only after an ASCII byte.
    if !matches!(kind, b'0'..=b'6') {
        return Err(Unreadable("an unknown Socket.IO packet type"));
    }
    let mut rest = &data[1..];
    let binary = matches!(kind, b'5' | b'6');
    if binary {
        let dash = rest
            .find('-')
            .ok_or(Unreadable("a binary packet without its attachment count"))?;
        rest = &rest[dash + 1..];
    }
    let namespace = match rest.strip_prefix('/') {
        Some(_) => {
            let end = rest.find(',').unwrap_or(rest.len());
            let namespace = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            namespace
        }
        None => "/",
    };
    let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let kind = match kind {
        b'0' => Kind::Connect,
        b'1' => Kind::Disconnect,
        b'2' => Kind::Event(json),
        b'4' => Kind::ConnectError(json),
        _ => Kind::Unused,
    };
    Ok(Packet { namespace, kind })
}

/// An Engine.IO message carrying a Socket.IO packet of type `kind` on
/// `namespace`, with `json` as its data.
fn message(kind: char, namespace: &str, json: &str) -> String {
    let mut text = String::with_capacity(namespace.len() + json.len() + 4);
    text.push('4');
    text.push(kind);
    if namespace != "/" {
        text.push_str(namespace);
        text.push(',');
    }
    text.push_str(json);
    text
}

/// Connects to `namespace`, with the `auth` payload if any.
pub(super) fn connect(namespace: &str, auth: Option<&serde_json::Value>) -> String {
    let auth = auth.map(serde_json::Value::to_string).unwrap_or_default();
    message('0', namespace, &auth)
}

/// Leaves `namespace`.
pub(super) fn disconnect(namespace: &str) -> String {
    message('1', namespace, "")
}

/// Emits `event` with one argument, `data`.
pub(super) fn event<T: serde::Serialize + ?Sized>(
    namespace: &str,
    event: &str,
    data: &T,
) -> String {
    let json = serde_json::to_string(&(event, data)).expect("JSON values always serialize");
    message('2', namespace, &json)
}

/// The answer to a ping.
pub(super) const PONG: &str = "3";

/// An event's name and its first argument, borrowed from its JSON text.
#[derive(Debug)]
pub(super) struct Arguments<'a> {
    pub(super) name: std::borrow::Cow<'a, str>,
    pub(super) first: Option<&'a RawValue>,
}

/// Reads the name and first argument of an event, `["name", first, ..]`.
pub(super) fn arguments(json: &str) -> Result<Arguments<'_>, serde_json::Error> {
    serde_json::from_str(json)
}

impl<'de> Deserialize<'de> for Arguments<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ArgumentsVisitor)
    }
}

struct ArgumentsVisitor;

impl<'de> Visitor<'de> for ArgumentsVisitor {
    type Value = Arguments<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an event such as ["update",{..}]"#)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arguments<'de>, A::Error> {
        let name = seq
            .next_element::<std::borrow::Cow<'de, str>>()?
            .ok_or_else(|| de::Error::invalid_length(0, &"an event name"))?;
        let first = seq.next_element::<&'de RawValue>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Arguments { name, first })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn engine_packets_are_read() {
        assert_eq!(
            parse(
                r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
            ),
            Ok(Engine::Open(Open {
                ping_interval: Duration::from_secs(25),
                ping_timeout: Duration::from_secs(20),
            }))
        );
        assert_eq!(parse("2"), Ok(Engine::Ping));
        assert_eq!(parse("1"), Ok(Engine::Close));
        assert_eq!(parse("6"), Ok(Engine::Other));
        assert!(parse("").is_err());
        assert!(parse("9").is_err());
        assert!(parse(r#"0{"sid":"abc"}"#).is_err());
    }

    #[test]
    fn socketio_packets_are_read_with_their_namespace() {
        let cases = [
            (r#"40{"sid":"x"}"#, "/", Kind::Connect),
            (r#"40/live,{"sid":"x"}"#, "/live", Kind::Connect),
            ("41", "/", Kind::Disconnect),
            ("41/live,", "/live", Kind::Disconnect),
            (r#"42["a",1]"#, "/", Kind::Event(r#"["a",1]"#)),
            (r#"42/live,7["a",1]"#, "/live", Kind::Event(r#"["a",1]"#)),
            (
                r#"44{"message":"no"}"#,
                "/",
                Kind::ConnectError(r#"{"message":"no"}"#),
            ),
            (
                r#"451-["a",{"_placeholder":true,"num":0}]"#,
                "/",
                Kind::Unused,
            ),
            (
                r#"451-/live,["a",{"_placeholder":true,"num":0}]"#,
                "/live",
                Kind::Unused,
            ),
            ("43[1]", "/", Kind::Unused),
        ];
        for (text, namespace, kind) in cases {
            assert_eq!(
                parse(text),
                Ok(Engine::Message(Packet { namespace, kind })),
                "{text}"
            );
        }
        assert!(parse("4").is_err());
        assert!(parse("49").is_err());
        assert!(parse("45[1]").is_err(), "binary without a count");
    }

    #[test]
    fn a_packet_type_that_is_not_ascii_is_refused_not_a_panic() {
        // A hostile or broken server: each of these once panicked the task
        // that reads the connection, which for a plain resource is the
        // consumer's own.
        for text in ["4é", "4é1", "4\u{1F600}", "0é", "é", "4\u{80}"] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_never_a_panic(text in "\\PC{0,12}") {
            let _ = parse(&text);
            let _ = parse(&format!("4{text}"));
            let _ = parse(&format!("45{text}"));
        }
    }

    #[test]
    fn packets_are_written_as_socketio_clients_write_them() {
        assert_eq!(connect("/", None), "40");
        assert_eq!(connect("/live", None), "40/live,");
        assert_eq!(
            connect("/", Some(&json!({"token": "t"}))),
            r#"40{"token":"t"}"#
        );
        assert_eq!(disconnect("/live"), "41/live,");
        assert_eq!(
            event("/", "subscribe", &json!({"topic": "q"})),
            r#"42["subscribe",{"topic":"q"}]"#
        );
        assert_eq!(
            event("/live", "subscribe", &json!([1, 2])),
            r#"42/live,["subscribe",[1,2]]"#
        );
    }

    #[test]
    fn event_arguments_are_borrowed() {
        let update = arguments(r#"["update",{"seq":1,"merge":{}},"extra"]"#).unwrap();
        assert_eq!(update.name, "update");
        assert_eq!(update.first.unwrap().get(), r#"{"seq":1,"merge":{}}"#);
        let bare = arguments(r#"["ping"]"#).unwrap();
        assert!(bare.first.is_none());
        assert!(super::arguments(r#"[]"#).is_err());
        assert!(super::arguments(r#"{"a":1}"#).is_err());
    }
}
