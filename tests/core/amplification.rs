//! A small JSON Patch must not be able to make the state huge: `copy` can
//! duplicate what is there, and copies of copies double it with every
//! operation. Both the hub and a client refuse such patches, state intact.

use futures::{StreamExt, stream};
use live_resource::{Document, Error, Hub, Limits, LiveResource, Patch, Snapshot, Update};
use serde_json::{Value, json};

fn ops(value: Value) -> Patch {
    Patch::Json(serde_json::from_value(value).unwrap())
}

/// 40 copies of `/a` into `/a` itself: about 2 KB of text, 2^40 times `a`.
fn doubling() -> Patch {
    let copies: Vec<Value> = (0..40)
        .map(|n| json!({"op": "copy", "from": "/a", "path": format!("/a/x{n}")}))
        .collect();
    ops(Value::Array(copies))
}

#[test]
fn the_hub_refuses_copies_of_its_own_copies() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": {"payload": "x".repeat(100)}}))
        .unwrap();
    let before = hub.snapshot("t").unwrap();
    match hub.publish("t", doubling()) {
        Err(Error::SelfCopy { operation: 1 }) => {}
        other => panic!("expected SelfCopy at operation 1, got {other:?}"),
    }
    assert_eq!(
        hub.snapshot("t").unwrap(),
        before,
        "state and version intact"
    );
}

#[test]
fn copies_through_shifted_array_indexes_are_caught_too() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": "x", "log": ["old"]})).unwrap();
    // The copy lands at /log/0; an insert shifts it to /log/1; copying from
    // /log/1 would read the copy.
    let shifted = ops(json!([
        {"op": "copy", "from": "/a", "path": "/log/0"},
        {"op": "add", "path": "/log/0", "value": 1},
        {"op": "copy", "from": "/log/1", "path": "/log/0"},
    ]));
    assert!(matches!(
        hub.publish("t", shifted),
        Err(Error::SelfCopy { operation: 2 })
    ));
}

#[test]
fn copies_count_against_the_message_size() {
    let hub = Hub::builder()
        .first_version(0)
        .limits(Limits::default().max_message_bytes(1000))
        .build();
    hub.set("t", json!({"big": "y".repeat(600), "other": 1}))
        .unwrap();
    let twice = ops(json!([
        {"op": "copy", "from": "/big", "path": "/one"},
        {"op": "copy", "from": "/big", "path": "/two"},
    ]));
    assert!(matches!(
        hub.publish("t", twice),
        Err(Error::TooLarge { max: 1000, .. })
    ));
    let once = ops(json!([{"op": "copy", "from": "/big", "path": "/one"}]));
    assert_eq!(
        hub.publish("t", once).unwrap(),
        1,
        "one copy is within the bound"
    );
}

#[test]
fn ordinary_patches_still_pass() {
    let hub = Hub::builder().first_version(0).build();
    hub.set(
        "t",
        json!({"template": {"done": false}, "items": [], "meta": {"n": 0}}),
    )
    .unwrap();
    let usual = ops(json!([
        {"op": "add", "path": "/items/-", "value": {"id": 1}},
        {"op": "copy", "from": "/template", "path": "/items/0/state"},
        {"op": "replace", "path": "/meta/n", "value": 1},
        {"op": "move", "from": "/template", "path": "/meta/template"},
    ]));
    assert_eq!(hub.publish("t", usual).unwrap(), 1);
}

#[tokio::test]
async fn a_client_refuses_a_doubling_patch_and_keeps_its_state() {
    let updates = stream::iter([Ok::<_, std::io::Error>(Update {
        seq: Some(2),
        patch: doubling(),
    })]);
    let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(1, json!({"a": {"n": 1}}))) };
    let mut resource = LiveResource::<Value>::new(snapshot, updates);
    assert_eq!(
        resource.next().await.unwrap().unwrap(),
        json!({"a": {"n": 1}})
    );
    assert!(matches!(
        resource.next().await.unwrap(),
        Err(Error::SelfCopy { operation: 1 })
    ));
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"a": {"n": 1}}))
    );
}

#[test]
fn a_patch_of_many_copies_and_moves_is_checked_in_little_time() {
    // Tens of thousands of operations, each a copy from a place no earlier
    // operation wrote: every one is checked against all the places written
    // before it. A pass over them all for each would take seconds; this is a
    // behaviour test that such a patch is accepted, and the loop is bounded.
    let count = 20_000;
    let mut state = json!({"src": 1});
    let ops: Vec<Value> = (0..count)
        .map(|i| json!({"op": "copy", "from": "/src", "path": format!("/c{i}")}))
        .collect();
    let patch = Patch::Json(serde_json::from_value(Value::Array(ops)).unwrap());
    let limits = Limits::default().max_message_bytes(4 << 20);
    let hub = Hub::builder().first_version(0).limits(limits).build();
    hub.set("t", state.clone()).unwrap();
    hub.publish("t", patch.clone()).unwrap();
    patch.apply(&mut state).unwrap();
    assert_eq!(state.as_object().unwrap().len(), count + 1);
}
