//! proptest strategies for JSON values: any value, and values that are edits
//! of another (two unrelated values rarely share enough structure to test
//! anything fine-grained).

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Object keys, including the characters JSON Pointer escapes (`/`, `~`),
/// pointer-looking ones (`~0`, `~1`, `-`, digits) and the empty key.
pub(crate) fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        "[a-b/~01-]{0,3}",
        Just(String::new()),
        "\\PC{0,4}",
        // Either side of the longest name a thread shares (32 bytes).
        "a{31,33}",
    ]
}

/// Floats, short and long: every one survives JSON text and back to the
/// last bit (`serde_json` with its `float_roundtrip` feature, which the
/// crate turns on).
pub(crate) fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        (any::<i32>(), 0u32..20).prop_map(|(m, e)| f64::from(m) / f64::from(1u32 << e)),
        prop::num::f64::NORMAL | prop::num::f64::ZERO,
    ]
}

pub(crate) fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        float().prop_map(|f| Value::Number(Number::from_f64(f).expect("finite"))),
        "\\PC{0,6}".prop_map(Value::String),
        "[\\[\\]{}\"\\\\/~]{0,4}".prop_map(Value::String),
        // Either side of the longest string kept in place (24 bytes).
        "[ab]{22,26}".prop_map(Value::String),
    ]
}

/// Any JSON value, nested at most 4 levels, at most about 64 nodes.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
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
pub(crate) fn edited(value: &Value) -> BoxedStrategy<Value> {
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
pub(crate) fn pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        1 => (json_value(), json_value()),
        1 => json_value().prop_map(|a| (a.clone(), a)),
        4 => json_value().prop_flat_map(|a| {
            let b = edited(&a);
            (Just(a), b)
        }),
    ]
}
