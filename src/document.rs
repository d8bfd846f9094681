//! [`Document`]: the JSON state a live resource keeps, indexed for patching.
//!
//! A merge patch looks up one key per level it touches. In a
//! [`serde_json::Value`] an object is a `BTreeMap`, so each lookup costs
//! O(log n) string comparisons, and on a dashboard of thousands of symbols that
//! search is most of the cost of an update. A [`Document`] keeps objects in a
//! hash-indexed map: a lookup costs one hash of the key, whatever the size of
//! the object, so a one-field update costs the same on a 1 KB state as on a
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

mod de;
mod merge;
mod tree;

use std::fmt;
use std::ops;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Number, Value};

use json_patch::jsonptr::Pointer;

use crate::patch::tree::Tree;
use crate::{Error, Patch};

/// The hasher of every [`Map`]: fast on short keys, and seeded at random per
/// process and per map, so that no fixed set of keys collides everywhere. It
/// makes no stronger claim against a sender that probes for collisions: the
/// state comes from the server a client chose to follow.
type KeyHasher = foldhash::fast::RandomState;

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
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Document>),
    /// An object.
    Object(Map),
}

/// The members of a JSON object in a [`Document`], found by hash.
///
/// Members keep the order in which they were added. Removing one moves the
/// last member into its place, so that a removal costs the same as a lookup;
/// JSON objects are unordered, and equality ignores order.
///
/// # Examples
///
/// ```
/// use live_resource::Document;
/// use serde_json::json;
///
/// let doc = Document::from(json!({"a": 1, "b": 2}));
/// let map = doc.as_object().unwrap();
/// assert_eq!(map.len(), 2);
/// assert_eq!(map.get("b"), Some(&Document::from(json!(2))));
/// assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b"]);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Map {
    // Boxed so that a `Document` stays as small as a `String`.
    members: Box<indexmap::IndexMap<Box<str>, Document, KeyHasher>>,
}

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty object with room for `capacity` members.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            members: Box::new(indexmap::IndexMap::with_capacity_and_hasher(
                capacity,
                KeyHasher::default(),
            )),
        }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member named `key`.
    pub fn get(&self, key: &str) -> Option<&Document> {
        match self.scan(key) {
            Scan::Found(index) => self.members.get_index(index).map(|(_, value)| value),
            Scan::Missing => None,
            Scan::TooMany => self.members.get(&Key(key)),
        }
    }

    /// The member named `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Document> {
        match self.scan(key) {
            Scan::Found(index) => self.members.get_index_mut(index).map(|(_, value)| value),
            Scan::Missing => None,
            Scan::TooMany => self.members.get_mut(&Key(key)),
        }
    }

    /// Where the member named `key` is in the order.
    pub(crate) fn index_of(&self, key: &str) -> Option<usize> {
        match self.scan(key) {
            Scan::Found(index) => Some(index),
            Scan::Missing => None,
            Scan::TooMany => self.members.get_index_of(&Key(key)),
        }
    }

    /// The value of the member at `index` in the order, which
    /// [`Map::index_of`] gave.
    pub(crate) fn value_at_mut(&mut self, index: usize) -> &mut Document {
        &mut self.members[index]
    }

    /// Looks `key` up in a small object by going through its members: the
    /// lengths sit beside the pointers, so most members are passed over
    /// without reading their text, and hashing the key costs more than that
    /// for a handful of members.
    fn scan(&self, key: &str) -> Scan {
        if self.members.len() > SCAN_MAX {
            return Scan::TooMany;
        }
        let found = self.members.keys().position(|member| {
            member.len() == key.len() && same_bytes(member.as_bytes(), key.as_bytes())
        });
        found.map_or(Scan::Missing, Scan::Found)
    }

    /// Whether there is a member named `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.members.contains_key(&Key(key))
    }

    /// Sets the member `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: impl Into<Box<str>>, value: Document) -> Option<Document> {
        self.members.insert(key.into(), value)
    }

    /// Removes the member `key`, returning its value. The last member takes
    /// its place in the order, so that a removal costs what a lookup costs.
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let mut doc = Document::from(json!({"a": 1, "b": 2, "c": 3}));
    /// let Document::Object(map) = &mut doc else { unreachable!() };
    /// assert_eq!(map.swap_remove("a"), Some(Document::from(json!(1))));
    /// assert_eq!(map.keys().collect::<Vec<_>>(), ["c", "b"]);
    /// ```
    pub fn swap_remove(&mut self, key: &str) -> Option<Document> {
        self.members.swap_remove(&Key(key))
    }

    /// [`Map::swap_remove`], also saying where the member was.
    pub(crate) fn swap_remove_full(&mut self, key: &str) -> Option<(usize, Document)> {
        let (index, _, value) = self.members.swap_remove_full(&Key(key))?;
        Some((index, value))
    }

    /// Puts a member back where [`Map::swap_remove_full`] took it from: the
    /// member moved into its place goes back to the end.
    pub(crate) fn restore(&mut self, index: usize, key: &str, value: Document) {
        let (last, _) = self.members.insert_full(key.into(), value);
        if index < last {
            self.members.swap_indices(index, last);
        }
    }

    /// The members, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Document)> {
        self.members.iter().map(|(key, value)| (&**key, value))
    }

    /// The member names, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.members.keys().map(|key| &**key)
    }

    /// The member values, in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Document> {
        self.members.values()
    }

    /// The member values, in order, to change in place.
    pub fn values_mut(&mut self) -> impl ExactSizeIterator<Item = &mut Document> {
        self.members.values_mut()
    }

    fn entries(&self) -> indexmap::map::Iter<'_, Box<str>, Document> {
        self.members.iter()
    }
}

/// Objects up to this many members are searched by [`Map::scan`].
const SCAN_MAX: usize = 8;

/// What [`Map::scan`] found.
enum Scan {
    Found(usize),
    Missing,
    TooMany,
}

/// A key to look up: hashed as the `str` it is, compared without a call.
///
/// Keys are mostly short (field names, symbols), and `==` on two `str`s calls
/// `memcmp`, which for a handful of bytes costs more than the comparison: a
/// fifth of a one-field merge went there.
#[derive(Hash)]
struct Key<'a>(&'a str);

impl indexmap::Equivalent<Box<str>> for Key<'_> {
    fn equivalent(&self, key: &Box<str>) -> bool {
        same_bytes(self.0.as_bytes(), key.as_bytes())
    }
}

/// `a == b`, for the short keys JSON objects mostly have: a key of 4 to 16
/// bytes is two loads and two compares of a word from each end (they may
/// overlap), and only longer keys compare the middle too.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let len = a.len();
    if len >= 8 {
        let word = |bytes: &[u8], at: usize| {
            u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
        };
        let ends = word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8);
        return ends && (len <= 16 || a[8..len - 8] == b[8..len - 8]);
    }
    if len >= 4 {
        let word = |bytes: &[u8], at: usize| {
            u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
        };
        return word(a, 0) == word(b, 0) && word(a, len - 4) == word(b, len - 4);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a str, &'a Document);
    type IntoIter = std::iter::Map<
        indexmap::map::Iter<'a, Box<str>, Document>,
        fn((&'a Box<str>, &'a Document)) -> (&'a str, &'a Document),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.members.iter().map(|(key, value)| (&**key, value))
    }
}

impl<K: Into<Box<str>>> FromIterator<(K, Document)> for Map {
    /// ```
    /// use live_resource::Document;
    /// use live_resource::document::Map;
    ///
    /// let map: Map = [("a", Document::Bool(true))].into_iter().collect();
    /// assert_eq!(Document::Object(map)["a"], true);
    /// ```
    fn from_iter<I: IntoIterator<Item = (K, Document)>>(members: I) -> Self {
        let members = members.into_iter();
        let mut map = Map::with_capacity(members.size_hint().0);
        for (key, value) in members {
            map.insert(key, value);
        }
        map
    }
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
            Self::String(string) => Value::String(string.clone()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(map) => Value::Object(
                map.entries()
                    .map(|(key, value)| (key.to_string(), value.to_value()))
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
    /// then as it was; [`Error::Malformed`] when a [`Patch::MergeText`] read
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
    /// doc.apply(&Patch::Merge(json!({"ok": true})))?;
    /// assert_eq!(doc, json!({"log": ["started", "done"], "ok": true}));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply(&mut self, patch: &Patch) -> Result<(), Error> {
        match patch {
            Patch::Merge(patch) => self.merge(patch),
            Patch::MergeText(patch) => self.merge_text(patch)?,
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
            Patch::Merge(patch) => self.merge_owned(patch),
            Patch::MergeText(patch) => self.merge_text(&patch)?,
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

impl From<Value> for Document {
    /// Moves a `Value` in, reusing its strings.
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(bool) => Self::Bool(bool),
            Value::Number(number) => Self::Number(number),
            Value::String(string) => Self::String(string),
            Value::Array(items) => Self::Array(items.into_iter().map(Self::from).collect()),
            Value::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, value) in members {
                    map.insert(key, Self::from(value));
                }
                Self::Object(map)
            }
        }
    }
}

impl From<&Value> for Document {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(bool) => Self::Bool(*bool),
            Value::Number(number) => Self::Number(number.clone()),
            Value::String(string) => Self::String(string.clone()),
            Value::Array(items) => Self::Array(items.iter().map(Self::from).collect()),
            Value::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, value) in members {
                    map.insert(key.as_str(), Self::from(value));
                }
                Self::Object(map)
            }
        }
    }
}

impl From<Document> for Value {
    fn from(document: Document) -> Self {
        match document {
            Document::Null => Value::Null,
            Document::Bool(bool) => Value::Bool(bool),
            Document::Number(number) => Value::Number(number),
            Document::String(string) => Value::String(string),
            Document::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
            Document::Object(map) => Value::Object(
                map.members
                    .into_iter()
                    .map(|(key, value)| (key.into_string(), Value::from(value)))
                    .collect(),
            ),
        }
    }
}

impl PartialEq<Value> for Document {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Self::Null, Value::Null) => true,
            (Self::Bool(a), Value::Bool(b)) => a == b,
            (Self::Number(a), Value::Number(b)) => a == b,
            (Self::String(a), Value::String(b)) => a == b,
            (Self::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().eq(b.iter()),
            (Self::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && b.iter()
                        .all(|(key, value)| a.get(key).is_some_and(|ours| ours == value))
            }
            _ => false,
        }
    }
}

impl PartialEq<Document> for Value {
    fn eq(&self, other: &Document) -> bool {
        other == self
    }
}

/// `document == 2`, `document == "text"`, as with a `serde_json::Value`.
macro_rules! eq_primitive {
    ($($ty:ty => $as:ident),* $(,)?) => {
        $(
            impl PartialEq<$ty> for Document {
                fn eq(&self, other: &$ty) -> bool {
                    self.$as().is_some_and(|value| value == *other)
                }
            }

            impl PartialEq<Document> for $ty {
                fn eq(&self, other: &Document) -> bool {
                    other == self
                }
            }
        )*
    };
}

eq_primitive! {
    i64 => as_i64,
    u64 => as_u64,
    f64 => as_f64,
    bool => as_bool,
}

impl PartialEq<i32> for Document {
    fn eq(&self, other: &i32) -> bool {
        self.as_i64() == Some(i64::from(*other))
    }
}

impl PartialEq<str> for Document {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Document {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Document {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

/// Where nothing is found, indexing gives this, as `serde_json::Value` does.
static NULL: Document = Document::Null;

impl ops::Index<&str> for Document {
    type Output = Document;

    /// The member `key`, or `Null` when this is not an object or has no such member.
    fn index(&self, key: &str) -> &Document {
        self.get(key).unwrap_or(&NULL)
    }
}

impl ops::Index<&String> for Document {
    type Output = Document;

    /// The member `key`, or `Null`, as with a `&str`.
    fn index(&self, key: &String) -> &Document {
        &self[key.as_str()]
    }
}

impl ops::Index<usize> for Document {
    type Output = Document;

    /// The item at `index`, or `Null` when this is not an array or is shorter.
    fn index(&self, index: usize) -> &Document {
        self.as_array()
            .and_then(|items| items.get(index))
            .unwrap_or(&NULL)
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(bool) => serializer.serialize_bool(*bool),
            Self::Number(number) => number.serialize(serializer),
            Self::String(string) => serializer.serialize_str(string),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(map) => map.serialize(serializer),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut members = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.entries() {
            members.serialize_entry(&**key, value)?;
        }
        members.end()
    }
}

impl fmt::Display for Document {
    /// Compact JSON text, or indented with `{:#}`.
    ///
    /// ```
    /// use live_resource::Document;
    /// use serde_json::json;
    ///
    /// let doc = Document::from(json!({"a": [1]}));
    /// assert_eq!(doc.to_string(), r#"{"a":[1]}"#);
    /// assert_eq!(format!("{doc:#}"), "{\n  \"a\": [\n    1\n  ]\n}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = f.alternate();
        let mut out = Utf8Writer(f);
        let written = match pretty {
            true => serde_json::to_writer_pretty(&mut out, self),
            false => serde_json::to_writer(&mut out, self),
        };
        written.map_err(|_| fmt::Error)
    }
}

/// Lets serde_json write JSON text straight into a `Formatter`, without
/// building a `String` of a state that may be large.
struct Utf8Writer<'a, 'f>(&'a mut fmt::Formatter<'f>);

impl std::io::Write for Utf8Writer<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        // serde_json writes whole characters at a time.
        let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
        self.0.write_str(text).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Bool(bool) => write!(f, "Bool({bool})"),
            Self::Number(number) => write!(f, "Number({number})"),
            Self::String(string) => write!(f, "String({string:?})"),
            Self::Array(items) => {
                f.write_str("Array ")?;
                f.debug_list().entries(items).finish()
            }
            Self::Object(map) => {
                f.write_str("Object ")?;
                map.fmt(f)
            }
        }
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}
