//! An HTTP snapshot client reading a response body (`client::http`'s
//! `Body`: bounded as its chunks come, then read in the wire form
//! `{"version":17,"data":..}`, or as a REST body checked for depth in an
//! envelope and read on its own, its version from an `ETag`).
//!
//! Input: a byte of flags (the wire form or REST, with an `ETag` or not,
//! a `Content-Length` or not), a byte that picks the bounds, a byte that
//! picks how the body is cut into chunks, then the body; with an `ETag`,
//! the header's text, `0xff`, then the body.
//!
//! Checks: never a panic; the reading does not depend on how the body is
//! cut into chunks, nor on whether its length was announced; a body over
//! the size bound is refused; within the bounds, a body is read exactly
//! when `serde_json` reads it, as the same snapshot, and nested deeper
//! (as its text nests) only when it is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use live_resource::{Limits, Snapshot, fuzzing};
use live_resource_fuzz::{same, split, text_depth};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let [flags, bounds, cut, data @ ..] = data else {
        return;
    };
    let rest = flags & 1 != 0;
    let (etag, body) = match (flags & 2 != 0, split(data)) {
        (true, (etag, Some(body))) => match std::str::from_utf8(etag) {
            Ok(etag) => (Some(etag), body),
            Err(_) => return,
        },
        _ => (None, data),
    };
    let limits = Limits::default()
        .max_depth(usize::from(bounds % 16) + 1)
        .max_snapshot_bytes(16 << (bounds / 16 % 8));
    let announced = flags & 4 != 0;
    let read = |size: usize, announced: bool| {
        let chunks: Vec<&[u8]> = body.chunks(size.max(1)).collect();
        let length = announced.then_some(body.len() as u64);
        fuzzing::http_snapshot(&chunks, length, rest, etag, &limits)
    };
    // A body over the bound is refused with the size known when it is: the
    // whole body's, or as much of it as came before the bound was passed.
    let shown = |read: &Result<Snapshot, String>| match read {
        Err(error) if error.contains("exceeds the limit") => "too large".to_owned(),
        read => format!("{read:?}"),
    };
    let whole = read(body.len(), announced);
    assert_eq!(shown(&whole), shown(&read(1, !announced)));
    assert_eq!(
        shown(&whole),
        shown(&read(usize::from(*cut % 16) + 2, announced))
    );

    // A REST endpoint's version header is read before its body.
    let version = match etag.filter(|_| rest) {
        None => None,
        Some(etag) => {
            let tag = etag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            let tag = tag
                .strip_prefix('"')
                .and_then(|tag| tag.strip_suffix('"'))
                .unwrap_or(tag);
            match tag.parse::<u64>() {
                Ok(version) => Some(version),
                Err(_) => {
                    assert!(whole.is_err(), "read a version from {etag:?}");
                    return;
                }
            }
        }
    };
    if body.len() > limits.max_snapshot_bytes {
        let error = whole.expect_err("a body over the bound was read");
        assert!(
            error.contains("exceeds the limit"),
            "refused otherwise: {error}"
        );
        return;
    }
    if rest {
        match (serde_json::from_slice::<Value>(body), &whole) {
            (Ok(data), Ok(snapshot)) => {
                assert!(text_depth(body) <= limits.max_depth, "read too deep a body");
                assert_eq!(snapshot.version, version);
                assert_eq!(snapshot.data, data);
            }
            (Ok(_), Err(error)) => assert!(
                text_depth(body) > limits.max_depth,
                "refused a body within the bounds: {error}"
            ),
            (Err(_), Ok(snapshot)) => panic!("read {snapshot:?} from what is not JSON"),
            (Err(_), Err(_)) => {}
        }
        return;
    }
    // `serde_json` skips an unknown member's string without checking that
    // it is UTF-8: it reads such a body as a snapshot, and not as a `Value`.
    if std::str::from_utf8(body).is_err() {
        return;
    }
    let expected = serde_json::from_slice::<Snapshot<Value>>(body);
    // The bound holds the text: a member named twice nests as deep as its
    // first value, which the `Value` read from it no longer holds.
    let deep = serde_json::from_slice::<Value>(body).is_ok()
        && text_depth(body) > limits.max_depth + 1;
    match (expected, &whole) {
        (Ok(expected), Ok(snapshot)) => {
            assert!(!deep, "read too deep a body");
            assert_eq!(snapshot.version, expected.version);
            assert!(same(&snapshot.data, &expected.data));
        }
        (Ok(_), Err(error)) => assert!(deep, "refused a snapshot within the bounds: {error}"),
        (Err(_), Ok(snapshot)) => panic!("read {snapshot:?} from what serde_json refuses"),
        (Err(_), Err(_)) => {}
    }
});
