//! Patches: the three ways an update can change a state.
//!
//! [`Patch::Merge`] is RFC 7396 JSON Merge Patch, the common case: a partial
//! object whose `null` members delete ([`MergePatch`], made from a `Value` or
//! kept as the text it was read from). [`Patch::Json`] is RFC 6902 JSON Patch,
//! for what a merge patch cannot say (array element edits, explicit `null`
//! values). [`Patch::Replace`] swaps the whole value.

pub(crate) mod at;
pub(crate) mod diff;
pub(crate) mod effect;
pub(crate) mod length;
mod merge;
mod merge_patch;
mod merge_text;
pub(crate) mod operations;
pub(crate) mod rows;
pub(crate) mod tree;

pub use crate::error::{ApplyError, ApplyErrorKind};
pub use merge::{merge, merge_owned};
pub use merge_patch::MergePatch;
pub(crate) use merge_text::{MergeText, Merging, Message};

use serde_json::Value;

use crate::Error;

/// One change to a JSON state.
///
/// # Examples
///
/// ```
/// use live_resource::Patch;
/// use serde_json::json;
///
/// let mut state = json!({"AAPL": {"price": 189.5, "volume": 1200}});
/// Patch::Merge(json!({"AAPL": {"price": 190.25}}).into()).apply(&mut state)?;
/// assert_eq!(state, json!({"AAPL": {"price": 190.25, "volume": 1200}}));
/// # Ok::<(), live_resource::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Patch {
    /// An RFC 7396 JSON Merge Patch: objects merge deeply, `null` deletes,
    /// everything else (arrays too) replaces. Make one from a `Value` with
    /// `.into()`; one read from an update's text is kept as that text, and
    /// merged from it. Read lazily
    /// ([`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy)), it
    /// may turn out not to be JSON when applied: [`Error::Malformed`], and
    /// the target is unchanged.
    Merge(MergePatch),
    /// RFC 6902 JSON Patch operations, applied all or nothing.
    Json(json_patch::Patch),
    /// The new value, whole.
    Replace(Value),
}

impl Patch {
    /// Applies the patch to `target`, atomically.
    ///
    /// # Errors
    ///
    /// [`Error::Apply`] when a JSON Patch operation fails (a `test` that does
    /// not match, a path that does not exist). `target` is then exactly as it
    /// was before the call. [`Error::Malformed`] when a merge patch read
    /// lazily turns out not to be JSON. Merge patches and replacements cannot
    /// fail otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Patch;
    /// use serde_json::json;
    ///
    /// let mut state = json!({"rows": [1, 2, 3]});
    /// let ops = serde_json::from_value(json!([
    ///     {"op": "replace", "path": "/rows/0", "value": 10},
    ///     {"op": "test", "path": "/rows/1", "value": 99},
    /// ]))?;
    /// let err = Patch::Json(ops).apply(&mut state).unwrap_err();
    /// assert!(matches!(err, live_resource::Error::Apply(_)));
    /// assert_eq!(state, json!({"rows": [1, 2, 3]}), "the first op was undone");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply(&self, target: &mut Value) -> Result<(), Error> {
        match self {
            Self::Merge(patch) => merge(target, &*patch.to_value()?),
            Self::Json(ops) => operations::apply(target, ops)?,
            Self::Replace(value) => *target = value.clone(),
        }
        Ok(())
    }

    /// Applies the patch to `target`, consuming it, atomically.
    ///
    /// The same as [`Patch::apply`] but moves the patch's values into the
    /// target instead of cloning them.
    ///
    /// # Errors
    ///
    /// As [`Patch::apply`]: the target is unchanged on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Patch;
    /// use serde_json::json;
    ///
    /// let mut state = json!({"done": 3});
    /// Patch::Replace(json!({"done": 4})).apply_owned(&mut state)?;
    /// assert_eq!(state, json!({"done": 4}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn apply_owned(self, target: &mut Value) -> Result<(), Error> {
        match self {
            Self::Merge(patch) => merge_owned(target, patch.into_value()?),
            Self::Json(ops) => operations::apply(target, &ops)?,
            Self::Replace(value) => *target = value,
        }
        Ok(())
    }

    /// The smallest patch that turns `from` into `to`, or `None` when they are equal.
    ///
    /// A merge patch wherever RFC 7396 can express the change. Where it cannot
    /// (a member set to an explicit `null`), or where element edits of an array
    /// make it strictly smaller, a JSON Patch; [`Patch::Replace`] when that is
    /// smaller still. For every `from` and `to`, applying the result to `from`
    /// gives exactly `to`.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::Patch;
    /// use serde_json::json;
    ///
    /// let log = json!(["started", "generated 10 records", "generated 20 records"]);
    /// let from = json!({"job": {"done": 10, "total": 100}, "log": log});
    /// let to = json!({"job": {"done": 11, "total": 100}, "log": log});
    /// assert_eq!(Patch::diff(&from, &to), Some(Patch::Merge(json!({"job": {"done": 11}}).into())));
    ///
    /// // A merge patch cannot set a member to null: JSON Patch says it.
    /// let to_null = json!({"job": null, "log": log});
    /// let patch = Patch::diff(&from, &to_null).unwrap();
    /// assert!(matches!(patch, Patch::Json(_)));
    ///
    /// let mut state = from.clone();
    /// patch.apply(&mut state)?;
    /// assert_eq!(state, to_null);
    /// assert_eq!(Patch::diff(&from, &from), None);
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn diff(from: &Value, to: &Value) -> Option<Patch> {
        diff::diff(from, to)
    }

    /// How deep the patch nests as it is written on the wire: the merge or
    /// replacement value's depth (a scalar is 0, `{}` and `[]` are 1), or for
    /// JSON Patch the depth of the operations array (so `[{"op":..}]` is 2).
    /// [`Limits::check_patch`](crate::Limits::check_patch) and
    /// [`Limits::parse_update`](crate::Limits::parse_update) agree on it.
    ///
    /// ```
    /// use live_resource::Patch;
    /// use serde_json::json;
    ///
    /// assert_eq!(Patch::Merge(json!({"a": {"b": [1]}}).into()).depth(), 3);
    /// let ops = serde_json::from_value(json!([{"op": "add", "path": "/a", "value": {"b": 1}}])).unwrap();
    /// assert_eq!(Patch::Json(ops).depth(), 3);
    /// ```
    pub fn depth(&self) -> usize {
        use json_patch::PatchOperation as Op;
        match self {
            Self::Merge(patch) => match (patch.as_value(), patch.as_text()) {
                (Some(value), _) => tree::Tree::depth(value),
                (_, Some(text)) => text.depth(),
                _ => unreachable!("a merge patch is a value or a text"),
            },
            Self::Replace(value) => tree::Tree::depth(value),
            Self::Json(ops) => {
                let deepest_value = ops
                    .iter()
                    .map(|op| match op {
                        Op::Add(op) => tree::Tree::depth(&op.value),
                        Op::Replace(op) => tree::Tree::depth(&op.value),
                        Op::Test(op) => tree::Tree::depth(&op.value),
                        Op::Remove(_) | Op::Move(_) | Op::Copy(_) => 0,
                    })
                    .max();
                // The array, each operation object, then the values inside.
                deepest_value.map_or(1, |depth| 2 + depth)
            }
        }
    }

    /// The length of this patch's value as compact JSON, in bytes, counted
    /// without building the text.
    ///
    /// ```
    /// use live_resource::Patch;
    /// use serde_json::json;
    ///
    /// assert_eq!(Patch::Merge(json!({"a": 1}).into()).encoded_len(), 7);
    /// ```
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Merge(patch) => match patch.to_value() {
                Ok(value) => length::encoded_len(&*value),
                Err(_) => patch.as_text().map_or(0, MergeText::text_len),
            },
            Self::Replace(value) => length::encoded_len(value),
            Self::Json(ops) => length::encoded_len(ops),
        }
    }
}

impl Patch {
    /// The most applying this patch can add to a state's size as compact
    /// JSON, besides what a JSON Patch copies: the patch's own length, taken
    /// from its text where it has one (whitespace counts, so it is never
    /// less), else counted with each decimal number at its longest
    /// ([`length::bound`]).
    pub(crate) fn growth_bound(&self) -> usize {
        match self {
            Self::Merge(patch) => match (patch.as_value(), patch.as_text()) {
                (Some(value), _) => length::bound(value),
                (_, Some(text)) => text.text_len(),
                _ => unreachable!("a merge patch is a value or a text"),
            },
            Self::Replace(value) => length::bound(value),
            Self::Json(ops) => length::encoded_len(ops),
        }
    }
}

/// Patches are equal when they are of one kind and hold the same value; a
/// merge patch still in its text equals the merge patch of the value
/// `serde_json` reads from it (see [`MergePatch`]'s equality).
///
/// ```
/// use live_resource::{Limits, Patch};
/// use serde_json::json;
///
/// let update = Limits::default().parse_update(br#"{"seq":1,"merge":{"done":3}}"#)?;
/// assert_eq!(update.patch, Patch::Merge(json!({"done": 3}).into()));
/// # Ok::<(), live_resource::Error>(())
/// ```
impl PartialEq for Patch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Merge(a), Self::Merge(b)) => a == b,
            (Self::Replace(a), Self::Replace(b)) => a == b,
            (Self::Json(a), Self::Json(b)) => a == b,
            _ => false,
        }
    }
}
