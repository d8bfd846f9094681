//! The messages of the multi-topic protocol, shared by the WebSocket route and
//! the Socket.IO layer (where each is an event named after its `type`).

use serde::Serialize;
use serde_json::Value;

/// What the server sends, besides updates (whose bytes the hub made once).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Reply<'a> {
    // The WebSocket route writes this reply around the hub's shared JSON text
    // (see `ws::snapshot_reply`); the Socket.IO layer emits it from here.
    #[cfg_attr(not(feature = "socketio"), allow(dead_code))]
    Snapshot {
        topic: &'a str,
        version: u64,
        data: &'a Value,
    },
    Resync {
        topic: &'a str,
    },
    Heartbeat {
        topic: &'a str,
        seq: Option<u64>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<&'a str>,
        code: &'static str,
        message: String,
    },
}

/// The `code` of the error reply to a client message that was refused.
pub(crate) fn refusal_code(error: &crate::Error) -> &'static str {
    match error {
        crate::Error::TooLarge { .. } => "too_large",
        crate::Error::TooDeep { .. } => "too_deep",
        _ => "bad_message",
    }
}
