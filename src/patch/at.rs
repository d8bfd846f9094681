//! A change made to one place of a value, as a patch of the whole: what
//! `Hub::update_at` publishes. Only the value at that place is copied and
//! compared, so a change to one row of a large state costs what the row
//! costs.

use json_patch::jsonptr::{Pointer, PointerBuf};
use json_patch::{PatchOperation, ReplaceOperation};
use serde_json::{Map, Value};

use super::Patch;
use super::tree::Tree;
use crate::Error;
use crate::error::{ApplyError, ApplyErrorKind};

/// Calls `change` on a copy of the value at `pointer` in `target` and
/// returns the patch of `target` that makes that change, or `None` when it
/// changed nothing.
///
/// # Errors
///
/// [`Error::Apply`] (an invalid path) when `pointer` is not a JSON Pointer or
/// leads to no value; `change` is not called then.
pub(crate) fn change_at<T: Tree>(
    target: &T,
    pointer: &str,
    change: impl FnOnce(&mut Value),
) -> Result<Option<Patch>, Error> {
    let invalid = || Error::Apply(ApplyError::new(0, pointer, ApplyErrorKind::InvalidPath));
    let place = Pointer::parse(pointer).map_err(|_| invalid())?;
    let part = target.at(place).ok_or_else(invalid)?;
    let mut next = part.to_value();
    change(&mut next);
    let Some(patch) = super::diff::diff(part, &next) else {
        return Ok(None);
    };
    Ok(Some(rebase(target, place, patch, (part, next))))
}

/// `patch`, which turns `part`, the value at `place`, into `next`, as a
/// patch of the whole `target`.
fn rebase<T: Tree>(target: &T, place: &Pointer, patch: Patch, (part, next): (&T, Value)) -> Patch {
    if place.is_root() {
        return patch;
    }
    match patch {
        // Under members all the way down, a merge patch nests in them as it
        // is; `null` would delete the member rather than set it.
        Patch::Merge(merge)
            if merge.as_value().is_some_and(|merge| !merge.is_null())
                && under_members(target, place) =>
        {
            let merge = merge.into_value().expect("a merge patch made from a value");
            let keys: Vec<_> = place.tokens().collect();
            let nested = keys.into_iter().rev().fold(merge, |inner, token| {
                Value::Object(Map::from_iter([(token.decoded().into_owned(), inner)]))
            });
            Patch::Merge(nested.into())
        }
        Patch::Json(ops) => Patch::Json(json_patch::Patch(
            ops.0.into_iter().map(|op| below(place, op)).collect(),
        )),
        // Inside an array, or set to `null`: the operations at the place.
        Patch::Merge(_) => {
            Patch::Json(json_patch::Patch(super::diff::json_ops(place, part, &next)))
        }
        _ => Patch::Json(json_patch::Patch(vec![PatchOperation::Replace(
            ReplaceOperation {
                path: place.to_buf(),
                value: next,
            },
        )])),
    }
}

/// Whether every value that contains `place` in `target` is an object.
fn under_members<T: Tree>(target: &T, place: &Pointer) -> bool {
    let mut node = target;
    for token in place.tokens() {
        if !node.is_object() {
            return false;
        }
        match node.member(&token.decoded()) {
            Some(child) => node = child,
            None => return false,
        }
    }
    true
}

/// `op`, made at the root of the value at `place`, made at `place`.
pub(crate) fn below(place: &Pointer, op: PatchOperation) -> PatchOperation {
    let at = |path: PointerBuf| place.concat(&path);
    match op {
        PatchOperation::Add(mut op) => {
            op.path = at(op.path);
            PatchOperation::Add(op)
        }
        PatchOperation::Remove(mut op) => {
            op.path = at(op.path);
            PatchOperation::Remove(op)
        }
        PatchOperation::Replace(mut op) => {
            op.path = at(op.path);
            PatchOperation::Replace(op)
        }
        PatchOperation::Move(mut op) => {
            op.from = at(op.from);
            op.path = at(op.path);
            PatchOperation::Move(op)
        }
        PatchOperation::Copy(mut op) => {
            op.from = at(op.from);
            op.path = at(op.path);
            PatchOperation::Copy(op)
        }
        PatchOperation::Test(mut op) => {
            op.path = at(op.path);
            PatchOperation::Test(op)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Document;

    /// Applies the patch `change_at` makes to a copy of `before` and checks
    /// that it equals `before` with `change` made at `pointer` directly.
    fn check(before: Value, pointer: &str, change: impl Fn(&mut Value)) -> Option<Patch> {
        let mut expected = before.clone();
        change(
            expected
                .pointer_mut(pointer)
                .expect("the test's place exists"),
        );
        let document = Document::from(&before);
        let patch = change_at(&document, pointer, &change).unwrap();
        let mut after = document.clone();
        if let Some(patch) = &patch {
            after.apply(patch).unwrap();
        }
        assert_eq!(after, expected, "{patch:?}");
        assert_eq!(patch.is_none(), before == expected);
        patch
    }

    #[test]
    fn a_change_under_members_is_a_nested_merge_patch() {
        let board = json!({"AAPL": {"price": 1.0, "volume": 5}, "MSFT": {"price": 2.0}});
        let patch = check(board, "/AAPL", |quote| quote["price"] = json!(1.5));
        assert!(
            matches!(&patch, Some(Patch::Merge(merge)) if *merge == json!({"AAPL": {"price": 1.5}})),
            "{patch:?}"
        );
    }

    #[test]
    fn every_kind_of_change_at_every_kind_of_place_gives_the_same_value() {
        let state = json!({
            "rows": [{"id": 1, "tags": ["a"]}, {"id": 2}],
            "a/b": {"~c": {"n": 1}},
            "flag": true,
        });
        check(state.clone(), "/rows/0", |row| row["id"] = json!(10));
        check(state.clone(), "/rows/0/tags", |tags| {
            tags.as_array_mut().unwrap().push(json!("b"))
        });
        check(state.clone(), "/rows/1", |row| *row = Value::Null);
        check(state.clone(), "/a~1b/~0c", |c| c["n"] = Value::Null);
        check(state.clone(), "/a~1b/~0c/n", |n| *n = Value::Null);
        check(state.clone(), "/flag", |flag| *flag = json!({"x": null}));
        check(state.clone(), "/rows", |rows| {
            rows.as_array_mut().unwrap().clear()
        });
        check(state.clone(), "", |whole| whole["flag"] = json!(false));
        assert!(check(state, "/rows/0", |_| {}).is_none());
    }

    #[test]
    fn a_place_that_is_not_there_is_an_invalid_path() {
        let document = Document::from(json!({"a": [1]}));
        for pointer in ["/b", "/a/1", "/a/x", "a"] {
            let error = change_at(&document, pointer, |_| panic!("not called")).unwrap_err();
            assert!(
                matches!(&error, Error::Apply(apply) if apply.kind() == ApplyErrorKind::InvalidPath && apply.path() == pointer),
                "{pointer}: {error:?}"
            );
        }
    }
}
