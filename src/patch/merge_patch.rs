//! [`MergePatch`]: an RFC 7396 merge patch, whatever form it is held in.
//!
//! A patch made in memory is a `serde_json::Value`. A patch read from an
//! update's text stays that text ([`MergeText`]), so that a
//! [`Document`](crate::Document) merges it as it reads it, without building a
//! `Value` first. Both mean the same thing, so one type holds either: code
//! that matches [`Patch::Merge`](crate::Patch::Merge) sees one kind of merge
//! patch, and the form is the crate's business.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::MergeText;
use crate::Error;

/// An RFC 7396 JSON Merge Patch: a partial object whose members replace the
/// state's, objects merging deeply and `null` deleting.
///
/// Make one from a [`Value`] (`json!({..}).into()`); read one's value with
/// [`MergePatch::to_value`]. A patch read from an update's text by
/// [`Update::from_slice`](crate::Update::from_slice) or a transport is kept
/// as that text until it is applied, and a [`Document`](crate::Document)
/// merges it straight from the text; `to_value` builds its `Value` when
/// asked.
///
/// # Examples
///
/// ```
/// use live_resource::{Document, Patch, Update};
/// use live_resource::patch::MergePatch;
/// use serde_json::json;
///
/// let made = Patch::Merge(json!({"AAPL": {"price": 190.25}}).into());
/// let read = Update::from_slice(br#"{"seq":7,"merge":{"AAPL":{"price":190.25}}}"#)?.patch;
/// assert_eq!(made, read);
///
/// let Patch::Merge(patch) = &read else { unreachable!() };
/// assert_eq!(patch.to_value()?.as_ref(), &json!({"AAPL": {"price": 190.25}}));
///
/// let mut state = Document::from(json!({"AAPL": {"price": 189.5, "volume": 1200}}));
/// state.apply(&read)?;
/// assert_eq!(state, json!({"AAPL": {"price": 190.25, "volume": 1200}}));
/// # Ok::<(), live_resource::Error>(())
/// ```
#[derive(Clone)]
pub struct MergePatch(Held);

/// How a [`MergePatch`] is held.
#[derive(Clone)]
enum Held {
    /// Made in memory.
    Value(Value),
    /// Read from text, and merged from it.
    Text(MergeText),
}

impl MergePatch {
    /// A merge patch of `value`.
    ///
    /// ```
    /// # use live_resource::patch::MergePatch;
    /// # use serde_json::json;
    /// let patch = MergePatch::new(json!({"done": 3}));
    /// assert_eq!(patch, json!({"done": 3}));
    /// ```
    pub fn new(value: Value) -> Self {
        Self(Held::Value(value))
    }

    /// A merge patch still in the text it was read from.
    pub(crate) fn text(text: MergeText) -> Self {
        Self(Held::Text(text))
    }

    /// The patch's value: borrowed when it was made from one, built by
    /// `serde_json` when it is still in its text.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] only for a patch read lazily
    /// ([`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy), as
    /// the transports read messages past 16 KB) whose text turns out not to
    /// be JSON.
    ///
    /// ```
    /// # use live_resource::{Patch, Update};
    /// # use serde_json::json;
    /// let update = Update::from_slice(br#"{"seq":3,"merge":{"tags":["a","b"],"gone":null}}"#)?;
    /// let Patch::Merge(patch) = &update.patch else { unreachable!() };
    /// assert_eq!(*patch.to_value()?, json!({"tags": ["a", "b"], "gone": null}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn to_value(&self) -> Result<Cow<'_, Value>, Error> {
        match &self.0 {
            Held::Value(value) => Ok(Cow::Borrowed(value)),
            Held::Text(text) => text.to_value().map(Cow::Owned),
        }
    }

    /// The patch's value, taken out of it.
    ///
    /// # Errors
    ///
    /// As [`MergePatch::to_value`].
    ///
    /// ```
    /// # use live_resource::patch::MergePatch;
    /// # use serde_json::json;
    /// assert_eq!(MergePatch::new(json!({"a": 1})).into_value()?, json!({"a": 1}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn into_value(self) -> Result<Value, Error> {
        match self.0 {
            Held::Value(value) => Ok(value),
            Held::Text(text) => text.to_value(),
        }
    }

    /// The value, when the patch was made from one.
    pub(crate) fn as_value(&self) -> Option<&Value> {
        match &self.0 {
            Held::Value(value) => Some(value),
            Held::Text(_) => None,
        }
    }

    /// The text, when the patch is still in it.
    pub(crate) fn as_text(&self) -> Option<&MergeText> {
        match &self.0 {
            Held::Value(_) => None,
            Held::Text(text) => Some(text),
        }
    }

    /// The text, when the patch is still in it, to change.
    pub(crate) fn as_text_mut(&mut self) -> Option<&mut MergeText> {
        match &mut self.0 {
            Held::Value(_) => None,
            Held::Text(text) => Some(text),
        }
    }

    /// The patch with its value built, for code that keeps values.
    ///
    /// # Errors
    ///
    /// As [`MergePatch::to_value`].
    pub(crate) fn into_held_value(self) -> Result<Self, Error> {
        match self.0 {
            Held::Value(_) => Ok(self),
            Held::Text(text) => Ok(Self::new(text.to_value()?)),
        }
    }
}

impl From<Value> for MergePatch {
    fn from(value: Value) -> Self {
        Self::new(value)
    }
}

/// Writes the patch's value, compact. A patch read lazily whose text turns
/// out not to be JSON is an error of the serializer.
///
/// ```
/// # use live_resource::Update;
/// let update = Update::from_slice(br#"{"seq":2,"merge":{ "a" : [1, 2] }}"#)?;
/// assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"seq":2,"merge":{"a":[1,2]}}"#);
/// # Ok::<(), live_resource::Error>(())
/// ```
impl Serialize for MergePatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Held::Value(value) => value.serialize(serializer),
            Held::Text(text) => text.serialize(serializer),
        }
    }
}

/// Equal when they merge the same value, whatever their form: a patch in
/// its text equals the patch of the value `serde_json` reads from it, unless
/// an object of the text names a member twice (merging it applies both,
/// which its value, keeping the last, does not say). Comparing reads the text.
impl PartialEq for MergePatch {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Held::Value(a), Held::Value(b)) => a == b,
            (Held::Text(a), Held::Text(b)) => a == b,
            (Held::Value(value), Held::Text(text)) | (Held::Text(text), Held::Value(value)) => {
                text.same_as_value() && text.to_value().is_ok_and(|text| text == *value)
            }
        }
    }
}

/// Equal when the patch merges `value`, as [`PartialEq`] between patches
/// says.
impl PartialEq<Value> for MergePatch {
    fn eq(&self, value: &Value) -> bool {
        match &self.0 {
            Held::Value(held) => held == value,
            Held::Text(text) => text.same_as_value() && text.to_value().is_ok_and(|v| v == *value),
        }
    }
}

impl fmt::Debug for MergePatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Held::Value(value) => fmt::Debug::fmt(value, f),
            Held::Text(text) => fmt::Debug::fmt(text, f),
        }
    }
}
