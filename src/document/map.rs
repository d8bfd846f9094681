//! [`Map`]: a JSON object of a [`Document`], its members found by hash, and
//! small ones by a scan of their keys.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::Document;
use super::names::{Name, name};

mod hashed;

use hashed::Hashed;

/// The hasher of every [`Map`]: fast on short keys, and seeded at random per
/// process and per map, so that no fixed set of keys collides everywhere. It
/// makes no stronger claim against a sender that probes for collisions: the
/// state comes from the server a client chose to follow.
type KeyHasher = foldhash::fast::RandomState;

/// The members of a JSON object in a [`Document`].
///
/// Members keep the order in which they were added. Removing one moves the
/// last member into its place, so that a removal costs the same as a lookup;
/// JSON objects are unordered, and equality ignores order.
///
/// An object of up to sixteen members (most objects: a record, a quote, a
/// point) keeps them in one array, found by a scan of their keys, with no
/// index and no header of its own: the array hangs straight off the value
/// that holds the object. In a table of a million records, each record is
/// then a third of the memory it took as a hashed map, and one cache line
/// nearer: a change to a record, which misses the cache at every line it
/// reads, reads fewer. The names of such small objects are shared: a
/// table's records hold one copy of each field name between them, not one
/// each.
///
/// A larger object (the table itself) is found by hash: one word of an
/// index, then the member, whose name (up to 24 bytes, a row id) sits in
/// the same cache line as its value: finding a row among a million reads
/// two lines that missed the cache, where an `IndexMap` read four. A
/// longer name (a UUID) is allocated, and shared with the record's string
/// member of the same text (its `id`) when the record added under it has
/// one.
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
#[derive(Clone)]
pub struct Map {
    members: Members,
}

#[derive(Clone)]
enum Members {
    /// Up to [`FEW`] members, in order.
    Few(Vec<(Name, Document)>),
    /// More, by hash (an object that shrinks stays here), each name in
    /// place. Boxed so that a `Document` stays as small as a `String` and a
    /// tag.
    Many(Box<Hashed>),
}

/// The most members an object keeps in an array, scanned; the scan of so
/// few keys, their lengths compared first, costs less than a hash. Sixteen,
/// not eight: a record of twelve fields (280 bytes of JSON) kept as a
/// hashed map took 1.3 KB over 17 cache lines (its header, index and
/// members, a line each), and a change to one at a million rows 3.7 µs; as
/// an array it is 576 bytes over nine lines, read ahead together, and 2.7
/// µs. Objects of nine to sixteen members are rare elsewhere, and a scan
/// of them costs about what a hash does.
const FEW: usize = 16;

impl Default for Map {
    fn default() -> Self {
        Self {
            members: Members::Few(Vec::new()),
        }
    }
}

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty object with room for `capacity` members.
    pub fn with_capacity(capacity: usize) -> Self {
        let members = if capacity <= FEW {
            Members::Few(Vec::with_capacity(capacity))
        } else {
            Members::Many(Box::new(Hashed::with_capacity(capacity)))
        };
        Self { members }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        match &self.members {
            Members::Few(members) => members.len(),
            Members::Many(members) => members.len(),
        }
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member named `key`.
    pub fn get(&self, key: &str) -> Option<&Document> {
        match &self.members {
            Members::Few(members) => members
                .iter()
                .find(|(name, _)| same_key(name, key))
                .map(|(_, value)| value),
            Members::Many(members) => {
                let place = members.place_of(key)?;
                Some(&members.members()[place].value)
            }
        }
    }

    /// The member named `key`, to change in place.
    // Inlined into the merges, whose every member it finds: left to the
    // codegen units, it was not, now and then (callgrind, 30-60
    // instructions an update).
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Document> {
        match &mut self.members {
            Members::Few(members) => members
                .iter_mut()
                .find(|(name, _)| same_key(name, key))
                .map(|(_, value)| value),
            Members::Many(members) => {
                let place = members.place_of(key)?;
                Some(&mut members.members_mut()[place].value)
            }
        }
    }

    /// Where the member named `key` is in the order.
    #[inline]
    pub(crate) fn index_of(&self, key: &str) -> Option<usize> {
        match &self.members {
            Members::Few(members) => scan(members, key),
            Members::Many(members) => members.place_of(key),
        }
    }

    /// The members of a small object (none of a large one).
    pub(super) fn few_members(&self) -> &[(Name, Document)] {
        match &self.members {
            Members::Few(members) => members,
            Members::Many(_) => &[],
        }
    }

    /// The members of a small object (none of a large one), to change.
    fn few_members_mut(&mut self) -> &mut [(Name, Document)] {
        match &mut self.members {
            Members::Few(members) => members,
            Members::Many(_) => &mut [],
        }
    }

    /// Where the member named `key` is in the order, as
    /// [`Map::index_of`], for the first lookup of a change. In a large
    /// object the place is told to `ahead` as soon as the index holds it,
    /// before the member is read (so a place whose member turns out to have
    /// another name may be told too: a hint), and the member's value is
    /// read ahead ([`Document::read_ahead`]) before its name is compared. In
    /// a small object the place is told once found, and nothing is read
    /// ahead: its members are one array, already read by the scan.
    ///
    /// At a million rows each of those reads misses the cache; made one
    /// after another, as the change needs them, each waits for the last.
    /// Issued together here, they are waited for together.
    pub(crate) fn index_reading_ahead(&self, key: &str, ahead: &dyn Fn(usize)) -> Option<usize> {
        match &self.members {
            Members::Few(members) => {
                let place = scan(members, key)?;
                ahead(place);
                Some(place)
            }
            Members::Many(members) => members.place_reading_ahead(key, ahead),
        }
    }

    /// The member named `key`, and where it is in the order.
    pub(crate) fn get_full(&self, key: &str) -> Option<(usize, &Document)> {
        let index = self.index_of(key)?;
        Some((index, self.get_index(index)?.1))
    }

    /// The value of the member at `index` in the order, which
    /// [`Map::index_of`] gave.
    pub(crate) fn value_at_mut(&mut self, index: usize) -> &mut Document {
        match &mut self.members {
            Members::Few(members) => &mut members[index].1,
            Members::Many(members) => &mut members.members_mut()[index].value,
        }
    }

    /// Gives back the room a small object grew into and does not use: read
    /// member by member, an object of five grows room for eight, and in a
    /// table of a million records that is a fifth of its memory. (A large
    /// object keeps its room: shrinking would copy it whole.)
    pub(crate) fn shrink_to_fit(&mut self) {
        if let Members::Few(members) = &mut self.members {
            members.shrink_to_fit();
        }
    }

    /// Keeps the first `len` members, dropping the rest.
    pub(crate) fn truncate(&mut self, len: usize) {
        match &mut self.members {
            Members::Few(members) => members.truncate(len),
            Members::Many(members) => members.truncate(len),
        }
    }

    /// Whether there is a member named `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index_of(key).is_some()
    }

    /// Sets the member `key` to `value`, returning the value it replaced. A
    /// member already there keeps its place in the order; a new one goes
    /// last. The name is copied (or shared with a field name made lately,
    /// for a small object), whatever form `key` comes in.
    ///
    /// ```
    /// use live_resource::Document;
    /// use live_resource::document::Map;
    ///
    /// let mut map = Map::new();
    /// map.insert("a", Document::Null);
    /// map.insert(String::from("b"), Document::Null);
    /// assert_eq!(map.insert("a", Document::Bool(true)), Some(Document::Null));
    /// assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn insert(&mut self, key: impl AsRef<str>, value: Document) -> Option<Document> {
        self.insert_full(key.as_ref(), value).1
    }

    /// [`Map::insert`], also saying where the member is.
    fn insert_full(&mut self, key: &str, value: Document) -> (usize, Option<Document>) {
        if let Some(index) = self.index_of(key) {
            let old = std::mem::replace(self.value_at_mut(index), value);
            return (index, Some(old));
        }
        match &mut self.members {
            Members::Few(members) if members.len() < FEW => {
                if members.len() == members.capacity() {
                    // Doubled, but never past the most an array holds: a
                    // record of twelve that gains a member takes room for
                    // sixteen, not twenty-four.
                    let room = members.len().max(4).min(FEW - members.len());
                    members.reserve_exact(room);
                }
                members.push((name(key), value));
                (members.len() - 1, None)
            }
            Members::Few(members) => {
                let mut many = Hashed::with_capacity(FEW + 1);
                // Each name is made again, in place or allocated (a large
                // object's names are not the shared field names of a
                // record's): once, as the object outgrows its array.
                for (name, value) in members.drain(..) {
                    many.push(&name, value);
                }
                let index = many.push(key, value);
                self.members = Members::Many(Box::new(many));
                (index, None)
            }
            Members::Many(members) => (members.push(key, value), None),
        }
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
        self.swap_remove_full(key).map(|(_, value)| value)
    }

    /// [`Map::swap_remove`], also saying where the member was.
    pub(crate) fn swap_remove_full(&mut self, key: &str) -> Option<(usize, Document)> {
        let index = self.index_of(key)?;
        let value = match &mut self.members {
            Members::Few(members) => members.swap_remove(index).1,
            Members::Many(members) => members.swap_remove(index).value,
        };
        Some((index, value))
    }

    /// Puts a member back where [`Map::swap_remove_full`] took it from: the
    /// member moved into its place goes back to the end.
    pub(crate) fn restore(&mut self, index: usize, key: &str, value: Document) {
        let (last, _) = self.insert_full(key, value);
        if index < last {
            match &mut self.members {
                Members::Few(members) => members.swap(index, last),
                Members::Many(members) => members.swap(index, last),
            }
        }
    }

    /// The members, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Document)> {
        self.entries()
    }

    /// The member at `index` in the order.
    pub(crate) fn get_index(&self, index: usize) -> Option<(&str, &Document)> {
        match &self.members {
            Members::Few(members) => members.get(index).map(|(key, value)| (&**key, value)),
            Members::Many(members) => members
                .members()
                .get(index)
                .map(|member| (member.name(), &member.value)),
        }
    }

    /// The member names, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries().map(|(key, _)| key)
    }

    /// The member values, in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Document> {
        self.entries().map(|(_, value)| value)
    }

    /// The member values, in order, to change in place.
    pub fn values_mut(&mut self) -> impl ExactSizeIterator<Item = &mut Document> {
        let (few, many) = match &mut self.members {
            Members::Few(members) => (Some(members.iter_mut().map(|(_, value)| value)), None),
            Members::Many(members) => (
                None,
                Some(
                    members
                        .members_mut()
                        .iter_mut()
                        .map(|member| &mut member.value),
                ),
            ),
        };
        Either(few, many)
    }

    pub(super) fn entries(&self) -> Entries<'_> {
        match &self.members {
            Members::Few(members) => Entries::Few(members.iter()),
            Members::Many(members) => Entries::Many(members.members().iter()),
        }
    }

    /// The members, moved out, in their order.
    pub(super) fn into_entries(self) -> impl ExactSizeIterator<Item = (String, Document)> {
        let (few, many) = match self.members {
            Members::Few(members) => (
                Some(
                    members
                        .into_iter()
                        .map(|(name, value)| (String::from(&*name), value)),
                ),
                None,
            ),
            Members::Many(members) => (
                None,
                Some(members.into_members().map(|member| {
                    let (name, value) = member.into_parts();
                    (name.into_string(), value)
                })),
            ),
        };
        Either(few, many)
    }
}

/// Where `key` is among `members`, found by going through them: the
/// lengths sit beside the pointers, so most names are passed over without
/// reading their text, and hashing the key costs more than that for a
/// handful.
#[inline]
fn scan(members: &[(Name, Document)], key: &str) -> Option<usize> {
    members.iter().position(|(name, _)| same_key(name, key))
}

/// Whether the member name `name` is `key`: the lengths first, which sit
/// beside the pointer, then the text.
#[inline]
fn same_key(name: &str, key: &str) -> bool {
    name.len() == key.len() && same_bytes(name.as_bytes(), key.as_bytes())
}

/// The members of a [`Map`], in order.
#[derive(Debug)]
pub(super) enum Entries<'a> {
    Few(std::slice::Iter<'a, (Name, Document)>),
    Many(std::slice::Iter<'a, hashed::Member>),
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, &'a Document);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Few(members) => members.next().map(|(key, value)| (&**key, value)),
            Self::Many(members) => members.next().map(|member| (member.name(), &member.value)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Few(members) => members.size_hint(),
            Self::Many(members) => members.size_hint(),
        }
    }
}

impl ExactSizeIterator for Entries<'_> {}

/// The members of a [`Map`], in order, as `&map` gives them.
///
/// ```
/// use live_resource::Document;
/// use serde_json::json;
///
/// let doc = Document::from(json!({"a": 1, "b": 2}));
/// let mut sum = 0;
/// for (_key, value) in doc.as_object().unwrap() {
///     sum += value.as_i64().unwrap();
/// }
/// assert_eq!(sum, 3);
/// ```
#[derive(Debug)]
pub struct Iter<'a> {
    entries: Entries<'a>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a Document);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// One of two iterators of the same items.
struct Either<A, B>(Option<A>, Option<B>);

impl<A, B, T> Iterator for Either<A, B>
where
    A: Iterator<Item = T>,
    B: Iterator<Item = T>,
{
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Self(Some(a), _) => a.next(),
            Self(_, Some(b)) => b.next(),
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self(Some(a), _) => a.size_hint(),
            Self(_, Some(b)) => b.size_hint(),
            _ => (0, Some(0)),
        }
    }
}

impl<A: ExactSizeIterator<Item = T>, B: ExactSizeIterator<Item = T>, T> ExactSizeIterator
    for Either<A, B>
{
}

/// Equal when they have the same members, in any order.
impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .entries()
                .all(|(key, value)| other.get(key) == Some(value))
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
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        Iter {
            entries: self.entries(),
        }
    }
}

impl<K: AsRef<str>> FromIterator<(K, Document)> for Map {
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
            members.serialize_entry(key, value)?;
        }
        members.end()
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Reading ahead finds what `index_of` finds, and tells the place: in
    /// a small object once, on a hit only.
    #[test]
    fn the_lookup_that_reads_ahead_finds_and_tells_the_place() {
        for size in [3, 30] {
            let members: serde_json::Map<String, serde_json::Value> = (0..size)
                .map(|n| (format!("k{n}"), json!({"id": format!("k{n}"), "n": n})))
                .collect();
            let doc = Document::from(serde_json::Value::Object(members));
            let map = doc.as_object().unwrap();
            for n in 0..size {
                let told = std::cell::RefCell::new(Vec::new());
                let ahead = |place| told.borrow_mut().push(place);
                let key = format!("k{n}");
                let place = map.index_of(&key).unwrap();
                assert_eq!(map.index_reading_ahead(&key, &ahead), Some(place));
                // A large object may tell a place whose member has another
                // name first (a hint); the place found is told last.
                let told = told.into_inner();
                assert_eq!(told.last(), Some(&place), "{key} of {size}");
                assert!(size > FEW || told.len() == 1, "a small object tells once");
            }
            let told = std::cell::Cell::new(false);
            assert_eq!(
                map.index_reading_ahead("missing", &|_| told.set(true)),
                None
            );
            assert!(size > FEW || !told.get(), "a small object tells no miss");
        }
    }

    /// A table of UUID-keyed records made every way real data comes (read
    /// from text, from a `Value`, grown past the small form one row at a
    /// time, and a member added to an existing table) shares each row's
    /// id with its name; a row whose `id` is not its key does not.
    #[test]
    fn long_row_ids_are_shared_however_the_table_is_made() {
        let key = |n: u32| format!("{n:08x}-0a4b-4c3d-8e5f-7a6b5c4d3e2f");
        let rows: serde_json::Map<String, serde_json::Value> = (0..20)
            .map(|n| (key(n), json!({"n": n, "id": key(n)})))
            .collect();
        let value = serde_json::Value::Object(rows.clone());
        let read: Document = serde_json::from_str(&value.to_string()).unwrap();
        let converted = Document::from(value.clone());
        let mut grown = Map::new();
        for (name, row) in &rows {
            grown.insert(name, Document::from(row.clone()));
        }
        grown.insert(
            "not its own id, and long enough",
            Document::from(json!({"id": key(0)})),
        );
        for map in [
            read.as_object().unwrap(),
            converted.as_object().unwrap(),
            &grown,
        ] {
            let Members::Many(hashed) = &map.members else {
                panic!("a large object")
            };
            for n in 0..20 {
                let member = &hashed.members()[map.index_of(&key(n)).unwrap()];
                assert!(member.shares_name_with("id"), "{}", key(n));
            }
            assert_eq!(map.len(), 20 + usize::from(std::ptr::eq(map, &grown)));
        }
        let Members::Many(hashed) = &grown.members else {
            unreachable!()
        };
        assert!(!hashed.members()[20].shares_name_with("id"));
        assert_eq!(read, converted);
        assert_eq!(read, value);
    }

    #[test]
    fn a_document_stays_as_small_as_a_string_and_a_tag() {
        assert_eq!(std::mem::size_of::<Map>(), std::mem::size_of::<String>());
        assert_eq!(std::mem::size_of::<Document>(), 32);
    }

    /// Every operation, on an object kept in an array, on one grown past it
    /// into a hashed one, and on one that shrank back: the same members, in
    /// the same order, as a plain list of them says.
    #[test]
    fn the_small_and_large_forms_keep_the_same_order() {
        let mut map = Map::new();
        let mut model: Vec<(String, i64)> = Vec::new();
        let check = |map: &Map, model: &Vec<(String, i64)>| {
            let members: Vec<(String, i64)> = map
                .iter()
                .map(|(key, value)| (key.to_owned(), value.as_i64().unwrap()))
                .collect();
            assert_eq!(&members, model);
            for (index, (key, value)) in model.iter().enumerate() {
                assert_eq!(map.index_of(key), Some(index));
                assert_eq!(map.get(key), Some(&Document::from(json!(value))));
            }
            assert_eq!(map.get("missing"), None);
        };
        // Grown one member at a time past the small form, and back.
        for n in 0..20i64 {
            let key = format!("k{n}");
            assert_eq!(map.insert(key.as_str(), Document::from(json!(n))), None);
            model.push((key, n));
            check(&map, &model);
        }
        assert_eq!(
            map.insert("k3", Document::from(json!(33))),
            Some(Document::from(json!(3)))
        );
        model[3].1 = 33;
        check(&map, &model);
        for n in [0i64, 19, 5, 7, 1, 2, 3, 4, 6, 8, 9, 10, 11] {
            let key = format!("k{n}");
            let index = model.iter().position(|(k, _)| *k == key).unwrap();
            let (at, _) = map.swap_remove_full(&key).unwrap();
            assert_eq!(at, index);
            model.swap_remove(index);
            check(&map, &model);
        }
        // Taken out and put back where it was, in both forms.
        for map in [
            &mut map,
            &mut Map::from_iter(
                model
                    .iter()
                    .map(|(k, v)| (k.as_str(), Document::from(json!(v)))),
            ),
        ] {
            let before: Vec<String> = map.keys().map(str::to_owned).collect();
            let (at, value) = map.swap_remove_full("k13").unwrap();
            map.restore(at, "k13", value);
            assert_eq!(map.keys().collect::<Vec<_>>(), before);
        }
    }

    /// Records of twelve and of sixteen fields (the most an array holds)
    /// share every field name: the thread's names have room for such a
    /// shape without two of its fields pushing each other out.
    #[test]
    fn wide_records_share_every_field_name() {
        let twelve = [
            "id",
            "status",
            "value",
            "created_ms",
            "updated_ms",
            "owner",
            "region",
            "priority",
            "attempts",
            "tags",
            "note",
            "checksum",
        ];
        let sixteen: Vec<String> = (0..16).map(|n| format!("field_{n}")).collect();
        for fields in [twelve.map(str::to_owned).to_vec(), sixteen] {
            let record: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|field| (field.clone(), json!(1)))
                .collect();
            let rows: serde_json::Map<String, serde_json::Value> = (0..3)
                .map(|n| (format!("r{n}"), serde_json::Value::Object(record.clone())))
                .collect();
            let doc: Document =
                serde_json::from_str(&serde_json::Value::Object(rows).to_string()).unwrap();
            let names = |row: &str| match &doc[row] {
                Document::Object(Map {
                    members: Members::Few(members),
                }) => members
                    .iter()
                    .map(|(name, _)| Name::clone(name))
                    .collect::<Vec<_>>(),
                _ => unreachable!("a small object"),
            };
            for (first, later) in names("r0").iter().zip(names("r2")) {
                assert!(std::sync::Arc::ptr_eq(first, &later), "{first}");
            }
        }
    }

    #[test]
    fn the_records_of_a_table_share_their_field_names_but_not_their_ids() {
        let record =
            r#"{"id": "r", "status": "a", "value": 1.5, "created_ms": 1, "updated_ms": 2}"#;
        let doc: Document =
            serde_json::from_str(&format!(r#"{{"r1": {record}, "r2": {record}}}"#)).unwrap();
        let field = |row: &str, at: usize| match &doc[row] {
            Document::Object(Map {
                members: Members::Few(members),
            }) => Name::clone(&members[at].0),
            _ => unreachable!("a small object"),
        };
        for at in 0..5 {
            assert!(std::sync::Arc::ptr_eq(&field("r1", at), &field("r2", at)));
        }
        // Row ids, the keys of large objects, are held in place.
        let large: Map = (0..2 * FEW)
            .map(|n| (format!("r{n}"), Document::Null))
            .collect();
        match large.members {
            Members::Many(members) => assert_eq!(members.members()[12].name(), "r12"),
            _ => unreachable!("a large object"),
        }
    }

    #[test]
    fn equality_ignores_order_and_form() {
        let small = Document::from(json!({"a": 1, "b": 2}));
        let mut large = Map::with_capacity(100);
        large.insert("b", Document::from(json!(2)));
        large.insert("a", Document::from(json!(1)));
        assert_eq!(small, Document::Object(large.clone()));
        large.insert("c", Document::Null);
        assert_ne!(small, Document::Object(large));
    }
}
