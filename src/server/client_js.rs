//! `GET /live/client.js`: the browser client, `js/live-resource.js`, as an
//! ES module, so that a page of the server needs no build step:
//! `import { liveResource } from "/live/client.js"`.
//!
//! The path wins over a topic of that name: a topic's data must never be
//! served where pages load code from. A topic `client.js` is still followed
//! over WebSocket and SSE (`/live/client.js/events`), only its HTTP
//! snapshot is out of reach.

use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The module's text, built into the crate.
pub(super) const SOURCE: &str = include_str!("../../js/live-resource.js");

/// The module's ETag: a hash of its text, the same across restarts of one build.
const ETAG: &str = {
    const fn fnv1a(bytes: &[u8]) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        hash
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const HASH: u64 = fnv1a(SOURCE.as_bytes());
    const TAG: [u8; 18] = {
        let mut tag = [b'"'; 18];
        let mut i = 0;
        while i < 16 {
            tag[1 + i] = HEX[((HASH >> (60 - 4 * i)) & 0xf) as usize];
            i += 1;
        }
        tag
    };
    match std::str::from_utf8(&TAG) {
        Ok(tag) => tag,
        Err(_) => panic!("hex digits are UTF-8"),
    }
};

pub(super) async fn module(request: Parts) -> Response {
    let etag = HeaderValue::from_static(ETAG);
    // Revalidated after an hour: a new build of the server serves a new
    // module within that, and a 304 costs no body.
    let cache = HeaderValue::from_static("public, max-age=3600, must-revalidate");
    let matches = request
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == ETAG)
        });
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            // RFC 9239's type for JavaScript, which module scripts require
            // (any JavaScript type) and `X-Content-Type-Options` checks.
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        SOURCE,
    )
        .into_response()
}
