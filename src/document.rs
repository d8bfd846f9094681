//! [`Document`]: the JSON state a live resource keeps, indexed for patching.
//!
//! A merge patch looks up one key per level it touches. In a
//! [`serde_json::Value`] an object is a `BTreeMap`, so each lookup costs
//! O(log n) string comparisons, and on a dashboard of thousands of symbols that
//! search is most of the cost of an update. A [`Document`] keeps large
//! objects in a hash-indexed map (a lookup costs one hash of the key, whatever
//! the size of the object) and small ones in an array of a few members,
//! scanned, so a one-field update costs the same on a 1 KB state as on a
//! 1 MB one.
//!
//! It reads like a `serde_json::Value`: the same six kinds of value, the same
//! numbers ([`serde_json::Number`]), `doc["key"]` and `doc[0]` that give
//! `Null` when nothing is there, [`Document::pointer`], comparison with a
//! `Value` or a number or string, and decoding into any `T: Deserialize`
//! straight from the document, without a copy, by serde_json's rules. Two
//! things differ: members keep the order they arrived in (a `Value`'s are
//! sorted), and a member deleted by a patch hands its place in that order to
//! the last member.

mod ahead;
mod de;
mod from;
mod index;
mod map;
mod merge;
mod names;
mod partial_eq;
mod ser;
mod string;
mod tree;

pub use map::{Iter, Map};
pub use string::Str;

use serde_json::{Number, Value};

use json_patch::jsonptr::Pointer;

use crate::patch::tree::Tree;
use crate::{Error, Patch};

/// A JSON value, kept for patching: the state of a
/// [`LiveResource`](crate::LiveResource).
///
/// It reads like [`serde_json::Value`]: index it with a key or a position,
/// follow a [`pointer`](Document::pointer), compare it with a `Value`, or turn
/// it into one with [`to_value`](Document::to_value). Decode it into your own
/// type with `T::deserialize(&document)`, which borrows its strings where `T`
/// can.
///
/// # Examples
///
/// ```
/// use live_resource::Document;
/// use serde::Deserialize;
/// use serde_json::json;
///
/// let mut board = Document::from(json!({"AAPL": {"price": 189.5, "volume": 1200}}));
/// board.merge(&json!({"AAPL": {"price": 190.25}}));
/// assert_eq!(board["AAPL"]["price"], json!(190.25));
/// assert_eq!(board.pointer("/AAPL/volume").and_then(|v| v.as_u64()), Some(1200));
/// assert!(board["MSFT"].is_null());
///
/// #[derive(Deserialize)]
/// struct Quote { price: f64 }
/// let quote = Quote::deserialize(&board["AAPL"])?;
/// assert_eq!(quote.price, 190.25);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
pub enum Document {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as `serde_json` keeps it.
    Number(Number),
    /// A string: kept in place, without an allocation, up to 24 bytes (on
    /// 64-bit targets).
    String(Str),
    /// An array.
    Array(Vec<Document>),
    /// An object.
    Object(Map),
}

impl Document {
    /// This document as a [`serde_json::Value`], copied.
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let doc = Document::from(json!({"a": [1, "two", null]}));
    /// assert_eq!(doc.to_value(), json!({"a": [1, "two", null]}));
    /// ```
    pub fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(bool) => Value::Bool(*bool),
            Self::Number(number) => Value::Number(number.clone()),
            Self::String(string) => Value::String(string.as_str().to_owned()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(map) => Value::Object(
                map.entries()
                    .map(|(key, value)| (String::from(key), value.to_value()))
                    .collect(),
            ),
        }
    }

    /// Applies a [`Patch`], atomically: the same result as
    /// [`Patch::apply`] on the equivalent `serde_json::Value`.
    ///
    /// # Errors
    ///
    /// [`Error::Apply`] when a JSON Patch operation fails; the document is
    /// then as it was; [`Error::Malformed`] when a merge patch read
    /// lazily turns out not to be JSON. Merge patches and replacements cannot
    /// fail otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::{Document, Patch};
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"log": ["started"]}));
    /// let ops = serde_json::from_value(json!([{"op": "add", "path": "/log/-", "value": "done"}]))?;
    /// doc.apply(&Patch::Json(ops))?;
    /// doc.apply(&Patch::Merge(json!({"ok": true}).into()))?;
    /// assert_eq!(doc, json!({"log": ["started", "done"], "ok": true}));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply(&mut self, patch: &Patch) -> Result<(), Error> {
        match patch {
            Patch::Merge(patch) => match (patch.as_value(), patch.as_text()) {
                (Some(value), _) => self.merge(value),
                (_, Some(text)) => self.merge_text(text)?,
                _ => unreachable!("a merge patch is a value or a text"),
            },
            Patch::Json(ops) => crate::patch::operations::apply(self, ops)?,
            Patch::Replace(value) => *self = Document::from(value),
        }
        Ok(())
    }

    /// [`Document::apply`], consuming the patch: a merge patch's or a
    /// replacement's values move into the document instead of being copied.
    /// (A JSON Patch's values are copied, as one operation's value may be
    /// written more than once.)
    ///
    /// # Errors
    ///
    /// As [`Document::apply`].
    ///
    /// ```
    /// use live_resource::{Document, Patch};
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"n": 1}));
    /// doc.apply_owned(Patch::Replace(json!({"n": 2})))?;
    /// assert_eq!(doc, json!({"n": 2}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn apply_owned(&mut self, patch: Patch) -> Result<(), Error> {
        match patch {
            Patch::Merge(patch) => match patch.as_text() {
                Some(text) => self.merge_text(text)?,
                None => self.merge_owned(patch.into_value()?),
            },
            Patch::Json(ops) => crate::patch::operations::apply(self, &ops)?,
            Patch::Replace(value) => *self = Document::from(value),
        }
        Ok(())
    }

    /// The value at an RFC 6901 JSON Pointer (`""` is the whole document,
    /// `/a/0/b` a path; `~1` stands for `/` and `~0` for `~` in a key).
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let doc = Document::from(json!({"a/b": [{"c": 1}]}));
    /// assert_eq!(doc.pointer("/a~1b/0/c"), Some(&Document::from(json!(1))));
    /// assert_eq!(doc.pointer("/missing"), None);
    /// ```
    pub fn pointer(&self, pointer: &str) -> Option<&Document> {
        Tree::at(self, Pointer::parse(pointer).ok()?)
    }

    /// The value at an RFC 6901 JSON Pointer, to change in place.
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"rows": [{"n": 1}]}));
    /// *doc.pointer_mut("/rows/0/n").unwrap() = Document::from(json!(2));
    /// assert_eq!(doc, json!({"rows": [{"n": 2}]}));
    /// ```
    pub fn pointer_mut(&mut self, pointer: &str) -> Option<&mut Document> {
        Tree::at_mut(self, Pointer::parse(pointer).ok()?)
    }

    /// Takes the value out, leaving `null` in its place.
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"a": [1]}));
    /// let a = doc.pointer_mut("/a").unwrap().take();
    /// assert_eq!(a, json!([1]));
    /// assert_eq!(doc, json!({"a": null}));
    /// ```
    pub fn take(&mut self) -> Document {
        std::mem::take(self)
    }

    /// `true` for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// `true` for `true` and `false`.
    pub fn is_boolean(&self) -> bool {
        matches!(self, Self::Bool(_))
    }

    /// `true` for a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Self::Number(_))
    }

    /// `true` for a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Self::String(_))
    }

    /// `true` for an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Self::Array(_))
    }

    /// `true` for an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Self::Object(_))
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(bool) => Some(*bool),
            _ => None,
        }
    }

    /// The number as `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    /// The number as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The number as `u64`, if this is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Self::Number(number) => Some(number),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(string) => Some(string),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<Document>> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Self::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The members, to change in place, if this is an object.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Self::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The items, to change in place, if this is an array.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Document>> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The member `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Document> {
        self.as_object().and_then(|map| map.get(key))
    }
}
