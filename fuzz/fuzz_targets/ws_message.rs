//! A WebSocket client reading a server's messages (`client::ws`'s frame
//! reader over `protocol::inbound`: `quick_update`, `Head`, `read`), and
//! applying the updates it reads.
//!
//! Input: a byte that picks the bounds, then the message's text.
//!
//! Checks: never a panic; an update is read for the topic the message
//! names; applied, it leaves the document as it was or does what
//! `serde_json` and `patch::merge` say; a well-formed update message within
//! the bounds is never refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::fuzzing;
use live_resource::source::Event;
use live_resource_fuzz::{Meaning, apply, limits, meaning, states};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&byte, data)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = limits(byte);
    let meaning = meaning(data);
    let envelope = serde_json::from_str::<Value>(text).ok();
    let member = |name: &str| {
        envelope
            .as_ref()
            .and_then(|value| value.get(name)?.as_str())
    };
    let read = fuzzing::ws_message(text, &limits);
    match &read {
        Ok((topic, Event::Update(update))) => {
            if envelope.is_some() && !matches!(meaning, Meaning::Unknown) {
                assert_eq!(Some(topic.as_str()), member("topic"));
                assert_eq!(member("type"), Some("update"));
            }
            for state in states(None) {
                apply(update, &meaning, &state);
            }
        }
        Ok(_) => {}
        Err(why) => {
            let wanted = matches!(meaning, Meaning::Merge(_))
                && member("type") == Some("update")
                && member("topic").is_some()
                && limits.parse_update(data).is_ok();
            assert!(!wanted, "a well-formed update refused: {why}");
        }
    }
});
