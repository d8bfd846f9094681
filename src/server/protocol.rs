//! The messages of the multi-topic protocol, shared by the WebSocket route and
//! the Socket.IO layer (where each is an event named after its `type`).

use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::Value;

use crate::hub::Delivery;

/// What the server sends, besides updates (whose bytes the hub made once).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Reply<'a> {
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

/// A topic's deliveries, then `None` once when the topic is removed.
pub(crate) type Deliveries = BoxStream<'static, Option<Delivery>>;
