//! A Socket.IO server reading a client's `subscribe` and `unsubscribe`
//! event data, `["subscribe",{"topic":"quotes","since":17}]`.
//!
//! Input: a byte that picks the bounds, then the event's data.
//!
//! Checks: never a panic; a request read names the topic and `since` its
//! text does, and one that is well formed and within the bounds is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::fuzzing;
use live_resource_fuzz::{limits, names_a_member_twice, out_of_bounds};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&byte, data)) = data.split_first() else {
        return;
    };
    // Socket.IO event data arrives as text.
    if std::str::from_utf8(data).is_err() {
        return;
    }
    let limits = limits(byte);
    let read = fuzzing::socketio_request(data, &limits);
    let Ok(Value::Array(arguments)) = serde_json::from_slice::<Value>(data) else {
        assert!(read.is_err(), "read what is not an array: {read:?}");
        return;
    };
    if names_a_member_twice(data) {
        return;
    }
    let request = match arguments.get(1) {
        Some(Value::Object(request)) => request,
        _ => return,
    };
    let topic = request.get("topic").and_then(Value::as_str);
    let since = match request.get("since") {
        None | Some(Value::Null) => Some(None),
        Some(since) => since.as_u64().map(Some),
    };
    match (&read, topic, since) {
        (Ok(read), Some(topic), Some(since)) => assert_eq!(*read, (topic.to_owned(), since)),
        (Ok(read), ..) => panic!("read {read:?} from a request without a topic or since"),
        (Err(error), Some(_), Some(_)) => assert!(out_of_bounds(error), "refused: {error}"),
        (Err(_), ..) => {}
    }
});
