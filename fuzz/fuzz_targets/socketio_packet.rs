//! A Socket.IO client reading a server's text messages (Engine.IO and
//! Socket.IO packets, an event's name and first argument), then the first
//! argument as each mode reads it: a legacy event's payload, or an
//! envelope read as the WebSocket client reads it.
//!
//! Input: a byte that picks the bounds, then the message's text.
//!
//! Checks: never a panic; an event's first argument is JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::fuzzing;
use live_resource_fuzz::limits;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&byte, data)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some((_name, Some(first)))) = fuzzing::socketio_packet(text) else {
        return;
    };
    assert!(
        serde_json::from_str::<serde::de::IgnoredAny>(&first).is_ok(),
        "an argument that is not JSON: {first}"
    );
    let limits = limits(byte);
    let _ = limits.parse_message::<Value>(first.as_bytes());
    let _ = fuzzing::ws_message(&first, &limits);
});
