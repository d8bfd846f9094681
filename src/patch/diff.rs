//! The smallest patch between two JSON values.
//!
//! A merge patch is the preferred form: it is what most consumers expect and
//! what hand-written clients already understand. RFC 7396 cannot say two things,
//! though: "set this member to `null`" and "change one element of an array"
//! (it replaces arrays whole). Where the merge form cannot express the change,
//! or where an array edit makes an RFC 6902 patch strictly smaller, the JSON
//! Patch form is used; where even that is larger than the new value, `Replace`.

use json_patch::jsonptr::{Pointer, PointerBuf};
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value};

use super::Patch;
use super::length::encoded_len_below;
use super::tree::Tree;

pub(crate) fn diff<T: Tree>(from: &T, to: &Value) -> Option<Patch> {
    let mut arrays_replaced = false;
    let merge = match merge_diff(from, to, &mut arrays_replaced) {
        Ok(None) => return None,
        Ok(Some(merge)) => Some(Patch::Merge(merge.into())),
        Err(Inexpressible) => None,
    };
    // A JSON Patch can only be smaller where the merge patch replaced an array
    // whole, and is needed where the merge form cannot say the change.
    let json = (merge.is_none() || arrays_replaced).then(|| {
        let mut ops = Vec::new();
        json_diff(&mut PointerBuf::new(), from, to, &mut ops);
        Patch::Json(json_patch::Patch(ops))
    });
    // The smallest wins; on a tie the merge form, which comes first.
    let (best_len, best) = [merge, json]
        .into_iter()
        .flatten()
        .map(|patch| (patch.encoded_len(), patch))
        .reduce(|best, next| if next.0 < best.0 { next } else { best })
        .expect("a merge patch or a JSON Patch is always made");
    // Counting the new value stops as soon as it is no smaller, so this costs
    // no more than the patch found.
    if encoded_len_below(to, best_len).is_some() {
        return Some(Patch::Replace(to.clone()));
    }
    Some(best)
}

/// The RFC 6902 operations that turn `from` into `to`, at `path`.
pub(crate) fn json_ops<T: Tree>(path: &Pointer, from: &T, to: &Value) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    json_diff(&mut path.to_buf(), from, to, &mut ops);
    ops
}

/// The change contains a `null` member value, which a merge patch would read
/// as "delete".
struct Inexpressible;

/// The merge patch from `from` to `to`: `Ok(None)` when they are equal.
///
/// Sets `arrays_replaced` when the patch replaces an array that exists on both
/// sides, the one case where a JSON Patch may be smaller.
fn merge_diff<T: Tree>(
    from: &T,
    to: &Value,
    arrays_replaced: &mut bool,
) -> Result<Option<Value>, Inexpressible> {
    match to {
        Value::Object(new) if from.is_object() => {
            let mut patch = Map::new();
            for key in removed_keys(from, new) {
                patch.insert(key.to_owned(), Value::Null);
            }
            for (key, new_value) in new {
                let old_value = from.member(key);
                if new_value.is_null() && !old_value.is_some_and(|old| old.equals(&Value::Null)) {
                    return Err(Inexpressible);
                }
                let change = match old_value {
                    Some(old_value) => merge_diff(old_value, new_value, arrays_replaced)?,
                    None => Some(mergeable(new_value)?.clone()),
                };
                if let Some(change) = change {
                    patch.insert(key.clone(), change);
                }
            }
            Ok((!patch.is_empty()).then_some(Value::Object(patch)))
        }
        _ if from.equals(to) => Ok(None),
        Value::Object(_) => Ok(Some(mergeable(to)?.clone())),
        Value::Array(_) if from.items().is_some() => {
            *arrays_replaced = true;
            Ok(Some(to.clone()))
        }
        _ => Ok(Some(to.clone())),
    }
}

/// The keys of the object `from` that the object `new` does not have.
fn removed_keys<'a, T: Tree>(
    from: &'a T,
    new: &'a Map<String, Value>,
) -> impl Iterator<Item = &'a str> {
    from.keys()
        .into_iter()
        .flatten()
        .filter(|key| !new.contains_key(*key))
}

/// `value` if merging it into a missing key reproduces it exactly: no object
/// inside it (outside arrays) has a `null` member.
fn mergeable(value: &Value) -> Result<&Value, Inexpressible> {
    match value {
        Value::Object(map) => {
            for member in map.values() {
                if member.is_null() {
                    return Err(Inexpressible);
                }
                mergeable(member)?;
            }
            Ok(value)
        }
        _ => Ok(value),
    }
}

/// Appends the RFC 6902 operations that turn `from` into `to` at `path`.
fn json_diff<T: Tree>(path: &mut PointerBuf, from: &T, to: &Value, ops: &mut Vec<PatchOperation>) {
    match to {
        Value::Object(new) if from.is_object() => {
            for key in removed_keys(from, new) {
                ops.push(PatchOperation::Remove(RemoveOperation {
                    path: child(path, key),
                }));
            }
            for (key, new_value) in new {
                match from.member(key) {
                    Some(old_value) => {
                        path.push_back(key.as_str());
                        json_diff(path, old_value, new_value, ops);
                        path.pop_back();
                    }
                    None => ops.push(PatchOperation::Add(AddOperation {
                        path: child(path, key.as_str()),
                        value: new_value.clone(),
                    })),
                }
            }
        }
        Value::Array(new) if from.items().is_some() => {
            let old = from.items().expect("looked at just now");
            array_diff(path, old, new, ops);
        }
        _ if from.equals(to) => {}
        _ => ops.push(PatchOperation::Replace(ReplaceOperation {
            path: path.clone(),
            value: to.clone(),
        })),
    }
}

/// Array edits: the common prefix and suffix are kept, the elements between
/// them are edited pairwise, and the surplus is removed or added. This finds
/// the minimal edit for the usual cases (append, insert, remove, modify one).
fn array_diff<T: Tree>(
    path: &mut PointerBuf,
    old: &[T],
    new: &[Value],
    ops: &mut Vec<PatchOperation>,
) {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a.equals(b)).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a.equals(b))
        .count();
    let old_middle = &old[prefix..old.len() - suffix];
    let new_middle = &new[prefix..new.len() - suffix];
    let paired = old_middle.len().min(new_middle.len());

    for (offset, (a, b)) in old_middle.iter().zip(new_middle).enumerate() {
        path.push_back(prefix + offset);
        json_diff(path, a, b, ops);
        path.pop_back();
    }
    // Removing from the back keeps the indexes of the ones still to remove valid.
    for index in (prefix + paired..prefix + old_middle.len()).rev() {
        ops.push(PatchOperation::Remove(RemoveOperation {
            path: child(path, index),
        }));
    }
    for (offset, value) in new_middle[paired..].iter().enumerate() {
        ops.push(PatchOperation::Add(AddOperation {
            path: child(path, prefix + paired + offset),
            value: value.clone(),
        }));
    }
}

fn child<'t>(path: &PointerBuf, token: impl Into<json_patch::jsonptr::Token<'t>>) -> PointerBuf {
    let mut child = path.clone();
    child.push_back(token);
    child
}
