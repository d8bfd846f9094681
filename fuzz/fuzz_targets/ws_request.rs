//! A WebSocket server reading a client's messages (`server::ws`'s `read`:
//! `Limits::parse_message` into the protocol's `Request`, and the refusal
//! it answers a bad one with), `{"type":"subscribe","topic":"quotes","since":17}`.
//!
//! Input: a byte that picks the bounds, then the message's bytes.
//!
//! Checks: never a panic; a request read is the type, topic and `since`
//! its text says (by `serde_json` alone); a well-formed request within the
//! bounds is read, and one refused is refused with the code that says why
//! (`too_large` exactly when it is over the size bound).
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::fuzzing;
use live_resource::protocol::ErrorCode;
use live_resource_fuzz::{depth, limits, names_a_member_twice};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&byte, data)) = data.split_first() else {
        return;
    };
    let limits = limits(byte);
    let read = fuzzing::ws_request(data, &limits);
    let too_large = data.len() > limits.max_message_bytes;
    match &read {
        Err((code, message)) => {
            assert!(!message.is_empty(), "a refusal without a message");
            assert_eq!(*code == ErrorCode::TooLarge, too_large, "{code}: {message}");
            assert!(
                matches!(
                    code,
                    ErrorCode::BadMessage | ErrorCode::TooLarge | ErrorCode::TooDeep
                ),
                "a message refused with {code}"
            );
        }
        Ok(_) => assert!(!too_large, "read a message over the bound"),
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        assert!(read.is_err(), "read what is not JSON: {read:?}");
        return;
    };
    if names_a_member_twice(data) {
        return;
    }
    let within = !too_large && depth(&value) <= limits.max_depth + 1;
    if let Err((ErrorCode::TooDeep, _)) = &read {
        assert!(!within, "refused as too deep at depth {}", depth(&value));
    }
    // What the message asks, by serde_json alone.
    let kind = value.get("type").and_then(Value::as_str);
    let topic = value.get("topic").and_then(Value::as_str);
    let since = match value.get("since") {
        None | Some(Value::Null) => Some(None),
        Some(since) => since.as_u64().map(Some),
    };
    let expected = match (kind, topic, since) {
        (Some("subscribe"), Some(topic), Some(since)) => Some(("subscribe", topic, since)),
        (Some("unsubscribe"), Some(topic), _) => Some(("unsubscribe", topic, None)),
        _ => None,
    };
    match (&read, expected) {
        (Ok((kind, topic, since)), Some(expected)) => {
            assert_eq!((*kind, topic.as_str(), *since), expected);
        }
        (Ok(read), None) => panic!("read {read:?} from a message that is not a request"),
        (Err((code, message)), Some(_)) => {
            assert!(
                !within,
                "a request within the bounds refused: {code}: {message}"
            );
        }
        (Err(_), None) => {}
    }
});
