//! `Patch::diff`: for any two JSON values, the patch it finds turns the first
//! into the second exactly, through every way of applying it and through the
//! wire, and it picks the smaller form.

use live_resource::{Patch, Update};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

/// Object keys, including the characters JSON Pointer escapes (`/`, `~`),
/// pointer-looking ones (`~0`, `~1`, `-`, digits) and the empty key.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        "[a-b/~01-]{0,3}",
        Just(String::new()),
        "\\PC{0,4}",
    ]
}

/// Floats that survive text and back exactly: serde_json without its
/// `float_roundtrip` feature may be off by one ulp on some others.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        (any::<i32>(), 0u32..20).prop_map(|(m, e)| f64::from(m) / f64::from(1u32 << e)),
        prop::num::f64::NORMAL | prop::num::f64::ZERO,
    ]
    .prop_filter("round-trips through JSON text", |f| {
        let text = serde_json::to_string(f).expect("finite floats serialize");
        serde_json::from_str::<f64>(&text).ok() == Some(*f)
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        float().prop_map(|f| Value::Number(Number::from_f64(f).expect("finite"))),
        "\\PC{0,6}".prop_map(Value::String),
        "[\\[\\]{}\"\\\\/~]{0,4}".prop_map(Value::String),
    ]
}

/// Any JSON value, nested at most 4 levels, at most about 64 nodes.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A value like `value`: most of it kept, some members changed, deleted,
/// nulled or added, some array elements changed, dropped or inserted. Two
/// unrelated values rarely share enough structure to exercise fine diffs.
fn edited(value: &Value) -> BoxedStrategy<Value> {
    let whole = prop_oneof![9 => Just(value.clone()), 1 => json_value()];
    match value {
        Value::Object(map) => {
            let members: Vec<BoxedStrategy<Option<(String, Value)>>> = map
                .iter()
                .map(|(key, member)| {
                    let (k1, k2, k3) = (key.clone(), key.clone(), key.clone());
                    prop_oneof![
                        4 => Just(Some((k1, member.clone()))),
                        3 => edited(member).prop_map(move |m| Some((k2.clone(), m))),
                        1 => Just(Some((k3, Value::Null))),
                        1 => Just(None),
                    ]
                    .boxed()
                })
                .collect();
            let added = prop::collection::vec((key(), json_value()), 0..2);
            (members, added, whole)
                .prop_map(|(members, added, whole)| {
                    if let Value::Object(_) = whole {
                        let mut map: Map<String, Value> = members.into_iter().flatten().collect();
                        map.extend(added);
                        Value::Object(map)
                    } else {
                        whole
                    }
                })
                .boxed()
        }
        Value::Array(items) => {
            let elements: Vec<BoxedStrategy<Vec<Value>>> = items
                .iter()
                .map(|item| {
                    let kept = item.clone();
                    prop_oneof![
                        5 => Just(vec![item.clone()]),
                        3 => edited(item).prop_map(|e| vec![e]),
                        1 => Just(Vec::new()),
                        1 => json_value().prop_map(move |new| vec![new, kept.clone()]),
                    ]
                    .boxed()
                })
                .collect();
            let appended = prop::collection::vec(json_value(), 0..2);
            (elements, appended, whole)
                .prop_map(|(elements, appended, whole)| {
                    if let Value::Array(_) = whole {
                        Value::Array(elements.into_iter().flatten().chain(appended).collect())
                    } else {
                        whole
                    }
                })
                .boxed()
        }
        _ => prop_oneof![1 => Just(value.clone()), 2 => json_value()].boxed(),
    }
}

/// Two values: unrelated, equal, or one an edit of the other.
fn pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        1 => (json_value(), json_value()),
        1 => json_value().prop_map(|a| (a.clone(), a)),
        4 => json_value().prop_flat_map(|a| {
            let b = edited(&a);
            (Just(a), b)
        }),
    ]
}

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
            Patch::Merge(value) | Patch::Replace(value) => serde_json::to_string(value),
            Patch::Json(ops) => serde_json::to_string(ops),
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
        Some(Patch::Merge(json!({"job": {"progress": {"eta": null}}})))
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
