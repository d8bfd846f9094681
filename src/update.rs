//! The two messages of the protocol: a snapshot and an update.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Limits, Patch};

/// One change to a resource, numbered by `seq`.
///
/// On the wire an update is one JSON object with an optional `seq` and exactly
/// one of `merge` (RFC 7396), `patch` (RFC 6902 operations) or `replace`:
///
/// ```json
/// {"seq":18,"merge":{"AAPL":{"price":190.25}}}
/// {"seq":19,"patch":[{"op":"add","path":"/log/-","value":"started"}]}
/// {"seq":20,"replace":{"AAPL":{"price":191}}}
/// ```
///
/// Other members are ignored, so the WebSocket envelope
/// `{"type":"update","topic":"quotes","seq":18,"merge":{..}}` parses as an update too.
///
/// `seq: None` is the legacy mode, for sources that push bare partial objects
/// with no version: such updates apply in arrival order, and gaps or
/// duplicates among them cannot be noticed.
///
/// # Examples
///
/// ```
/// use live_resource::{Patch, Update};
/// use serde_json::json;
///
/// let update = Update::from_slice(br#"{"seq":18,"merge":{"price":190.25}}"#)?;
/// assert_eq!(update, Update::merge(18, json!({"price": 190.25})));
/// assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"seq":18,"merge":{"price":190.25}}"#);
/// # Ok::<(), live_resource::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// The version this update brings the resource to, when the source numbers them.
    pub seq: Option<u64>,
    /// The change.
    pub patch: Patch,
}

impl Update {
    /// An update with a sequence number and a merge patch.
    ///
    /// ```
    /// # use live_resource::{Patch, Update};
    /// # use serde_json::json;
    /// let update = Update::merge(3, json!({"done": 30}));
    /// assert_eq!(update.seq, Some(3));
    /// assert_eq!(update.patch, Patch::Merge(json!({"done": 30})));
    /// ```
    pub fn merge(seq: u64, patch: Value) -> Self {
        Self {
            seq: Some(seq),
            patch: Patch::Merge(patch),
        }
    }

    /// An update with no sequence number: a bare partial object from a legacy
    /// source, applied as a merge patch in arrival order.
    ///
    /// ```
    /// # use live_resource::Update;
    /// # use serde_json::json;
    /// assert_eq!(Update::unsequenced(json!({"online": 12})).seq, None);
    /// ```
    pub fn unsequenced(patch: Value) -> Self {
        Self {
            seq: None,
            patch: Patch::Merge(patch),
        }
    }

    /// Parses an update from wire text with the default [`Limits`].
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`], [`Error::TooLarge`] or [`Error::TooDeep`]; see
    /// [`Limits::parse_update`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        Limits::default().parse_update(bytes)
    }
}

impl Serialize for Update {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + usize::from(self.seq.is_some())))?;
        if let Some(seq) = self.seq {
            map.serialize_entry("seq", &seq)?;
        }
        match &self.patch {
            Patch::Merge(value) => map.serialize_entry("merge", value)?,
            Patch::Json(ops) => map.serialize_entry("patch", ops)?,
            Patch::Replace(value) => map.serialize_entry("replace", value)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Update {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The wire form, with `Some(Value::Null)` kept apart from a missing member.
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            seq: Option<u64>,
            #[serde(default, deserialize_with = "present")]
            merge: Option<Value>,
            #[serde(default)]
            patch: Option<json_patch::Patch>,
            #[serde(default, deserialize_with = "present")]
            replace: Option<Value>,
        }

        fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
            Value::deserialize(deserializer).map(Some)
        }

        let wire = Wire::deserialize(deserializer)?;
        let patch = match (wire.merge, wire.patch, wire.replace) {
            (Some(merge), None, None) => Patch::Merge(merge),
            (None, Some(ops), None) => Patch::Json(ops),
            (None, None, Some(value)) => Patch::Replace(value),
            _ => {
                return Err(de::Error::custom(
                    "an update needs exactly one of `merge`, `patch` or `replace`",
                ));
            }
        };
        Ok(Self {
            seq: wire.seq,
            patch,
        })
    }
}

/// The whole state of a resource at one version.
///
/// On the wire: `{"version":17,"data":..}`; `version` may be absent for
/// sources that do not number their states. The snapshot at version `v` is the
/// state after update `v`.
///
/// # Examples
///
/// ```
/// use live_resource::Snapshot;
/// use serde_json::json;
///
/// let snapshot: Snapshot = serde_json::from_str(r#"{"version":17,"data":{"done":40}}"#)?;
/// assert_eq!(snapshot, Snapshot::new(17, json!({"done": 40})));
///
/// let unversioned: Snapshot = serde_json::from_str(r#"{"data":[]}"#)?;
/// assert_eq!(unversioned.version, None);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot<T = Value> {
    /// The version of this state: the `seq` of the last update it includes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The state.
    pub data: T,
}

impl<T> Snapshot<T> {
    /// A snapshot at a known version.
    pub fn new(version: u64, data: T) -> Self {
        Self {
            version: Some(version),
            data,
        }
    }

    /// A snapshot from a source that does not number its states.
    ///
    /// ```
    /// # use live_resource::Snapshot;
    /// assert_eq!(Snapshot::unversioned(5).version, None);
    /// ```
    pub fn unversioned(data: T) -> Self {
        Self {
            version: None,
            data,
        }
    }
}
