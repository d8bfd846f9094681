//! What a change did to a table: the rows it touched, each with its own
//! patch, and how it moved the rows in the order of the state's object; or
//! the whole state replaced. Recorded by a [`Replica`](super::Replica) for a
//! [`LiveCollection`](crate::collection::LiveCollection), so that it decodes
//! again only the rows a patch touched, and finds each where the state has
//! it.

mod order;
mod text_rows;

use std::collections::HashMap;

use json_patch::PatchOperation;
use json_patch::jsonptr::{Pointer, PointerBuf};
use serde_json::Value;

pub(crate) use order::{Ahead, Shift};

use order::Order;

use crate::patch::{MergePatch, MergeText};
use crate::{Document, Error, Patch};

/// The changes recorded since they were last taken.
#[derive(Debug, Default)]
pub(crate) enum Changes {
    /// None.
    #[default]
    Quiet,
    /// These rows changed, each with its patch when the change has one of
    /// its own (a JSON Patch `move` or `copy` between rows has none); the
    /// `shifts` are how the changes moved the object's members, in order.
    Rows {
        rows: Vec<(String, Option<Patch>)>,
        shifts: Vec<Shift>,
    },
    /// The state was replaced whole: a snapshot, a replacement, a patch of
    /// the root. `previous` is the state before, if there was one.
    Whole { previous: Option<Document> },
}

impl Changes {
    /// Adds `next`, which came after these.
    pub(crate) fn then(&mut self, next: Changes) {
        match (&mut *self, next) {
            (_, Changes::Quiet) => {}
            (
                Changes::Rows { rows, shifts },
                Changes::Rows {
                    rows: more,
                    shifts: moved,
                },
            ) => {
                rows.extend(more);
                shifts.extend(moved);
            }
            // The state the whole replacement started from is the one that
            // counts, not one in between.
            (Changes::Whole { .. }, Changes::Rows { .. } | Changes::Whole { .. }) => {}
            (_, next) => *self = next,
        }
    }
}

/// Applies `patch` to `state`, atomically, and says what it changed.
///
/// # Errors
///
/// As [`Document::apply_owned`]; `state` is then unchanged.
pub(crate) fn apply(
    state: &mut Document,
    patch: Patch,
    ahead: Ahead<'_>,
) -> Result<Changes, Error> {
    match patch {
        // Each row's part of the patch is handed out: a patch still in its
        // text is split on the tape its check recorded, or else read whole.
        Patch::Merge(merge) if merge.as_value().is_none() => {
            if let Some(changes) = by_text_row(state, &merge, ahead) {
                return changes;
            }
            apply(state, Patch::Merge(merge.into_value()?.into()), ahead)
        }
        Patch::Merge(merge)
            if state.is_object() && merge.as_value().is_some_and(Value::is_object) =>
        {
            let patch = merge.into_value()?;
            let Value::Object(members) = &patch else {
                unreachable!("an object")
            };
            let shifts = Order::of(state, ahead).merged(order::patch_members(members));
            state.merge(&patch);
            let Value::Object(members) = patch else {
                unreachable!("an object")
            };
            let rows = members
                .into_iter()
                .map(|(key, member)| (key, Some(Patch::Merge(member.into()))))
                .collect();
            Ok(Changes::Rows { rows, shifts })
        }
        Patch::Json(ops) if state.is_object() => match by_row(&ops) {
            Some(rows) => {
                let shifts = Order::of(state, ahead).patched(&ops);
                state.apply(&Patch::Json(ops))?;
                Ok(Changes::Rows { rows, shifts })
            }
            None => whole(state, Patch::Json(ops)),
        },
        patch => whole(state, patch),
    }
}

/// [`apply`] of a merge patch still in its text, when its check recorded
/// it and it is an object naming each row once: merged from the tape, each
/// row handed its part as text. `None` otherwise.
fn by_text_row(
    state: &mut Document,
    merge: &MergePatch,
    ahead: Ahead<'_>,
) -> Option<Result<Changes, Error>> {
    if !state.is_object() {
        return None;
    }
    let text = merge.as_text()?;
    let (patch, tape) = text.tape()?;
    let members = text_rows::members(patch, tape)?;
    let shifts = Order::of(state, ahead).merged(members.iter().map(|m| (&*m.name, m.null)));
    if let Err(error) = state.merge_text(text) {
        return Some(Err(error));
    }
    let rows = members
        .into_iter()
        .map(|member| {
            let part = MergePatch::text(MergeText::checked(member.value));
            (member.name.into_owned(), Some(Patch::Merge(part)))
        })
        .collect();
    Some(Ok(Changes::Rows { rows, shifts }))
}

fn whole(state: &mut Document, patch: Patch) -> Result<Changes, Error> {
    let previous = state.clone();
    state.apply_owned(patch)?;
    Ok(Changes::Whole {
        previous: Some(previous),
    })
}

/// Each row the operations touch, with the operations made on it as a
/// patch of the row; `None` when an operation touches the root.
fn by_row(ops: &json_patch::Patch) -> Option<Vec<(String, Option<Patch>)>> {
    let mut rows: Vec<(String, Option<Vec<PatchOperation>>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut row_of = |key: String, rows: &mut Vec<(String, Option<Vec<PatchOperation>>)>| {
        *index.entry(key.clone()).or_insert_with(|| {
            rows.push((key, Some(Vec::new())));
            rows.len() - 1
        })
    };
    for op in &ops.0 {
        let (path, from) = match op {
            // A test changes nothing.
            PatchOperation::Test(_) => continue,
            PatchOperation::Add(op) => (&op.path, None),
            PatchOperation::Remove(op) => (&op.path, None),
            PatchOperation::Replace(op) => (&op.path, None),
            PatchOperation::Move(op) => (&op.path, Some(&op.from)),
            PatchOperation::Copy(op) => (&op.path, Some(&op.from)),
        };
        let (row, inside) = split(path)?;
        let at = row_of(row, &mut rows);
        let source = match from {
            Some(from) => Some(split(from)?),
            None => None,
        };
        match source {
            Some((source, _)) if source != rows[at].0 => {
                // A copy or move between rows: not a patch of either row;
                // and a copy leaves its source as it was.
                if matches!(op, PatchOperation::Move(_)) {
                    let source = row_of(source, &mut rows);
                    rows[source].1 = None;
                }
                rows[at].1 = None;
            }
            source => {
                let from = source.map(|(_, from)| from);
                // Made on the row itself (removed, or moved from), the
                // operation is no patch of the row that applies on its own:
                // the row's change is its new value.
                let whole_row = match op {
                    PatchOperation::Remove(_) => inside.is_root(),
                    _ => from.as_ref().is_some_and(|from| from.is_root()),
                };
                match &mut rows[at].1 {
                    Some(_) if whole_row => rows[at].1 = None,
                    Some(row_ops) => row_ops.push(rebased(op, inside, from)),
                    None => {}
                }
            }
        }
    }
    Some(
        rows.into_iter()
            .map(|(key, ops)| (key, ops.map(|ops| Patch::Json(json_patch::Patch(ops)))))
            .collect(),
    )
}

/// The row a path is in, and the path inside the row; `None` for the root.
fn split(path: &Pointer) -> Option<(String, PointerBuf)> {
    let (row, inside) = path.split_front()?;
    Some((row.decoded().into_owned(), inside.to_buf()))
}

/// `op` with its paths made inside its row.
fn rebased(op: &PatchOperation, path: PointerBuf, from: Option<PointerBuf>) -> PatchOperation {
    let mut op = op.clone();
    match &mut op {
        PatchOperation::Add(op) => op.path = path,
        PatchOperation::Remove(op) => op.path = path,
        PatchOperation::Replace(op) => op.path = path,
        PatchOperation::Test(op) => op.path = path,
        PatchOperation::Move(op) => {
            op.path = path;
            op.from = from.unwrap_or_default();
        }
        PatchOperation::Copy(op) => {
            op.path = path;
            op.from = from.unwrap_or_default();
        }
    }
    op
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::Limits;

    /// [`super::apply`], told nothing ahead.
    fn apply(state: &mut Document, patch: Patch) -> Result<Changes, Error> {
        super::apply(state, patch, &|_| {})
    }

    /// Where a merge patch's rows are, as `apply` tells them ahead of the
    /// change: each row the state had, at its place before the change, in
    /// the patch's order; a new row is not told (it has no slot yet), nor a
    /// row an earlier removal of the patch moved (its place is known).
    #[test]
    fn the_places_of_the_rows_a_merge_names_are_told_ahead() {
        let state = json!({"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}});
        let text = br#"{"seq":1,"merge":{"c":{"n":5},"new":{"n":0},"a":null}}"#;
        let read = Limits::default().parse_update(text).unwrap().patch;
        let value = Patch::Merge(json!({"a": {"n": 4}, "c": null, "d": {}}).into());
        for (patch, places) in [(read, [2, 0]), (value, [0, 2])] {
            let told = std::cell::RefCell::new(Vec::new());
            let mut state = Document::from(state.clone());
            super::apply(&mut state, patch, &|place| told.borrow_mut().push(place)).unwrap();
            assert_eq!(told.into_inner(), places);
        }
    }

    fn object() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(Value::from),
            "[a\"\\\\ ,:}{]{0,3}".prop_map(Value::String),
        ];
        let members = prop::collection::btree_map(
            "[a-c\"]{1,2}",
            crate::testing::json(leaf, "[a-c]", 3, 4),
            0..6,
        );
        members.prop_map(|members| Value::Object(members.into_iter().collect()))
    }

    /// A name as JSON text: escaped as serde_json writes it, or every
    /// character as a `\u` escape.
    fn quoted(name: &str, unicode: bool) -> String {
        match unicode {
            false => serde_json::to_string(name).unwrap(),
            true => {
                let units: String = name.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
                format!("\"{units}\"")
            }
        }
    }

    /// A merge patch's text, its members in the order given, with `space`
    /// around every token (`{`, names, `:`, `,`, `}`).
    fn patch_text(members: &[(String, Value)], space: &str, unicode: bool) -> String {
        let members: Vec<String> = members
            .iter()
            .map(|(name, value)| {
                let value = serde_json::to_string(value).unwrap();
                format!(
                    "{space}{}{space}:{space}{value}{space}",
                    quoted(name, unicode)
                )
            })
            .collect();
        format!("{space}{{{}}}{space}", members.join(","))
    }

    proptest! {
        /// A table's patch read from text (as the transports read it), its
        /// rows in any order and any spacing, changes the state as merging
        /// its text does (members in the same order), hands out the rows
        /// and parts the same patch made as a value does, each part as its
        /// text, and tells shifts that move the rows as the state moved.
        #[test]
        fn a_patch_split_from_its_text_is_the_patch_split_as_a_value(
            before in object(),
            members in prop::collection::vec(
                ("[a-c\"\\\\é]{1,2}", crate::testing::json(
                    prop_oneof![
                        Just(Value::Null),
                        (-3i64..3).prop_map(Value::from),
                        Just(json!(0.1)),
                        Just(json!(1.5e300)),
                        "[a\"\\\\ ,:}{]{0,3}".prop_map(Value::String),
                    ],
                    "[a-c]",
                    3,
                    4,
                )),
                0..6,
            ),
            space in prop_oneof![Just(""), Just(" "), Just("\t"), Just("\r\n  ")],
            unicode in any::<bool>(),
        ) {
            // Each row named once, in the order drawn (not sorted).
            let mut seen = std::collections::HashSet::new();
            let members: Vec<(String, Value)> =
                members.into_iter().filter(|(name, _)| seen.insert(name.clone())).collect();
            let text = patch_text(&members, space, unicode);
            let message = format!(r#"{{"seq":1,"merge":{text}}}"#);
            let read = Limits::default().parse_update(message.as_bytes()).unwrap();
            let before = Document::from(&before);
            let (mut by_text, mut merged, mut by_value) =
                (before.clone(), before.clone(), before.clone());
            merged.apply(&read.patch).unwrap();
            let from_text = apply(&mut by_text, read.patch).unwrap();
            let patch = Value::Object(members.iter().cloned().collect());
            let from_value = apply(&mut by_value, Patch::Merge(patch.into())).unwrap();
            let keys = |doc: &Document| -> Vec<String> {
                doc.as_object().unwrap().keys().map(str::to_owned).collect()
            };
            prop_assert_eq!(keys(&by_text), keys(&merged));
            prop_assert_eq!(&by_text, &by_value);
            let (
                Changes::Rows { rows: mut text_rows, shifts },
                Changes::Rows { rows: mut value_rows, .. },
            ) = (from_text, from_value) else {
                panic!("rows")
            };
            prop_assert_eq!(order::shifted(&before, &shifts, &by_text), keys(&by_text));
            let names: Vec<&str> = text_rows.iter().map(|(name, _)| name.as_str()).collect();
            let drawn: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
            prop_assert_eq!(names, drawn, "the rows in the text's order");
            for (_, part) in &text_rows {
                let Some(Patch::Merge(part)) = part else { panic!("a merge part") };
                prop_assert!(part.as_text().is_some(), "split from the text");
            }
            text_rows.sort_by(|a, b| a.0.cmp(&b.0));
            value_rows.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(&text_rows, &value_rows);
        }
    }

    /// A name that comes twice at the top is read as a value (the last
    /// one kept); twice inside a row, both merge, as merging the text does.
    #[test]
    fn names_twice_in_a_text_patch() {
        let read = |patch: &str| {
            let message = format!(r#"{{"seq":1,"merge":{patch}}}"#);
            Limits::default()
                .parse_update(message.as_bytes())
                .unwrap()
                .patch
        };
        let mut state = Document::from(json!({"r": {"z": 0}}));
        let Changes::Rows { rows, .. } =
            apply(&mut state, read(r#"{"r":{"x":1},"r":{"y":2}}"#)).unwrap()
        else {
            panic!("rows")
        };
        assert_eq!(state, json!({"r": {"z": 0, "y": 2}}));
        assert_eq!(rows.len(), 1);
        let mut state = Document::from(json!({"r": {"z": 0}}));
        apply(&mut state, read(r#"{"r":{"a":{"x":1},"a":{"y":2}}}"#)).unwrap();
        assert_eq!(state, json!({"r": {"z": 0, "a": {"x": 1, "y": 2}}}));
    }

    fn ops(value: Value) -> Patch {
        Patch::Json(serde_json::from_value(value).unwrap())
    }

    #[test]
    fn a_merge_patch_touches_its_members_each_with_its_part() {
        let mut state = Document::from(json!({"a": {"n": 1}, "b": {"n": 2}}));
        let changes = apply(
            &mut state,
            Patch::Merge(json!({"a": {"n": 5}, "b": null}).into()),
        )
        .unwrap();
        let Changes::Rows { rows, shifts } = changes else {
            panic!("rows")
        };
        assert_eq!(shifts, [Shift::Removed(1)]);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            ("a".to_owned(), Some(Patch::Merge(json!({"n": 5}).into())))
        );
        assert_eq!(state, json!({"a": {"n": 5}}));
    }

    #[test]
    fn json_patch_operations_are_grouped_by_row_and_made_inside_it() {
        let mut state = Document::from(json!({"a/b": {"n": 1}, "c": {"m": [1]}}));
        let patch = ops(json!([
            {"op": "replace", "path": "/a~1b/n", "value": null},
            {"op": "add", "path": "/c/m/-", "value": 2},
            {"op": "move", "from": "/c/m", "path": "/d"},
        ]));
        let Changes::Rows { rows, shifts } = apply(&mut state, patch).unwrap() else {
            panic!("rows")
        };
        assert_eq!(shifts, [Shift::Appended]);
        assert_eq!(
            rows[0],
            (
                "a/b".to_owned(),
                Some(ops(json!([{"op": "replace", "path": "/n", "value": null}])))
            )
        );
        assert_eq!(
            rows[1],
            ("c".to_owned(), None),
            "moved from: no patch of its own"
        );
        assert_eq!(rows[2], ("d".to_owned(), None));
        assert_eq!(state, json!({"a/b": {"n": null}, "c": {}, "d": [1, 2]}));
    }

    #[test]
    fn only_the_rows_an_operation_changes_are_told() {
        let mut state = Document::from(json!({"a": {"n": 1}, "b": {"n": 2}}));
        let patch = ops(json!([
            {"op": "test", "path": "/b/n", "value": 2},
            {"op": "copy", "from": "/a", "path": "/c"},
            {"op": "test", "path": "", "value": {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 1}}},
        ]));
        let Changes::Rows { rows, shifts } = apply(&mut state, patch).unwrap() else {
            panic!("rows")
        };
        // The copy's source and the rows only tested are as they were.
        assert_eq!(rows, [("c".to_owned(), None)]);
        assert_eq!(shifts, [Shift::Appended]);
    }

    #[test]
    fn an_operation_on_a_whole_row_is_no_patch_of_it() {
        // Each would be applied to the row itself as an operation on its
        // root, which JSON Patch refuses (or which leaves nothing).
        for patch in [
            json!([{"op": "remove", "path": "/a"}, {"op": "add", "path": "/a", "value": {"n": 5}}]),
            json!([{"op": "move", "from": "/a", "path": "/a"}]),
        ] {
            let mut state = Document::from(json!({"a": {"n": 1}}));
            let Changes::Rows { rows, .. } = apply(&mut state, ops(patch.clone())).unwrap() else {
                panic!("rows")
            };
            assert_eq!(rows, [("a".to_owned(), None)], "{patch}");
        }
        // An operation inside the row still is.
        let mut state = Document::from(json!({"a": {"n": 1, "m": {"k": 2}}}));
        let patch = ops(json!([{"op": "move", "from": "/a/m", "path": "/a/n"}]));
        let Changes::Rows { rows, .. } = apply(&mut state, patch).unwrap() else {
            panic!("rows")
        };
        assert_eq!(
            rows,
            [(
                "a".to_owned(),
                Some(ops(json!([{"op": "move", "from": "/m", "path": "/n"}])))
            )]
        );
    }

    #[test]
    fn a_change_of_the_root_replaces_the_whole() {
        let mut state = Document::from(json!({"a": 1}));
        let changes = apply(
            &mut state,
            ops(json!([{"op": "replace", "path": "", "value": {"b": 2}}])),
        )
        .unwrap();
        assert!(matches!(changes, Changes::Whole { previous: Some(p) } if p == json!({"a": 1})));
        let changes = apply(&mut state, Patch::Replace(json!({}))).unwrap();
        assert!(matches!(changes, Changes::Whole { .. }));
    }
}
