//! RFC 7396 JSON Merge Patch, borrowed and owned.
//!
//! Both forms look a key up before they allocate it, so a patch that touches
//! existing fields allocates nothing but the leaf values it writes. The owned
//! form moves those leaf values out of the patch instead of cloning them; the
//! borrowed form writes a string or an array into the buffer of the one it
//! replaces.
//!
//! What is left is the key lookups: with `serde_json`'s default `Map` (a
//! `BTreeMap`) each costs O(log n) string comparisons, so a one-field patch
//! on a 1 MB object costs two to three times what it costs on a 1 KB one.
//! [`Document::merge`](crate::Document::merge), on the state a live resource
//! keeps, finds keys by hash and costs the same at any size.

use serde_json::{Map, Value};

/// Applies an RFC 7396 JSON Merge Patch to `target`, in place.
///
/// Objects merge key by key, recursively; a `null` member deletes the key;
/// anything that is not an object (arrays included) replaces the target whole.
/// A merge patch cannot fail.
///
/// The recursion is as deep as the patch: patches parsed through
/// [`Limits`](crate::Limits) are bounded by [`Limits::max_depth`](crate::Limits::max_depth).
///
/// # Examples
///
/// ```
/// use serde_json::json;
///
/// let mut doc = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}});
/// live_resource::patch::merge(&mut doc, &json!({"title": "Hello!", "author": {"familyName": null}}));
/// assert_eq!(doc, json!({"title": "Hello!", "author": {"givenName": "John"}}));
/// ```
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => merge_fields(as_object(target), fields),
        leaf => assign(target, leaf),
    }
}

/// Merges an object patch's members into `map`.
///
/// Leaf members are written in place rather than through another call of
/// [`merge`]: a small patch is mostly leaves, and the key lookups are the
/// only other work.
fn merge_fields(map: &mut Map<String, Value>, fields: &Map<String, Value>) {
    for (key, value) in fields {
        match value {
            Value::Null => {
                map.remove(key);
            }
            Value::Object(nested) => match map.get_mut(key) {
                Some(slot) => merge_fields(as_object(slot), nested),
                None => {
                    map.insert(key.clone(), without_null_members(value.clone()));
                }
            },
            leaf => match map.get_mut(key) {
                Some(slot) => assign(slot, leaf),
                None => {
                    map.insert(key.clone(), leaf.clone());
                }
            },
        }
    }
}

/// `*target = value.clone()`, reusing the target's buffer when both are
/// strings or both are arrays: a status text or a short history that changes
/// at every update then costs no allocation.
fn assign(target: &mut Value, value: &Value) {
    match (target, value) {
        (Value::String(target), Value::String(value)) => target.clone_from(value),
        (Value::Array(target), Value::Array(value)) => target.clone_from(value),
        (target, value) => *target = value.clone(),
    }
}

/// Applies an RFC 7396 JSON Merge Patch to `target`, consuming the patch.
///
/// The same as [`merge`], but the patch's values are moved into the target
/// rather than cloned: the cheapest way to apply a patch that was just parsed.
///
/// # Examples
///
/// ```
/// use serde_json::json;
///
/// let mut doc = json!({"AAPL": {"price": 1.0, "volume": 10}});
/// live_resource::patch::merge_owned(&mut doc, json!({"AAPL": {"price": 2.5}}));
/// assert_eq!(doc, json!({"AAPL": {"price": 2.5, "volume": 10}}));
/// ```
pub fn merge_owned(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(fields) => merge_fields_owned(as_object(target), fields),
        leaf => *target = leaf,
    }
}

/// [`merge_fields`], moving the patch's members instead of cloning them.
fn merge_fields_owned(map: &mut Map<String, Value>, fields: Map<String, Value>) {
    for (key, value) in fields {
        match value {
            Value::Null => {
                map.remove(&key);
            }
            Value::Object(nested) => match map.get_mut(&key) {
                Some(slot) => merge_fields_owned(as_object(slot), nested),
                None => {
                    map.insert(key, without_null_members(Value::Object(nested)));
                }
            },
            leaf => match map.get_mut(&key) {
                Some(slot) => *slot = leaf,
                None => {
                    map.insert(key, leaf);
                }
            },
        }
    }
}

/// Makes `target` an object, as RFC 7396 does before merging an object patch
/// into a non-object, and returns its map.
fn as_object(target: &mut Value) -> &mut Map<String, Value> {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    match target {
        Value::Object(map) => map,
        _ => unreachable!("target was made an object above"),
    }
}

/// What merging `value` into a missing key produces: the value itself, with
/// every `null` object member removed at every object level (arrays are kept
/// as they are, since a merge patch replaces them whole).
fn without_null_members(mut value: Value) -> Value {
    strip_null_members(&mut value);
    value
}

fn strip_null_members(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, member| !member.is_null());
        map.values_mut().for_each(strip_null_members);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    /// JSON values over a few keys, so that patches and targets share keys at
    /// every level and every branch of the merge is taken.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::String),
        ];
        crate::testing::json(leaf, "[abc]", 4, 4)
    }

    proptest! {
        #[test]
        fn both_forms_agree_with_json_patch(target in value(), patch in value()) {
            let mut expected = target.clone();
            json_patch::merge(&mut expected, &patch);

            let mut borrowed = target.clone();
            super::merge(&mut borrowed, &patch);
            prop_assert_eq!(&borrowed, &expected);

            let mut owned = target;
            super::merge_owned(&mut owned, patch);
            prop_assert_eq!(&owned, &expected);
        }
    }
}
