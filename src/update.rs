//! The two messages of the protocol: a snapshot and an update.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) mod read;

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
    /// assert_eq!(update.patch, Patch::Merge(json!({"done": 30}).into()));
    /// ```
    pub fn merge(seq: u64, patch: Value) -> Self {
        Self {
            seq: Some(seq),
            patch: Patch::Merge(patch.into()),
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
            patch: Patch::Merge(patch.into()),
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
            Patch::Merge(patch) => map.serialize_entry("merge", patch)?,
            Patch::Json(ops) => map.serialize_entry("patch", ops)?,
            Patch::Replace(value) => map.serialize_entry("replace", value)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Update {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UpdateVisitor)
    }
}

/// Reads the wire form key by key: only a JSON object is an update (never an
/// array of fields), a member that is present counts even when it is `null`,
/// an envelope's `type` and `topic` are skipped (but may not come twice), and
/// so are unknown members.
struct UpdateVisitor;

impl<'de> de::Visitor<'de> for UpdateVisitor {
    type Value = Update;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an update object such as {"seq":18,"merge":{..}}"#)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Update, A::Error> {
        let mut seq: Option<Option<u64>> = None;
        let mut patch: Option<Patch> = None;
        let (mut kind, mut topic) = (false, false);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let field = match key.as_ref() {
                "seq" => {
                    if seq.replace(map.next_value()?).is_some() {
                        return Err(de::Error::duplicate_field("seq"));
                    }
                    continue;
                }
                "merge" => Patch::Merge(map.next_value::<Value>()?.into()),
                "patch" => Patch::Json(map.next_value()?),
                "replace" => Patch::Replace(map.next_value()?),
                // The WebSocket envelope's members: an update that names its
                // type or topic twice cannot say which it is.
                "type" | "topic" => {
                    let seen = if key == "type" { &mut kind } else { &mut topic };
                    if std::mem::replace(seen, true) {
                        return Err(de::Error::custom(format!("duplicate member `{key}`")));
                    }
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            if patch.replace(field).is_some() {
                return Err(de::Error::custom(
                    "an update needs exactly one of `merge`, `patch` or `replace`, not two",
                ));
            }
        }
        let patch = patch.ok_or_else(|| {
            de::Error::custom("an update needs exactly one of `merge`, `patch` or `replace`")
        })?;
        Ok(Update {
            seq: seq.flatten(),
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Snapshot<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SnapshotVisitor(std::marker::PhantomData))
    }
}

/// Reads `{"version":17,"data":..}`: only a JSON object, unknown members skipped.
struct SnapshotVisitor<T>(std::marker::PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>> de::Visitor<'de> for SnapshotVisitor<T> {
    type Value = Snapshot<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a snapshot object such as {"version":17,"data":..}"#)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Snapshot<T>, A::Error> {
        let mut version: Option<Option<u64>> = None;
        let mut data: Option<T> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "version" if version.is_some() => {
                    return Err(de::Error::duplicate_field("version"));
                }
                "version" => version = Some(map.next_value()?),
                "data" if data.is_some() => return Err(de::Error::duplicate_field("data")),
                "data" => data = Some(map.next_value()?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(Snapshot {
            version: version.flatten(),
            data: data.ok_or_else(|| de::Error::missing_field("data"))?,
        })
    }
}
