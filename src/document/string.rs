//! [`Str`]: a string value of a [`Document`](super::Document), kept in
//! place when it is short.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Serialize, Serializer};

/// A string value in a [`Document`](super::Document). It reads as a `&str`
/// (it derefs to one) and compares with `str` and `String`.
///
/// A string of up to 24 bytes on 64-bit targets (12 on 32-bit; ids,
/// symbols, statuses: most string values of most states) is kept in the
/// bytes the value itself takes, with no
/// allocation of its own. In a large table that matters twice: a million
/// records keep a million or more fewer allocations, and a change that sets
/// a record's status, which at that size misses the cache at every line it
/// reads, neither reads nor grows a separate buffer for it. A longer string
/// is allocated as a `String` is, but for one case: a record (a small
/// object) added to a large object under a key that it holds as a string
/// member (a row's UUID `id`) shares one allocation of that text with the
/// key, so that a change to the row reads it once, not twice, and a million
/// such rows keep a million fewer allocations. (The sharing is set up when
/// the member is added; a row replaced whole, or whose member is set to
/// other text, keeps its own copy from then on.)
///
/// # Examples
///
/// ```
/// use live_resource::Document;
/// use live_resource::document::Str;
/// use serde_json::json;
///
/// let doc = Document::from(json!({"status": "processing"}));
/// let Document::String(status) = &doc["status"] else { unreachable!() };
/// assert_eq!(status, "processing");
/// assert_eq!(status.len(), 10);
/// let owned: String = status.clone().into();
/// assert_eq!(owned, "processing");
/// assert_eq!(Str::from("processing"), *status);
/// ```
#[derive(Clone)]
pub struct Str(Text);

/// The longest text a [`Str`] keeps in place: a `String`'s size.
pub(crate) const IN_PLACE: usize = std::mem::size_of::<String>();

/// Where a [`Str`]'s text is. Both kinds fit in the 24 bytes of a
/// `CompactString` (the second in the values its last byte never takes).
#[derive(Clone)]
enum Text {
    /// In place, or in an allocation of its own.
    Own(CompactString),
    /// In an allocation shared with a large object's member name.
    Shared(Arc<str>),
}

impl Default for Str {
    fn default() -> Self {
        Self(Text::Own(CompactString::default()))
    }
}

impl Str {
    /// The string, as a `&str`.
    ///
    /// ```
    /// use live_resource::document::Str;
    ///
    /// assert_eq!(Str::from("AAPL").as_str(), "AAPL");
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Text::Own(text) => text.as_str(),
            Text::Shared(text) => text,
        }
    }

    /// The string, as a `String` (without a copy when it was allocated and
    /// not shared).
    ///
    /// ```
    /// use live_resource::document::Str;
    ///
    /// assert_eq!(Str::from("done").into_string(), String::from("done"));
    /// ```
    pub fn into_string(self) -> String {
        match self.0 {
            Text::Own(text) => text.into_string(),
            Text::Shared(text) => String::from(&*text),
        }
    }

    /// Whether the text is in an allocation (it is too long to be kept in
    /// place).
    #[inline]
    pub(crate) fn is_allocated(&self) -> bool {
        match &self.0 {
            Text::Own(text) => text.is_heap_allocated(),
            Text::Shared(_) => true,
        }
    }

    /// Sets the string to `text`, reusing its room. Text shared and equal
    /// to `text` stays shared (a merge that sets a row's id to what it was
    /// keeps the one copy).
    #[inline]
    pub(crate) fn set(&mut self, text: &str) {
        match &mut self.0 {
            Text::Own(own) => {
                own.clear();
                own.push_str(text);
            }
            Text::Shared(shared) if **shared == *text => {}
            Text::Shared(_) => self.0 = Text::Own(CompactString::from(text)),
        }
    }

    /// The text `shared`, in its allocation.
    pub(crate) fn shared(shared: Arc<str>) -> Self {
        Self(Text::Shared(shared))
    }

    /// Whether the text is shared with `other`'s, in one allocation.
    #[cfg(test)]
    pub(crate) fn shares_with(&self, other: &Str) -> bool {
        match (&self.0, &other.0) {
            (Text::Shared(a), Text::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Deref for Str {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// So that a map keyed by `Str` is looked up by `&str`.
impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// As the `str` it holds, as `Borrow<str>` requires.
impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<&str> for Str {
    #[inline]
    fn from(text: &str) -> Self {
        Self(Text::Own(CompactString::from(text)))
    }
}

impl From<&String> for Str {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

/// Without a copy when the string is too long to keep in place.
impl From<String> for Str {
    #[inline]
    fn from(text: String) -> Self {
        Self(Text::Own(CompactString::from(text)))
    }
}

impl From<Box<str>> for Str {
    fn from(text: Box<str>) -> Self {
        Self(Text::Own(CompactString::from(text)))
    }
}

impl From<Cow<'_, str>> for Str {
    #[inline]
    fn from(text: Cow<'_, str>) -> Self {
        match text {
            Cow::Borrowed(text) => Self::from(text),
            Cow::Owned(text) => Self::from(text),
        }
    }
}

impl From<Str> for String {
    fn from(text: Str) -> Self {
        text.into_string()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Str> for String {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn short_strings_take_no_allocation_and_long_ones_keep_theirs() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert!(!Str::from(String::from("abc")).is_allocated());
        let short = Str::from("twenty-four bytes, in pl");
        assert_eq!(short.len(), 24);
        assert!(!short.is_allocated());
        let text = "a".repeat(100);
        let pointer = text.as_ptr();
        let long = Str::from(text);
        assert!(long.is_allocated());
        assert_eq!(long.as_ptr(), pointer, "the String's buffer is kept");
        assert_eq!(long.into_string(), "a".repeat(100));
    }

    #[test]
    fn a_str_is_found_by_its_text_in_hashed_sets() {
        use std::hash::BuildHasher;
        let set: std::collections::HashSet<Str> = [Str::from("x"), Str::from("y".repeat(30))]
            .into_iter()
            .collect();
        assert!(set.contains("x"));
        assert!(set.contains("y".repeat(30).as_str()));
        let hasher = foldhash::fast::FixedState::with_seed(1);
        assert_eq!(hasher.hash_one(Str::from("abc")), hasher.hash_one("abc"));
    }

    /// Shared text is the same string as its own copy: equal, ordered,
    /// hashed and found alike, written alike, and its clone shares it.
    #[test]
    fn shared_text_reads_as_its_own_copy() {
        use std::hash::BuildHasher;
        let text = "6f1c2d9e-0a4b-4c3d-8e5f-7a6b5c4d3e2f";
        let shared = Str::shared(Arc::from(text));
        let own = Str::from(text);
        assert_eq!(shared, own);
        assert_eq!(shared.cmp(&own), std::cmp::Ordering::Equal);
        let later = Str::shared(Arc::from("7"));
        assert!(shared < later && own < later);
        let hasher = foldhash::fast::FixedState::with_seed(7);
        assert_eq!(hasher.hash_one(&shared), hasher.hash_one(&own));
        assert_eq!(hasher.hash_one(&shared), hasher.hash_one(text));
        let set: std::collections::HashSet<Str> = [shared.clone()].into_iter().collect();
        assert!(set.contains(text));
        assert!(shared.clone().shares_with(&shared));
        assert!(!own.shares_with(&shared));
        assert!(shared.is_allocated());
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string(&own).unwrap()
        );
        assert_eq!(format!("{shared} {shared:?}"), format!("{own} {own:?}"));
        assert_eq!(shared.clone().into_string(), text);
        // Set to a short text: kept in place, no longer shared.
        let mut set_short = shared.clone();
        set_short.set("done");
        assert_eq!(set_short, "done");
        assert!(!set_short.is_allocated());
        assert_eq!(shared, text, "the shared text itself is unchanged");
    }

    #[test]
    fn set_grows_and_shrinks_across_the_inline_length() {
        let mut text = Str::from("generated");
        for new in ["processing", &"x".repeat(40), "", "é ü 🦀", &"y".repeat(25)] {
            text.set(new);
            assert_eq!(text, *new);
        }
    }
}
