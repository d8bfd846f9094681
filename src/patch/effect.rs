//! Whether a patch would change a value, found without applying it, so that a
//! hub can skip a change that changes nothing at the cost of the patch, not
//! of the document.

use json_patch::PatchOperation;
use serde_json::Value;

use super::Patch;

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

/// How deep the state nests where a JSON Patch writes: a value written at a
/// pointer of `k` tokens sits inside `k` containers. Merge patches and
/// replacements nest the state exactly as deep as they are themselves, which
/// [`Patch::depth`] already bounds, so they count 0 here.
pub(crate) fn json_write_depth(target: &Value, patch: &Patch) -> usize {
    let Patch::Json(ops) = patch else {
        return 0;
    };
    let depth = crate::limits::value_depth;
    ops.iter()
        .map(|op| match op {
            PatchOperation::Add(op) => op.path.count() + depth(&op.value),
            PatchOperation::Replace(op) => op.path.count() + depth(&op.value),
            PatchOperation::Copy(op) => op.path.count() + op.from.resolve(target).map_or(0, depth),
            PatchOperation::Move(op) => op.path.count() + op.from.resolve(target).map_or(0, depth),
            PatchOperation::Remove(_) | PatchOperation::Test(_) => 0,
        })
        .max()
        .unwrap_or(0)
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
