//! RFC 7396 JSON Merge Patch, borrowed and owned.
//!
//! Both forms look a key up before they allocate it, so a patch that touches
//! existing fields allocates nothing but the leaf values it writes. The owned
//! form moves those leaf values out of the patch instead of cloning them.

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
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    let map = as_object(target);
    for (key, value) in fields {
        if value.is_null() {
            map.remove(key);
        } else if let Some(slot) = map.get_mut(key) {
            merge(slot, value);
        } else {
            map.insert(key.clone(), without_null_members(value.clone()));
        }
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
    let Value::Object(fields) = patch else {
        *target = patch;
        return;
    };
    let map = as_object(target);
    for (key, value) in fields {
        if value.is_null() {
            map.remove(&key);
        } else if let Some(slot) = map.get_mut(&key) {
            merge_owned(slot, value);
        } else {
            map.insert(key, without_null_members(value));
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
