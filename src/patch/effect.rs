//! Whether a patch would change a value, found without applying it, so that a
//! hub can skip a change that changes nothing at the cost of the patch, not
//! of the document.

use json_patch::PatchOperation;
use json_patch::jsonptr::Pointer;
use serde_json::Value;

use super::Patch;
use super::tree::Tree;
use crate::Error;

/// Whether applying `patch` to `target` would change it. Exact for merge
/// patches and replacements; for JSON Patch, operations are taken as changes
/// unless they are a `test`, or an `add`/`replace` of an object member with
/// the value it already has.
pub(crate) fn changes(target: &Value, patch: &Patch) -> bool {
    match patch {
        Patch::Merge(patch) => merge_changes(target, patch),
        Patch::Replace(value) => target != value,
        Patch::Json(ops) => ops.iter().any(|op| op_changes(target, op)),
    }
}

/// Checks what a JSON Patch would do to `target` against the bounds, without
/// applying it. Merge patches and replacements nest and grow the state exactly
/// as much as they are deep and long themselves, which the message checks
/// already bound; a JSON Patch can do more with little text:
///
/// - a value written at a pointer of `k` tokens sits inside `k` containers, so
///   a small value can land far down a deep path ([`Error::TooDeep`]);
/// - `copy` duplicates what is already there, so the values copied count
///   against the message size ([`Error::TooLarge`]);
/// - a `copy` or `move` from a place that an earlier operation of the same
///   patch changed could copy its own copies, doubling the state with every
///   operation ([`Error::SelfCopy`]). Refusing those also keeps the first two
///   checks, made against `target` as it is, exact.
pub(crate) fn check_json_ops<T: Tree>(
    target: &T,
    ops: &[PatchOperation],
    max_depth: usize,
    max_bytes: usize,
) -> Result<(), Error> {
    let depth = crate::limits::value_depth;
    let mut written: Vec<&Pointer> = Vec::new();
    let mut copied = 0usize;
    for (index, op) in ops.iter().enumerate() {
        let (path, deepest) = match op {
            PatchOperation::Add(op) => (&*op.path, op.path.count() + depth(&op.value)),
            PatchOperation::Replace(op) => (&*op.path, op.path.count() + depth(&op.value)),
            PatchOperation::Copy(op) => {
                let source = source(target, &op.from, &written, index)?;
                copied = copied.saturating_add(source.map_or(0, super::diff::encoded_len));
                if copied > max_bytes {
                    return Err(Error::TooLarge {
                        size: copied,
                        max: max_bytes,
                    });
                }
                (&*op.path, op.path.count() + source.map_or(0, T::depth))
            }
            PatchOperation::Move(op) => {
                let source = source(target, &op.from, &written, index)?;
                written.push(&op.from);
                (&*op.path, op.path.count() + source.map_or(0, T::depth))
            }
            PatchOperation::Remove(op) => (&*op.path, 0),
            PatchOperation::Test(_) => continue,
        };
        if deepest > max_depth {
            return Err(Error::TooDeep { max: max_depth });
        }
        written.push(changed(target, op, path));
    }
    Ok(())
}

/// What an operation writing at `path` changes: the path itself, or the whole
/// array when it inserts into or removes from one, since that moves every
/// element after it to another index.
fn changed<'p, T: Tree>(target: &T, op: &PatchOperation, path: &'p Pointer) -> &'p Pointer {
    let shifts = matches!(
        op,
        PatchOperation::Add(_)
            | PatchOperation::Remove(_)
            | PatchOperation::Copy(_)
            | PatchOperation::Move(_)
    );
    match path.parent() {
        Some(parent) if shifts => match target.at(parent) {
            Some(parent) if parent.is_object() => path,
            // An array, or a place this patch itself creates.
            _ => parent,
        },
        _ => path,
    }
}

/// What a `copy` or `move` reads, refused if an earlier operation wrote there.
fn source<'t, T: Tree>(
    target: &'t T,
    from: &Pointer,
    written: &[&Pointer],
    operation: usize,
) -> Result<Option<&'t T>, Error> {
    let overlaps = |path: &&Pointer| path.starts_with(from) || from.starts_with(path);
    if written.iter().any(overlaps) {
        return Err(Error::SelfCopy { operation });
    }
    Ok(target.at(from))
}

fn merge_changes(target: &Value, patch: &Value) -> bool {
    let Value::Object(fields) = patch else {
        return target != patch;
    };
    let Value::Object(map) = target else {
        // The target becomes an object, which it was not.
        return true;
    };
    fields.iter().any(|(key, value)| match map.get(key) {
        None => !value.is_null(),
        Some(_) if value.is_null() => true,
        Some(existing) => merge_changes(existing, value),
    })
}

fn op_changes(target: &Value, op: &PatchOperation) -> bool {
    let sets_member_to = |path: &json_patch::jsonptr::Pointer, value: &Value| {
        let parent_is_object = path
            .parent()
            .and_then(|parent| parent.resolve(target).ok())
            .is_some_and(Value::is_object);
        !(parent_is_object && path.resolve(target).ok() == Some(value))
    };
    match op {
        PatchOperation::Test(_) => false,
        PatchOperation::Add(op) => sets_member_to(&op.path, &op.value),
        PatchOperation::Replace(op) => sets_member_to(&op.path, &op.value),
        PatchOperation::Move(op) => op.from != op.path,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patches_that_change_nothing_are_found() {
        let doc = json!({"a": 1, "b": {"c": [1, 2]}, "n": null});
        for noop in [
            json!({}),
            json!({"a": 1}),
            json!({"b": {"c": [1, 2]}}),
            json!({"zz": null}),
        ] {
            assert!(!changes(&doc, &Patch::Merge(noop.clone())), "{noop}");
        }
        for change in [
            json!({"a": 2}),
            json!({"a": null}),
            json!({"n": null}),
            json!({"b": {"c": [1]}}),
            json!({"new": {"x": null}}),
            json!([1]),
        ] {
            assert!(changes(&doc, &Patch::Merge(change.clone())), "{change}");
        }
        assert!(changes(&json!(5), &Patch::Merge(json!({}))));
    }

    #[test]
    fn json_patches_that_change_nothing_are_found() {
        let doc = json!({"a": 1, "list": [1]});
        let ops = |ops: Value| Patch::Json(serde_json::from_value(ops).unwrap());
        assert!(!changes(
            &doc,
            &ops(json!([{"op": "test", "path": "/a", "value": 1}]))
        ));
        assert!(!changes(
            &doc,
            &ops(json!([{"op": "replace", "path": "/a", "value": 1}]))
        ));
        assert!(changes(
            &doc,
            &ops(json!([{"op": "add", "path": "/list/0", "value": 1}]))
        ));
        assert!(changes(&doc, &ops(json!([{"op": "remove", "path": "/a"}]))));
    }
}
