//! [`RowKey`]: how a row's key is written as a member name of the table's
//! JSON object, and read back.

use std::borrow::Cow;
use std::sync::Arc;

/// A type that keys the rows of a table: a string, or an integer.
///
/// Keys are ordered (a table iterates in key order) and hashed (a row is
/// found by hash, whatever the size of the table).
///
/// A table's state is a JSON object, and a JSON object's member names are
/// strings: a string key is its own member name, an integer key its decimal
/// text (`42`, `-7`). Reading a member name back must give the same name
/// again, so `"007"`, `"+7"` and `"-0"` are not integer keys (two names for
/// one key would make two rows of one). Any other key type implements this
/// trait by choosing one text per key.
///
/// # Examples
///
/// ```
/// use live_resource::collection::RowKey;
///
/// assert_eq!(42u64.to_key(), "42");
/// assert_eq!(u64::from_key("42"), Some(42));
/// assert_eq!(u64::from_key("042"), None, "one text per key");
/// assert_eq!(String::from_key("r000123").as_deref(), Some("r000123"));
///
/// /// A key of its own: an order number written `#123`.
/// #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
/// struct Order(u32);
///
/// impl RowKey for Order {
///     fn to_key(&self) -> std::borrow::Cow<'_, str> {
///         format!("#{}", self.0).into()
///     }
///     fn from_key(key: &str) -> Option<Self> {
///         key.strip_prefix('#').and_then(u32::from_key).map(Order)
///     }
/// }
/// assert_eq!(Order::from_key("#12"), Some(Order(12)));
/// ```
pub trait RowKey: Ord + std::hash::Hash + Clone + Send + Sync + 'static {
    /// The member name of this key's row in the table's object.
    fn to_key(&self) -> Cow<'_, str>;

    /// The key whose member name is `key`, or `None` when `key` is no
    /// key's name. `from_key(&k.to_key()) == Some(k)` for every key `k`.
    fn from_key(key: &str) -> Option<Self>;

    /// [`RowKey::from_key`] on a name the caller owns, which a key that is
    /// a string takes without a copy; the name back when it is no key's.
    fn from_owned_key(key: String) -> Result<Self, String> {
        Self::from_key(&key).ok_or(key)
    }
}

impl RowKey for String {
    fn to_key(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }

    fn from_key(key: &str) -> Option<Self> {
        Some(key.to_owned())
    }

    fn from_owned_key(key: String) -> Result<Self, String> {
        Ok(key)
    }
}

impl RowKey for Box<str> {
    fn to_key(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }

    fn from_key(key: &str) -> Option<Self> {
        Some(key.into())
    }
}

impl RowKey for Arc<str> {
    fn to_key(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }

    fn from_key(key: &str) -> Option<Self> {
        Some(key.into())
    }
}

/// What names a row when it is written on a server: any [`RowKey`], or a
/// `&str` (`"r000123"`), taken as the member name it is.
///
/// ```
/// use live_resource::collection::RowId;
///
/// assert_eq!(7u32.row_id(), "7");
/// assert_eq!("r000123".row_id(), "r000123");
/// ```
pub trait RowId {
    /// The member name of the row in the table's object.
    fn row_id(&self) -> Cow<'_, str>;
}

impl<K: RowKey> RowId for K {
    fn row_id(&self) -> Cow<'_, str> {
        self.to_key()
    }
}

impl RowId for &str {
    fn row_id(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

macro_rules! integer_keys {
    ($($int:ty),*) => {$(
        impl RowKey for $int {
            fn to_key(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }

            fn from_key(key: &str) -> Option<Self> {
                canonical_integer(key).then(|| key.parse().ok()).flatten()
            }
        }
    )*};
}

integer_keys!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

/// Whether `key` is an integer as Rust writes one: an optional `-`, then
/// digits without a leading zero (but `0` itself), and not `-0`.
fn canonical_integer(key: &str) -> bool {
    let digits = key.strip_prefix('-').unwrap_or(key);
    let negative = digits.len() != key.len();
    match digits.as_bytes() {
        [] => false,
        [b'0'] => !negative,
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_key_has_one_text() {
        for (text, key) in [("0", Some(0i64)), ("-12", Some(-12)), ("7", Some(7))] {
            assert_eq!(i64::from_key(text), key);
        }
        for text in [
            "",
            "-",
            "-0",
            "007",
            "+7",
            " 7",
            "7 ",
            "1e3",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(i64::from_key(text), None, "{text:?}");
        }
        assert_eq!(u8::from_key("256"), None);
        assert_eq!(u8::from_key("-1"), None);
        for key in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(i64::from_key(&key.to_key()), Some(key));
        }
    }
}
