//! Internal, not part of the API (feature `__fuzz`): the fuzz targets' way
//! in to the parsers that read bytes from the network and are not public.
//! Each function calls the parser as the crate does and gives its outcome
//! in plain types; nothing here is stable.
//!
//! The public readers (`Limits::parse_update`, `Limits::parse_update_lazy`,
//! `Update::from_slice`, `Document::apply`) are fuzzed through the API.

#[cfg(any(feature = "ws", feature = "sse"))]
use crate::source::Event;
use crate::{Document, Error, Limits, Patch};
use serde_json::Value;

/// A Socket.IO client's reading of a server's text message: for an event,
/// its name and first argument; `Ok(None)` for any other packet.
///
/// # Errors
///
/// Why the message is unreadable.
#[cfg(feature = "socketio-client")]
pub fn socketio_packet(text: &str) -> Result<Option<(String, Option<String>)>, String> {
    crate::client::socketio::read_for_fuzzing(text)
}

/// A WebSocket client's reading of a server's message, checked against
/// `limits`: the topic and event.
///
/// # Errors
///
/// Anything else the message is (an error for a topic, an unroutable or
/// unknown message), shown as text.
#[cfg(feature = "ws")]
pub fn ws_message(text: &str, limits: &Limits) -> Result<(String, Event), String> {
    crate::client::ws::read_for_fuzzing(text, limits)
}

/// The events an SSE client reads from a response body that comes in
/// `chunks`, errors as text.
#[cfg(feature = "sse")]
pub fn sse_events(chunks: Vec<bytes::Bytes>, limits: &Limits) -> Vec<Result<Event, String>> {
    crate::client::sse::read_for_fuzzing(chunks, limits)
}

/// An HTTP snapshot client's reading of a response body that comes in
/// `chunks`, with the `Content-Length` `length` if announced: in the wire
/// form `{"version":..,"data":..}`, or with `rest` as a REST body whose
/// `ETag` is `version`.
///
/// # Errors
///
/// Why the body is refused, as text.
#[cfg(feature = "http")]
pub fn http_snapshot(
    chunks: &[&[u8]],
    length: Option<u64>,
    rest: bool,
    version: Option<&str>,
    limits: &Limits,
) -> Result<crate::Snapshot, String> {
    crate::client::http::read_for_fuzzing(chunks, length, rest, version, limits)
}

/// The checks a replica makes before it applies `patch` to its state, made
/// on a `serde_json::Value`: the patch's depth, what its writes reach, and
/// the most it can add to the state's size, which is returned.
///
/// # Errors
///
/// What the replica refuses the patch with.
pub fn check_write_value(limits: &Limits, state: &Value, patch: &Patch) -> Result<usize, Error> {
    limits.check_growth(state, patch)
}

/// The checks a replica makes before it applies `patch` to its state: the
/// patch's depth, what its writes reach, and the most it can add to the
/// state's size, which is returned.
///
/// # Errors
///
/// What the replica refuses the patch with.
pub fn check_write_document(
    limits: &Limits,
    state: &Document,
    patch: &Patch,
) -> Result<usize, Error> {
    limits.check_growth(state, patch)
}

/// A server's check of a WebSocket upgrade request.
///
/// # Errors
///
/// The refusal's status code and reason.
#[cfg(feature = "server")]
pub fn ws_upgrade(request: &mut axum::http::request::Parts) -> Result<(), (u16, &'static str)> {
    crate::server::check_for_fuzzing(request).map_err(|(status, why)| (status.as_u16(), why))
}

/// A WebSocket server's reading of a client's message, checked against
/// `limits`: the request's type (`subscribe` or `unsubscribe`), topic and
/// `since`.
///
/// # Errors
///
/// The refusal the server answers with: its code and message.
#[cfg(feature = "server")]
pub fn ws_request(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(&'static str, String, Option<u64>), (crate::protocol::ErrorCode, String)> {
    crate::server::ws_request_for_fuzzing(bytes, limits)
}

/// A server's check of the `Origin` of a live connection's request.
///
/// # Errors
///
/// Why the origin may not connect.
#[cfg(feature = "server")]
pub fn check_origin(
    config: &crate::server::Config,
    headers: &axum::http::HeaderMap,
) -> Result<(), String> {
    config.check_origin(headers)
}

/// A Socket.IO server's reading of a client's `subscribe` or `unsubscribe`
/// event data: the topic and `since`.
///
/// # Errors
///
/// What the request is refused with.
#[cfg(feature = "socketio")]
pub fn socketio_request(bytes: &[u8], limits: &Limits) -> Result<(String, Option<u64>), Error> {
    crate::socketio::read_for_fuzzing(bytes, limits)
}
