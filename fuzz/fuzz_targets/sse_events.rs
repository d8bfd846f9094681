//! An SSE client reading an event stream (`client::sse`'s splitter, which
//! bounds and cuts the body into events for `eventsource-stream`, and its
//! reading of each event).
//!
//! Input: a byte that picks the bounds, a byte that picks how the body is
//! cut into chunks, then the body.
//!
//! Checks: never a panic, and the events read do not depend on how the
//! body is cut into chunks: whole, a byte at a time, or in pieces.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use live_resource::fuzzing;
use live_resource_fuzz::limits;

fuzz_target!(|data: &[u8]| {
    let [limits_byte, cut, body @ ..] = data else {
        return;
    };
    let limits = limits(*limits_byte);
    let read = |size: usize| {
        let chunks = body
            .chunks(size.max(1))
            .map(Bytes::copy_from_slice)
            .collect();
        format!("{:?}", fuzzing::sse_events(chunks, &limits))
    };
    let whole = read(body.len());
    let bytewise = read(1);
    // Bytes that are not UTF-8 end the stream where they are found: only
    // as soon as the chunk that holds them comes.
    if std::str::from_utf8(body).is_err() {
        return;
    }
    assert_eq!(whole, bytewise);
    assert_eq!(whole, read(usize::from(*cut % 16) + 2));
});
