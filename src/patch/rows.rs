//! Row writes to a table (a topic whose value is an object keyed by row id),
//! made one patch of the whole: what `Collection` publishes. Only the rows
//! written are copied and compared, so a batch costs what its rows cost,
//! whatever the size of the table.

use std::collections::HashMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value};

use super::Patch;
use super::tree::Tree;
use crate::Error;
use crate::error::{ApplyError, ApplyErrorKind, RowError};

/// One change to one row.
#[derive(Clone, Debug)]
pub(crate) enum RowWrite {
    /// Adds a row that must not be there yet.
    Insert(String, Value),
    /// Sets a row, there or not.
    Upsert(String, Value),
    /// Merges an RFC 7396 merge patch into a row that must be there.
    Merge(String, Value),
    /// Removes a row, if it is there.
    Remove(String),
}

/// A row as the batch leaves it, beside what it was.
struct Touched<'a, T> {
    key: &'a str,
    before: Option<&'a T>,
    after: Option<Value>,
}

/// What one row's change is, as a part of the table's patch.
enum Part {
    /// Its member of a merge patch of the table (`null`: removed).
    Merge(Value),
    /// JSON Patch operations on the table.
    Ops(Vec<PatchOperation>),
}

/// The patch of `table` that makes `writes`, in order, or `None` when they
/// change nothing.
///
/// A merge patch keyed by row id when every row's change can be one; else
/// JSON Patch operations for every row (a row that holds an explicit `null`
/// in an object, a row that is itself `null`, or a change that sets a
/// member to `null`).
///
/// # Errors
///
/// [`Error::Row`] for an insert of a row that is there ([`RowError::Exists`])
/// or a merge into one that is not ([`RowError::Missing`]);
/// [`Error::Apply`] (an invalid path) when the table is not an object.
pub(crate) fn rows_patch<T: Tree>(table: &T, writes: &[RowWrite]) -> Result<Option<Patch>, Error> {
    if !table.is_object() {
        return Err(Error::Apply(ApplyError::new(
            0,
            "",
            ApplyErrorKind::InvalidPath,
        )));
    }
    let mut rows: Vec<Touched<'_, T>> = Vec::with_capacity(writes.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(writes.len());
    for write in writes {
        let key = match write {
            RowWrite::Insert(key, _)
            | RowWrite::Upsert(key, _)
            | RowWrite::Merge(key, _)
            | RowWrite::Remove(key) => key.as_str(),
        };
        let at = *index.entry(key).or_insert_with(|| {
            let before = table.member(key);
            rows.push(Touched {
                key,
                before,
                after: before.map(Tree::to_value),
            });
            rows.len() - 1
        });
        let row = &mut rows[at];
        let refused = |problem| Error::Row {
            key: key.to_owned(),
            version: None,
            problem,
        };
        match write {
            RowWrite::Insert(_, value) if row.after.is_none() => row.after = Some(value.clone()),
            RowWrite::Insert(..) => return Err(refused(RowError::Exists)),
            RowWrite::Upsert(_, value) => row.after = Some(value.clone()),
            RowWrite::Merge(_, patch) => match &mut row.after {
                Some(after) => super::merge(after, patch),
                None => return Err(refused(RowError::Missing)),
            },
            RowWrite::Remove(_) => row.after = None,
        }
    }
    let parts: Vec<(&Touched<'_, T>, Part)> = rows
        .iter()
        .filter_map(|row| part(row).map(|part| (row, part)))
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    if parts.iter().all(|(_, part)| matches!(part, Part::Merge(_))) {
        let members = parts.into_iter().map(|(row, part)| match part {
            Part::Merge(member) => (row.key.to_owned(), member),
            Part::Ops(_) => unreachable!("all merge members"),
        });
        return Ok(Some(Patch::Merge(
            Value::Object(Map::from_iter(members)).into(),
        )));
    }
    let mut ops = Vec::new();
    for (row, part) in parts {
        match part {
            Part::Ops(row_ops) => ops.extend(row_ops),
            Part::Merge(_) => ops.push(whole_row(row)),
        }
    }
    Ok(Some(Patch::Json(json_patch::Patch(ops))))
}

/// One row's change, or `None` when it changes nothing.
fn part<T: Tree>(row: &Touched<'_, T>) -> Option<Part> {
    match (row.before, &row.after) {
        (None, None) => None,
        (Some(_), None) => Some(Part::Merge(Value::Null)),
        (None, Some(after)) if merges_as_is(after) => Some(Part::Merge(after.clone())),
        (None, Some(_)) => Some(Part::Ops(vec![whole_row(row)])),
        (Some(before), Some(after)) => Some(match super::diff::diff(before, after)? {
            Patch::Merge(member) if member.as_value().is_some_and(|m| !m.is_null()) => {
                Part::Merge(member.into_value().expect("a diff is made of values"))
            }
            Patch::Json(ops) => {
                let place = PointerBuf::from_tokens([row.key]);
                Part::Ops(
                    ops.0
                        .into_iter()
                        .map(|op| super::at::below(&place, op))
                        .collect(),
                )
            }
            // A merge member that is an object would merge into the row,
            // not replace it.
            _ => Part::Ops(vec![whole_row(row)]),
        }),
    }
}

/// The operation that makes the row what the batch left it: added,
/// replaced or removed whole.
fn whole_row<T: Tree>(row: &Touched<'_, T>) -> PatchOperation {
    let path = PointerBuf::from_tokens([row.key]);
    match (&row.after, row.before) {
        (None, _) => PatchOperation::Remove(RemoveOperation { path }),
        (Some(value), None) => PatchOperation::Add(AddOperation {
            path,
            value: value.clone(),
        }),
        (Some(value), Some(_)) => PatchOperation::Replace(ReplaceOperation {
            path,
            value: value.clone(),
        }),
    }
}

/// Whether `value`, merged into nothing, gives `value`: it is not `null`,
/// and no object in it (outside arrays, which a merge patch carries whole)
/// has a `null` member, which a merge would drop.
fn merges_as_is(value: &Value) -> bool {
    fn no_null_members(value: &Value) -> bool {
        match value {
            Value::Object(members) => members
                .values()
                .all(|member| !member.is_null() && no_null_members(member)),
            _ => true,
        }
    }
    !value.is_null() && no_null_members(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Document;

    fn write(table: Value, writes: &[RowWrite]) -> (Option<Patch>, Value) {
        let document = Document::from(&table);
        let patch = rows_patch(&document, writes).unwrap();
        let mut after = table.clone();
        if let Some(patch) = &patch {
            patch.apply(&mut after).unwrap();
        }
        (patch, after)
    }

    fn upsert(key: &str, value: Value) -> RowWrite {
        RowWrite::Upsert(key.to_owned(), value)
    }

    #[test]
    fn a_batch_is_one_merge_patch_of_the_rows_it_touches() {
        let table = json!({"a": {"n": 1, "s": "x"}, "b": {"n": 2}, "c": {"n": 3}});
        let (patch, after) = write(
            table,
            &[
                RowWrite::Merge("a".into(), json!({"n": 10})),
                RowWrite::Remove("b".into()),
                RowWrite::Insert("d".into(), json!({"n": 4})),
                upsert("c", json!({"n": 3})),
            ],
        );
        assert_eq!(
            patch,
            Some(Patch::Merge(
                json!({"a": {"n": 10}, "b": null, "d": {"n": 4}}).into()
            ))
        );
        assert_eq!(
            after,
            json!({"a": {"n": 10, "s": "x"}, "c": {"n": 3}, "d": {"n": 4}})
        );
    }

    #[test]
    fn rows_a_merge_patch_cannot_carry_make_the_batch_json_patch() {
        let table = json!({"a": {"n": 1, "s": "x"}, "b": {"n": 2}});
        for writes in [
            vec![upsert("c", json!({"n": null}))],
            vec![upsert("c", Value::Null), RowWrite::Remove("b".into())],
            vec![
                upsert("a", json!({"n": 1})),
                upsert("b", json!({"n": 2, "m": null})),
            ],
            vec![upsert("a", json!([1, null]))],
            vec![upsert("a", json!({"n": 1, "s": {"deep": null}}))],
        ] {
            let mut expected = table.clone();
            for write in &writes {
                match write {
                    RowWrite::Upsert(key, value) => expected[key.as_str()] = value.clone(),
                    RowWrite::Remove(key) => {
                        expected.as_object_mut().unwrap().remove(key);
                    }
                    _ => unreachable!(),
                }
            }
            let (patch, after) = write(table.clone(), &writes);
            assert_eq!(after, expected, "{patch:?}");
        }
    }

    #[test]
    fn a_change_that_changes_nothing_is_no_patch() {
        let table = json!({"a": {"n": 1}});
        assert_eq!(
            write(table.clone(), &[upsert("a", json!({"n": 1}))]).0,
            None
        );
        assert_eq!(
            write(table.clone(), &[RowWrite::Remove("z".into())]).0,
            None
        );
        let back_again = [RowWrite::Remove("a".into()), upsert("a", json!({"n": 1}))];
        assert_eq!(write(table, &back_again).0, None);
    }

    #[test]
    fn row_ids_that_need_escaping_in_a_pointer_are_escaped() {
        let table = json!({"a/b": {"n": 1}, "~x": {"n": 2}});
        let (patch, after) = write(
            table,
            &[
                upsert("a/b", json!({"n": null})),
                upsert("~x", json!({"n": 3, "z": null})),
            ],
        );
        assert!(matches!(patch, Some(Patch::Json(_))));
        assert_eq!(
            after,
            json!({"a/b": {"n": null}, "~x": {"n": 3, "z": null}})
        );
    }

    #[test]
    fn an_insert_of_a_row_there_and_a_merge_into_a_missing_one_name_the_row() {
        let document = Document::from(json!({"a": {"n": 1}}));
        let exists = rows_patch(&document, &[RowWrite::Insert("a".into(), json!({}))]);
        assert!(
            matches!(&exists, Err(Error::Row { key, problem: RowError::Exists, .. }) if key == "a"),
            "{exists:?}"
        );
        let missing = rows_patch(&document, &[RowWrite::Merge("b".into(), json!({"n": 2}))]);
        assert!(
            matches!(&missing, Err(Error::Row { key, problem: RowError::Missing, .. }) if key == "b"),
            "{missing:?}"
        );
        let not_a_table = rows_patch(&Document::from(json!([1])), &[RowWrite::Remove("a".into())]);
        assert!(matches!(not_a_table, Err(Error::Apply(_))));
    }
}
