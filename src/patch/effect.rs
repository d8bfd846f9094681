//! Whether a patch would change a value, found without applying it, so that a
//! hub can skip a change that changes nothing at the cost of the patch, not
//! of the document.

use json_patch::PatchOperation;
use json_patch::jsonptr::Pointer;
use serde_json::Value;

use std::collections::BTreeSet;
use std::ops::Bound;

use super::Patch;
use super::length::encoded_len_below;
use super::tree::Tree;
use crate::Error;

/// Whether applying `patch` to `target` would change it. Exact for merge
/// patches and replacements; for JSON Patch, operations are taken as changes
/// unless they are a `test`, or an `add`/`replace` of an object member with
/// the value it already has.
pub(crate) fn changes<T: Tree>(target: &T, patch: &Patch) -> bool {
    match patch {
        // A text that is not JSON fails when applied: let it try.
        Patch::Merge(patch) => patch
            .to_value()
            .map_or(true, |patch| merge_changes(target, &patch)),
        Patch::Replace(value) => !target.equals(value),
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
///
/// Returns how many bytes the `copy` operations copy.
pub(crate) fn check_json_ops<T: Tree>(
    target: &T,
    ops: &[PatchOperation],
    max_depth: usize,
    max_bytes: usize,
) -> Result<usize, Error> {
    let depth = super::tree::Tree::depth;
    let mut written = Written::default();
    let mut copied = 0usize;
    for (index, op) in ops.iter().enumerate() {
        let (path, deepest) = match op {
            PatchOperation::Add(op) => (&*op.path, op.path.count() + depth(&op.value)),
            PatchOperation::Replace(op) => (&*op.path, op.path.count() + depth(&op.value)),
            PatchOperation::Copy(op) => {
                let source = source(target, &op.from, &written, index)?;
                // Counted only as far as the limit: `copy` from the root of a
                // large state must not cost a walk of all of it to refuse.
                let room = max_bytes - copied;
                match source.map_or(Some(0), |source| encoded_len_below(source, room + 1)) {
                    Some(len) if len <= room => copied += len,
                    _ => {
                        return Err(Error::TooLarge {
                            size: copied.saturating_add(room + 1),
                            max: max_bytes,
                        });
                    }
                }
                (&*op.path, op.path.count() + source.map_or(0, T::depth))
            }
            PatchOperation::Move(op) => {
                let source = source(target, &op.from, &written, index)?;
                written.insert(&op.from);
                (&*op.path, op.path.count() + source.map_or(0, T::depth))
            }
            PatchOperation::Remove(op) => (&*op.path, 0),
            PatchOperation::Test(_) => continue,
        };
        if deepest > max_depth {
            return Err(Error::TooDeep { max: max_depth });
        }
        written.insert(changed(target, op, path));
    }
    Ok(copied)
}

/// The places a patch's operations have written so far, sorted, so that
/// whether a `copy` or `move` reads from one of them costs a few lookups
/// rather than a pass over every earlier operation (a patch may have tens of
/// thousands).
#[derive(Default)]
struct Written<'p> {
    places: BTreeSet<&'p str>,
}

impl<'p> Written<'p> {
    fn insert(&mut self, place: &'p Pointer) {
        self.places.insert(place.as_str());
    }

    /// Whether a written place is `from`, inside it, or contains it.
    fn overlaps(&self, from: &Pointer) -> bool {
        let from = from.as_str();
        // `from` itself or a place that contains it: one of its prefixes
        // that ends where a token does.
        let boundaries = from.match_indices('/').map(|(at, _)| at);
        let contains = boundaries
            .chain([from.len()])
            .any(|end| self.places.contains(&from[..end]));
        // A place inside `from`: it starts with `from/`, and sorts between
        // that and `from0` ('0' follows '/').
        let (inside_from, inside_to) = (format!("{from}/"), format!("{from}0"));
        let inside = self
            .places
            .range::<str, _>((
                Bound::Included(inside_from.as_str()),
                Bound::Excluded(inside_to.as_str()),
            ))
            .next()
            .is_some();
        contains || inside
    }
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
    written: &Written<'_>,
    operation: usize,
) -> Result<Option<&'t T>, Error> {
    if written.overlaps(from) {
        return Err(Error::SelfCopy { operation });
    }
    Ok(target.at(from))
}

fn merge_changes<T: Tree>(target: &T, patch: &Value) -> bool {
    let Value::Object(fields) = patch else {
        return !target.equals(patch);
    };
    if !target.is_object() {
        // The target becomes an object, which it was not.
        return true;
    }
    fields.iter().any(|(key, value)| match target.member(key) {
        None => !value.is_null(),
        Some(_) if value.is_null() => true,
        Some(existing) => merge_changes(existing, value),
    })
}

fn op_changes<T: Tree>(target: &T, op: &PatchOperation) -> bool {
    let sets_member_to = |path: &Pointer, value: &Value| {
        let parent_is_object = path
            .parent()
            .and_then(|parent| target.at(parent))
            .is_some_and(T::is_object);
        !(parent_is_object && target.at(path).is_some_and(|held| held.equals(value)))
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
    use json_patch::jsonptr::PointerBuf;
    use serde_json::json;

    #[test]
    fn written_places_overlap_what_contains_them_or_is_inside_them() {
        let pointer = |text: &str| PointerBuf::parse(text).unwrap();
        let (a, deep) = (pointer("/a"), pointer("/a/b/c"));
        let mut written = Written::default();
        written.insert(&a);
        for from in ["/a", "/a/b", "", "/a/~1"] {
            assert!(written.overlaps(&pointer(from)), "{from}");
        }
        for from in ["/ab", "/b", "/a0", "/a!"] {
            assert!(!written.overlaps(&pointer(from)), "{from}");
        }
        let mut written = Written::default();
        written.insert(&deep);
        for from in ["/a", "/a/b", "/a/b/c", "/a/b/c/d", ""] {
            assert!(written.overlaps(&pointer(from)), "{from}");
        }
        for from in ["/a/bc", "/a/b/cd", "/a/c"] {
            assert!(!written.overlaps(&pointer(from)), "{from}");
        }
    }

    #[test]
    fn merge_patches_that_change_nothing_are_found() {
        let doc = json!({"a": 1, "b": {"c": [1, 2]}, "n": null});
        for noop in [
            json!({}),
            json!({"a": 1}),
            json!({"b": {"c": [1, 2]}}),
            json!({"zz": null}),
        ] {
            assert!(!changes(&doc, &Patch::Merge(noop.clone().into())), "{noop}");
        }
        for change in [
            json!({"a": 2}),
            json!({"a": null}),
            json!({"n": null}),
            json!({"b": {"c": [1]}}),
            json!({"new": {"x": null}}),
            json!([1]),
        ] {
            assert!(
                changes(&doc, &Patch::Merge(change.clone().into())),
                "{change}"
            );
        }
        assert!(changes(&json!(5), &Patch::Merge(json!({}).into())));
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
