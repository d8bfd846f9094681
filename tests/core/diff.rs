//! `Patch::diff`: for any two JSON values, the patch it finds turns the first
//! into the second exactly, through every way of applying it and through the
//! wire, and it picks the smaller form.

use live_resource::{Patch, Update};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::arbitrary::pair;

fn applied(patch: &Patch, from: &Value) -> Value {
    let mut state = from.clone();
    patch
        .apply(&mut state)
        .unwrap_or_else(|err| panic!("diff {patch:?} does not apply to {from}: {err}"));
    state
}

proptest! {
    #[test]
    fn diff_is_none_exactly_when_equal((a, b) in pair()) {
        prop_assert_eq!(Patch::diff(&a, &b).is_none(), a == b);
        prop_assert_eq!(Patch::diff(&a, &a), None);
    }

    #[test]
    fn diff_applied_gives_exactly_the_target((a, b) in pair()) {
        let Some(patch) = Patch::diff(&a, &b) else {
            return Ok(());
        };
        prop_assert_eq!(&applied(&patch, &a), &b, "apply of {:?}", patch);

        let mut state = a.clone();
        patch.clone().apply_owned(&mut state).expect("the diff applies");
        prop_assert_eq!(&state, &b, "apply_owned of {:?}", patch);
    }

    #[test]
    fn diff_survives_the_wire((a, b) in pair()) {
        let Some(patch) = Patch::diff(&a, &b) else {
            return Ok(());
        };
        let update = Update { seq: Some(1), patch };
        let bytes = serde_json::to_vec(&update).expect("updates serialize");
        let parsed = Update::from_slice(&bytes).expect("a serialized update parses");
        prop_assert_eq!(&parsed, &update, "wire text: {}", String::from_utf8_lossy(&bytes));
        prop_assert_eq!(&applied(&parsed.patch, &a), &b);
    }

    #[test]
    fn encoded_len_is_the_length_of_the_wire_value((a, b) in pair()) {
        let Some(patch) = Patch::diff(&a, &b) else {
            return Ok(());
        };
        let text = match &patch {
            Patch::Merge(patch) => serde_json::to_string(patch),
            Patch::Replace(value) => serde_json::to_string(value),
            Patch::Json(ops) => serde_json::to_string(ops),
            other => panic!("a diff is a merge, operations or a replacement: {other:?}"),
        }
        .expect("patches serialize");
        prop_assert_eq!(patch.encoded_len(), text.len());
    }

    /// `Patch::Replace` wins whenever it is smaller.
    #[test]
    fn a_merge_diff_is_never_larger_than_replacing((a, b) in pair()) {
        if let Some(patch @ Patch::Merge(_)) = Patch::diff(&a, &b) {
            let replace = Patch::Replace(b.clone());
            prop_assert!(
                patch.encoded_len() <= replace.encoded_len(),
                "{:?} ({} bytes) is larger than {:?} ({} bytes)",
                patch, patch.encoded_len(), replace, replace.encoded_len()
            );
        }
    }
}

#[test]
fn equal_values_have_no_diff() {
    for value in [
        json!(null),
        json!(0),
        json!(1.5),
        json!(""),
        json!([]),
        json!({}),
        json!({"a": {"b": [1, {"c": null}]}, "d": null}),
    ] {
        assert_eq!(Patch::diff(&value, &value.clone()), None, "{value}");
    }
}

#[test]
fn a_member_set_to_null_is_not_a_merge_patch() {
    // A merge patch would read `{"b": null}` as "delete b".
    let from = json!({"a": 1, "b": {"c": 2}});
    let to = json!({"a": 1, "b": null});
    let patch = Patch::diff(&from, &to).expect("they differ");
    assert!(!matches!(patch, Patch::Merge(_)), "{patch:?}");
    assert_eq!(applied(&patch, &from), to);

    let added_null = json!({"a": 1, "b": {"c": 2}, "z": null});
    let patch = Patch::diff(&from, &added_null).expect("they differ");
    assert!(!matches!(patch, Patch::Merge(_)), "{patch:?}");
    assert_eq!(applied(&patch, &from), added_null);

    let nested_null = json!({"a": {"x": null}, "b": {"c": 2}});
    let patch = Patch::diff(&from, &nested_null).expect("they differ");
    assert!(!matches!(patch, Patch::Merge(_)), "{patch:?}");
    assert_eq!(applied(&patch, &from), nested_null);
}

#[test]
fn one_element_of_a_large_array_is_a_small_json_patch() {
    let rows: Vec<Value> = (0..200).map(|n| json!({"id": n, "qty": n})).collect();
    let from = json!({"rows": rows, "title": "orders"});
    let mut to = from.clone();
    to["rows"][117]["qty"] = json!(9999);

    let patch = Patch::diff(&from, &to).expect("they differ");
    let Patch::Json(ops) = &patch else {
        panic!("expected a JSON Patch, got {patch:?}");
    };
    assert_eq!(
        serde_json::to_value(ops).unwrap(),
        json!([{"op": "replace", "path": "/rows/117/qty", "value": 9999}])
    );
    assert!(patch.encoded_len() < Patch::Replace(to.clone()).encoded_len());
    assert!(patch.encoded_len() * 20 < Patch::Replace(to.clone()).encoded_len());
    assert_eq!(applied(&patch, &from), to);
}

#[test]
fn appending_to_a_large_array_is_a_small_json_patch() {
    let log: Vec<Value> = (0..100).map(|n| json!(format!("line {n}"))).collect();
    let from = json!({"log": log});
    let mut to = from.clone();
    to["log"].as_array_mut().unwrap().push(json!("line 100"));

    let patch = Patch::diff(&from, &to).expect("they differ");
    let Patch::Json(ops) = &patch else {
        panic!("expected a JSON Patch, got {patch:?}");
    };
    assert_eq!(
        serde_json::to_value(ops).unwrap(),
        json!([{"op": "add", "path": "/log/100", "value": "line 100"}])
    );
    assert_eq!(applied(&patch, &from), to);
}

#[test]
fn a_nested_deletion_is_a_merge_patch_with_null() {
    let from = json!({"job": {"id": 7, "progress": {"done": 10, "eta": 30}}, "log": []});
    let to = json!({"job": {"id": 7, "progress": {"done": 10}}, "log": []});
    assert_eq!(
        Patch::diff(&from, &to),
        Some(Patch::Merge(
            json!({"job": {"progress": {"eta": null}}}).into()
        ))
    );
}

#[test]
fn keys_with_pointer_characters_are_escaped() {
    let from = json!({"a/b": [1, 2, 3], "m~n": {"~1": [0]}, "": [true]});
    let to = json!({"a/b": [1, 5, 3], "m~n": {"~1": [0, 1]}, "": [false]});
    let patch = Patch::diff(&from, &to).expect("they differ");
    assert_eq!(applied(&patch, &from), to, "{patch:?}");
}

/// Deleting members writes each deleted key with `null`, which can be far
/// larger than the new value: the replacement is chosen then.
#[test]
fn a_deletion_merge_patch_is_larger_than_the_replacement() {
    let from = json!({"a": 1});
    let to = json!({});
    let patch = Patch::diff(&from, &to).expect("they differ");
    // Today: Merge({"a":null}), 10 bytes, against Replace({}), 2 bytes.
    assert!(
        patch.encoded_len() <= Patch::Replace(to.clone()).encoded_len(),
        "{patch:?} is {} bytes, Replace({to}) is {}",
        patch.encoded_len(),
        Patch::Replace(to.clone()).encoded_len()
    );
}
