//! What the fuzz targets share: the bounds an input picks, and what an
//! update means by `serde_json` alone, to check the crate's readers against.

use std::fmt;

use live_resource::{Document, Error, Limits, Update};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The bounds an input's first byte picks: mostly small ones, so that the
/// fuzzer meets them, and the defaults for a quarter of inputs.
pub fn limits(byte: u8) -> Limits {
    if byte >= 0xc0 {
        return Limits::default();
    }
    Limits::default()
        .max_depth(usize::from(byte % 16) + 1)
        .max_message_bytes(32 << (byte / 16 % 8))
}

/// Splits `data` at its first `0xff`, a byte that UTF-8 text never holds:
/// `(before, Some(after))`, or `(data, None)` without one.
pub fn split(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&byte| byte == 0xff) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

/// The states to apply updates to: `text` as JSON if it is, else a few of
/// every shape.
pub fn states(text: Option<&[u8]>) -> Vec<Value> {
    if let Some(state) = text.and_then(|text| serde_json::from_slice(text).ok()) {
        return vec![state];
    }
    let shapes = [
        r#"{"a":{"b":1,"c":[1,2]},"d":"x","e":null,"f":{"g":{"h":true}}}"#,
        "{}",
        "[1,2]",
        "7",
        r#""s""#,
    ];
    shapes
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect()
}

/// What an update's text means, read by `serde_json` alone.
#[derive(Debug)]
pub enum Meaning {
    /// Not an update: not JSON, not an object, a `seq` that is not a
    /// number of 64 bits or `null`, none or two of `merge`, `patch`,
    /// `replace`.
    Invalid,
    /// A `merge` update with this patch.
    Merge(Value),
    /// A `patch` or `replace` update.
    Other,
    /// Text where some object names a member twice (`serde_json` keeps the
    /// last, the crate's readers refuse some and merge both of others), or
    /// bytes that are not UTF-8 (`serde_json` skips an unknown member's
    /// string without checking it).
    Unknown,
}

/// What the update `text` means.
pub fn meaning(text: &[u8]) -> Meaning {
    if std::str::from_utf8(text).is_err() {
        return Meaning::Unknown;
    }
    let Ok(value) = serde_json::from_slice::<Value>(text) else {
        return Meaning::Invalid;
    };
    if names_a_member_twice(text) {
        return Meaning::Unknown;
    }
    let Value::Object(members) = value else {
        return Meaning::Invalid;
    };
    if let Some(seq) = members.get("seq") {
        if Option::<u64>::deserialize(seq).is_err() {
            return Meaning::Invalid;
        }
    }
    let patches: Vec<_> = ["merge", "patch", "replace"]
        .into_iter()
        .filter(|key| members.contains_key(*key))
        .collect();
    match patches[..] {
        ["merge"] => Meaning::Merge(members["merge"].clone()),
        ["patch"] => {
            match Vec::<live_resource::json_patch::PatchOperation>::deserialize(&members["patch"]) {
                Ok(_) => Meaning::Other,
                Err(_) => Meaning::Invalid,
            }
        }
        ["replace"] => Meaning::Other,
        _ => Meaning::Invalid,
    }
}

/// Whether some object in the JSON `text` names a member twice.
pub fn names_a_member_twice(text: &[u8]) -> bool {
    struct Twice;
    struct Seen(bool);
    impl<'de> Deserialize<'de> for Seen {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(Twice)
        }
    }
    impl<'de> Visitor<'de> for Twice {
        type Value = Seen;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Seen, E> {
            Ok(Seen(false))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Seen, E> {
            Ok(Seen(false))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Seen, E> {
            Ok(Seen(false))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Seen, E> {
            Ok(Seen(false))
        }
        fn visit_str<E>(self, _: &str) -> Result<Seen, E> {
            Ok(Seen(false))
        }
        fn visit_unit<E>(self) -> Result<Seen, E> {
            Ok(Seen(false))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
            let mut twice = false;
            while let Some(Seen(inner)) = seq.next_element()? {
                twice |= inner;
            }
            Ok(Seen(twice))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
            let mut keys = std::collections::HashSet::new();
            let mut twice = false;
            while let Some(key) = map.next_key::<String>()? {
                twice |= !keys.insert(key);
                twice |= map.next_value::<Seen>()?.0;
            }
            Ok(Seen(twice))
        }
    }
    serde_json::from_slice::<Seen>(text).is_ok_and(|Seen(twice)| twice)
}

/// Whether two values are the same JSON, numbers compared by value (an
/// integer read as a float by one reader and as an integer by the other is
/// the same number): the crate reads decimals correctly rounded, as
/// `serde_json` does with its `float_roundtrip` feature, which the crate
/// turns on.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return x == y;
            }
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

/// Applies `update` to `state` as a replica does, with `Document::apply` and
/// `Document::apply_owned`, and checks it: the two agree, a refused update
/// leaves the document exactly as it was, and an update whose text means
/// `meaning` does what `serde_json` and `patch::merge` say it does. The
/// state after, if applied.
pub fn apply(update: &Update, meaning: &Meaning, state: &Value) -> Option<Value> {
    let before = Document::from(state.clone());
    let mut borrowed = before.clone();
    let applied = borrowed.apply(&update.patch);
    let mut owned = before.clone();
    let applied_owned = owned.apply_owned(update.patch.clone());
    assert_eq!(
        applied.is_ok(),
        applied_owned.is_ok(),
        "apply and apply_owned disagree: {applied:?} {applied_owned:?}"
    );
    assert!(borrowed == owned, "apply and apply_owned disagree");
    if let Err(error) = &applied {
        assert!(borrowed == before, "a refused update changed the document");
        match meaning {
            Meaning::Merge(_) => panic!("a merge update failed to apply: {error}"),
            Meaning::Other => {
                let on_value = update.patch.apply(&mut state.clone());
                assert!(
                    on_value.is_err(),
                    "applies to a Value, not a Document: {error}"
                );
            }
            Meaning::Invalid | Meaning::Unknown => {}
        }
        return None;
    }
    let after = borrowed.to_value();
    match meaning {
        Meaning::Invalid => panic!("an update that is not one applied: {update:?}"),
        Meaning::Merge(patch) => {
            let mut expected = state.clone();
            live_resource::patch::merge(&mut expected, patch);
            assert!(
                same(&after, &expected),
                "merged {after} where serde_json says {expected}"
            );
        }
        Meaning::Other => {
            // The same patch on a `Value`, as a hub applies it.
            let mut value = state.clone();
            let on_value = update.patch.apply(&mut value);
            assert!(
                on_value.is_ok(),
                "applies to a Document, not a Value: {on_value:?}"
            );
            assert!(same(&after, &value), "Document {after}, Value {value}");
        }
        Meaning::Unknown => {}
    }
    Some(after)
}

/// Whether `error` is a refusal by the size and depth bounds.
pub fn out_of_bounds(error: &Error) -> bool {
    matches!(error, Error::TooLarge { .. } | Error::TooDeep { .. })
}

/// How deep `value` nests: a scalar is 0, `{}` and `[]` are 1.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// How deep the JSON text `bytes` nests, as its brackets say (strings
/// skipped): what the depth bound holds a message to. For a text that names
/// a member twice it can be more than [`depth`] of the value `serde_json`
/// reads, which keeps only the last.
pub fn text_depth(bytes: &[u8]) -> usize {
    let (mut open, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                open += 1;
                deepest = deepest.max(open);
            }
            b']' | b'}' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}
