//! What a server writes: the messages besides updates, and the snapshot
//! message around the hub's shared JSON text.

use bytes::Bytes;
use serde::Serialize;

use super::ErrorCode;

/// What a server sends, besides snapshots and updates (whose JSON text the
/// hub made once: see [`snapshot_parts`] and [`update_envelope`](super::update_envelope)).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Reply<'a> {
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
        code: ErrorCode,
        message: String,
    },
}

impl Reply<'_> {
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).expect("replies always serialize")
    }
}

/// The snapshot message up to its `data`:
/// `{"type":"snapshot","topic":..,"version":..,"data":`, which the state's
/// JSON text and a `}` complete.
fn snapshot_head(topic: &str, version: u64) -> Bytes {
    let topic = serde_json::to_string(topic).expect("strings always serialize");
    Bytes::from(format!(
        r#"{{"type":"snapshot","topic":{topic},"version":{version},"data":"#
    ))
}

/// The snapshot message whole: its head, `data`, and the closing brace.
pub(crate) fn snapshot_parts(topic: &str, version: u64, data: Bytes) -> [Bytes; 3] {
    [
        snapshot_head(topic, version),
        data,
        Bytes::from_static(b"}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snapshot;
    use serde_json::json;

    #[test]
    fn a_snapshot_message_wraps_the_hubs_text() {
        let whole = snapshot_parts("q", 17, Bytes::from_static(b"[1]")).concat();
        let read: Snapshot = serde_json::from_slice(&whole).unwrap();
        assert_eq!(read, Snapshot::new(17, json!([1])));
        assert!(whole.starts_with(br#"{"type":"snapshot","topic":"q""#));
    }
}
