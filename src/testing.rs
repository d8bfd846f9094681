//! What the unit tests share: strategies for JSON values.

use proptest::prelude::*;
use serde_json::Value;

/// JSON values built of `leaf` scalars, nested up to `depth` levels in
/// arrays and in objects whose members `key` names, each with fewer than
/// `items` items or members. Each test picks the scalars and names that
/// reach the branches it tries: a few names shared by patch and target, or
/// any text at all.
pub(crate) fn json(
    leaf: impl Strategy<Value = Value> + 'static,
    key: impl Strategy<Value = String> + Clone + 'static,
    depth: u32,
    items: usize,
) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(depth, 8 * depth, items as u32, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..items).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..items)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}
