//! [`Map`]: a JSON object of a [`Document`], its members found by hash, and
//! small ones by a scan of their keys.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::Document;

/// The hasher of every [`Map`]: fast on short keys, and seeded at random per
/// process and per map, so that no fixed set of keys collides everywhere. It
/// makes no stronger claim against a sender that probes for collisions: the
/// state comes from the server a client chose to follow.
type KeyHasher = foldhash::fast::RandomState;

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
    // Inlined into the merges, whose every member it finds: left to the
    // codegen units, it was not, now and then (callgrind, 30-60
    // instructions an update).
    #[inline]
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

    /// The member named `key`, and where it is in the order.
    pub(crate) fn get_full(&self, key: &str) -> Option<(usize, &Document)> {
        let index = self.index_of(key)?;
        Some((index, &self.members[index]))
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

    /// Keeps the first `len` members, dropping the rest.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.members.truncate(len);
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

    /// The member at `index` in the order.
    pub(crate) fn get_index(&self, index: usize) -> Option<(&str, &Document)> {
        self.members
            .get_index(index)
            .map(|(key, value)| (&**key, value))
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

    pub(super) fn entries(&self) -> indexmap::map::Iter<'_, Box<str>, Document> {
        self.members.iter()
    }

    /// The members, moved out, in their order.
    pub(super) fn into_entries(self) -> indexmap::map::IntoIter<Box<str>, Document> {
        self.members.into_iter()
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

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut members = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.entries() {
            members.serialize_entry(&**key, value)?;
        }
        members.end()
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}
