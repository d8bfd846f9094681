//! What a server writes: the messages besides updates, and the snapshot
//! message around the hub's shared JSON text.

use bytes::Bytes;
use serde::Serialize;

use super::ErrorCode;
use crate::Snapshot;

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

/// The snapshot message whole: its head, the hub's JSON text of the state,
/// and the closing brace.
pub(crate) fn snapshot_parts(topic: &str, snapshot: Snapshot<Bytes>) -> [Bytes; 3] {
    let version = snapshot.version.expect("a hub numbers its states");
    [
        snapshot_head(topic, version),
        snapshot.data,
        Bytes::from_static(b"}"),
    ]
}

/// The body of `GET /live/{topic}`, `{"version":17,"data":..}`, around the
/// hub's JSON text of the state.
pub(crate) fn snapshot_body(snapshot: &Snapshot<Bytes>) -> Vec<u8> {
    let version = snapshot.version.expect("a hub numbers its states");
    let head = format!(r#"{{"version":{version},"data":"#);
    [head.as_bytes(), &snapshot.data, b"}"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_snapshot_message_wraps_the_hubs_text() {
        let snapshot = Snapshot::new(17, Bytes::from_static(b"[1]"));
        let body: Snapshot = serde_json::from_slice(&snapshot_body(&snapshot)).unwrap();
        assert_eq!(body, Snapshot::new(17, json!([1])));
        let whole = snapshot_parts("q", snapshot).concat();
        let read: Snapshot = serde_json::from_slice(&whole).unwrap();
        assert_eq!(read, Snapshot::new(17, json!([1])));
        assert!(whole.starts_with(br#"{"type":"snapshot","topic":"q""#));
    }
}
