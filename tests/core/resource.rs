//! `LiveResource::new`: what it emits, and what it does with every kind of bad
//! input: gaps, patches that do not apply, states that do not decode, limits,
//! failing sources.

use crate::support::chain;
use futures::{FutureExt, StreamExt, stream};
use live_resource::{Document, Error, Limits, LiveResource, Patch, Snapshot, Update};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

type Item = Result<Update, std::io::Error>;

async fn ready_snapshot(snapshot: Snapshot) -> Result<Snapshot, std::io::Error> {
    Ok(snapshot)
}

/// Drains a resource whose sources are all ready, without a runtime.
fn drain<T: serde::de::DeserializeOwned>(mut resource: LiveResource<T>) -> Vec<Result<T, Error>> {
    let mut items = Vec::new();
    while let Some(item) = resource
        .next()
        .now_or_never()
        .expect("all sources are ready")
    {
        items.push(item);
    }
    items
}

#[derive(Debug, Deserialize, PartialEq)]
struct Quote {
    price: f64,
}

#[test]
fn live_resource_is_send_and_unpin() {
    fn assert_send_unpin<T: Send + Unpin>() {}
    assert_send_unpin::<LiveResource<Quote>>();
    assert_send_unpin::<LiveResource<Value>>();
}

#[tokio::test]
async fn nothing_is_emitted_before_the_snapshot_and_early_updates_are_kept() {
    let (updates_tx, updates_rx) = mpsc::unbounded_channel::<Item>();
    let (snapshot_tx, snapshot_rx) = oneshot::channel();
    let mut resource = LiveResource::<Value>::new(
        async move { snapshot_rx.await.map_err(std::io::Error::other) },
        UnboundedReceiverStream::new(updates_rx),
    )
    .every_state();

    updates_tx
        .send(Ok(Update::merge(3, json!({"b": 3}))))
        .unwrap();
    assert!(resource.next().now_or_never().is_none());
    assert_eq!(resource.version(), None);
    assert_eq!(resource.json(), None);

    snapshot_tx
        .send(Snapshot::new(2, json!({"a": 1, "b": 2})))
        .unwrap();
    assert_eq!(
        resource.next().await.unwrap().unwrap(),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        resource.next().await.unwrap().unwrap(),
        json!({"a": 1, "b": 3})
    );
    assert_eq!(resource.version(), Some(3));
}

#[test]
fn a_gap_reports_the_state_then_the_gap_then_ends() {
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::merge(2, json!({"price": 2.0}))),
        Ok(Update::merge(4, json!({"price": 4.0}))),
        Ok(Update::merge(5, json!({"price": 5.0}))),
    ]);
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    );
    let items = drain(resource);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &Quote { price: 2.0 });
    assert!(
        matches!(
            items[1],
            Err(Error::Gap {
                expected: 3,
                received: 4
            })
        ),
        "{items:?}"
    );
}

#[test]
fn a_patch_that_does_not_apply_ends_the_stream_and_keeps_the_last_good_state() {
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/price", "value": 99.0},
        {"op": "test", "path": "/price", "value": 0.0},
    ]))
    .unwrap();
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::merge(2, json!({"price": 2.0}))),
        Ok(Update {
            seq: Some(3),
            patch: Patch::Json(failing),
        }),
        Ok(Update::merge(4, json!({"price": 4.0}))),
    ]);
    let mut resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    );
    let first = resource.next().now_or_never().unwrap().unwrap().unwrap();
    assert_eq!(first, Quote { price: 2.0 });
    let error = resource
        .next()
        .now_or_never()
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, Error::Apply(_)), "{error}");
    assert!(resource.next().now_or_never().unwrap().is_none());
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"price": 2.0})),
        "not half-applied"
    );
    assert_eq!(resource.version(), Some(2));
}

#[test]
fn a_state_that_does_not_decode_is_an_error_and_the_next_good_one_recovers() {
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::merge(2, json!({"price": "not a number"}))),
        Ok(Update::merge(3, json!({"price": 3.0}))),
    ]);
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    )
    .every_state();
    let items = drain(resource);
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &Quote { price: 1.0 });
    match &items[1] {
        Err(Error::Decode { version, .. }) => assert_eq!(*version, Some(2)),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(items[2].as_ref().unwrap(), &Quote { price: 3.0 });
}

#[test]
fn too_many_updates_before_the_snapshot_overflow_clearly() {
    let (updates_tx, updates_rx) = mpsc::unbounded_channel::<Item>();
    let (_snapshot_tx, snapshot_rx) = oneshot::channel::<Snapshot>();
    let mut resource = LiveResource::<Value>::new(
        async move { snapshot_rx.await.map_err(std::io::Error::other) },
        UnboundedReceiverStream::new(updates_rx),
    )
    .limits(Limits::default().max_buffered_updates(2));
    for seq in 1..=3 {
        updates_tx.send(Ok(Update::merge(seq, json!({})))).unwrap();
    }
    let error = resource
        .next()
        .now_or_never()
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, Error::BufferOverflow { max: 2 }), "{error}");
    assert!(resource.next().now_or_never().unwrap().is_none());
}

#[test]
fn a_failed_snapshot_is_reported_then_the_stream_ends() {
    let resource = LiveResource::<Value>::new(
        async { Err::<Snapshot, _>(std::io::Error::other("503 from the REST endpoint")) },
        stream::empty::<Item>(),
    );
    let items = drain(resource);
    assert_eq!(items.len(), 1);
    let error = items.into_iter().next().unwrap().unwrap_err();
    assert!(error.is_transport());
    assert_eq!(
        chain(&error),
        "fetching the snapshot failed: 503 from the REST endpoint"
    );
}

#[test]
fn an_error_from_the_update_stream_is_reported_and_the_stream_goes_on() {
    let updates = stream::iter([
        Ok(Update::merge(2, json!({"price": 2.0}))),
        Err(std::io::Error::other("frame dropped")),
        Ok(Update::merge(3, json!({"price": 3.0}))),
    ]);
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    )
    .every_state();
    let items = drain(resource);
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &Quote { price: 1.0 });
    assert_eq!(
        items[1].as_ref().unwrap(),
        &Quote { price: 2.0 },
        "the state first"
    );
    assert!(matches!(&items[2], Err(Error::Updates(_))));
    assert_eq!(items[3].as_ref().unwrap(), &Quote { price: 3.0 });
}

#[test]
fn an_error_while_the_snapshot_is_pending_is_reported_and_nothing_is_lost() {
    let (updates_tx, updates_rx) = mpsc::unbounded_channel::<Item>();
    let (snapshot_tx, snapshot_rx) = oneshot::channel();
    let mut resource = LiveResource::<Value>::new(
        async move { snapshot_rx.await.map_err(std::io::Error::other) },
        UnboundedReceiverStream::new(updates_rx),
    );
    updates_tx
        .send(Ok(Update::merge(2, json!({"a": 2}))))
        .unwrap();
    updates_tx
        .send(Err(std::io::Error::other("bad frame")))
        .unwrap();
    updates_tx
        .send(Ok(Update::merge(3, json!({"b": 3}))))
        .unwrap();
    let error = resource
        .next()
        .now_or_never()
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, Error::Updates(_)), "{error}");
    assert!(
        resource.next().now_or_never().is_none(),
        "still waiting for the snapshot"
    );
    snapshot_tx.send(Snapshot::new(1, json!({}))).unwrap();
    drop(updates_tx);
    assert_eq!(drain_ref(&mut resource), json!({"a": 2, "b": 3}));
}

#[test]
fn a_too_deep_patch_is_refused_and_the_state_is_intact() {
    let deep = json!({"a": {"b": {"c": {"d": 1}}}});
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::unsequenced(deep)),
        Ok(Update::unsequenced(json!({"a": 2}))),
    ]);
    let resource = LiveResource::<Value>::new(
        ready_snapshot(Snapshot::unversioned(json!({"a": 1}))),
        updates,
    )
    .limits(Limits::default().max_depth(3))
    .every_state();
    let items = drain(resource);
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &json!({"a": 1}));
    assert!(matches!(items[1], Err(Error::TooDeep { max: 3 })));
    assert_eq!(items[2].as_ref().unwrap(), &json!({"a": 2}));
}

#[test]
fn a_refused_sequenced_update_shows_up_as_the_gap_it_leaves() {
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::merge(2, json!({"a": {"b": {"c": {"d": 1}}}}))),
        Ok(Update::merge(3, json!({"a": 3}))),
    ]);
    let resource =
        LiveResource::<Value>::new(ready_snapshot(Snapshot::new(1, json!({"a": 1}))), updates)
            .limits(Limits::default().max_depth(3));
    let items = drain(resource);
    assert!(items[0].is_ok(), "{items:?}");
    assert!(matches!(items[1], Err(Error::TooDeep { .. })), "{items:?}");
    assert!(
        matches!(
            items[2],
            Err(Error::Gap {
                expected: 2,
                received: 3
            })
        ),
        "{items:?}"
    );
    assert_eq!(items.len(), 3);
}

#[test]
fn legacy_unsequenced_partials_apply_in_arrival_order_onto_the_current_state() {
    // The bug of the hand-written pattern: each partial merged into the
    // *initial* data, so the second undid the first. Here they accumulate.
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::unsequenced(json!({"online": 5}))),
        Ok(Update::unsequenced(json!({"sessions": {"web": 3}}))),
        Ok(Update::unsequenced(json!({"sessions": {"mobile": 2}}))),
    ]);
    let resource = LiveResource::<Value>::new(
        ready_snapshot(Snapshot::unversioned(
            json!({"online": 4, "sessions": {"web": 1}}),
        )),
        updates,
    );
    let items = drain(resource);
    assert_eq!(
        items.last().unwrap().as_ref().unwrap(),
        &json!({"online": 5, "sessions": {"web": 3, "mobile": 2}})
    );
}

#[test]
fn an_unversioned_snapshot_adopts_the_first_sequence_number() {
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::merge(40, json!({"n": 40}))),
        Ok(Update::merge(40, json!({"n": -1}))),
        Ok(Update::merge(41, json!({"n": 41}))),
    ]);
    let mut resource = LiveResource::<Value>::new(
        ready_snapshot(Snapshot::unversioned(json!({"n": 0}))),
        updates,
    );
    let last = drain_ref(&mut resource);
    assert_eq!(last, json!({"n": 41}), "the duplicate 40 was dropped");
    assert_eq!(resource.version(), Some(41));
}

fn drain_ref(resource: &mut LiveResource<Value>) -> Value {
    let mut last = Value::Null;
    while let Some(item) = resource.next().now_or_never().unwrap() {
        last = item.unwrap();
    }
    last
}

#[test]
fn a_slow_consumer_gets_the_latest_state_in_one_item() {
    let updates = stream::iter(
        (2..=100).map(|seq| Ok::<_, std::io::Error>(Update::merge(seq, json!({"price": seq})))),
    );
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    );
    let items = drain(resource);
    assert_eq!(items.len(), 1, "conflated");
    assert_eq!(items[0].as_ref().unwrap(), &Quote { price: 100.0 });
}

#[test]
fn every_state_mode_emits_one_state_per_update() {
    let updates = stream::iter(
        (2..=100).map(|seq| Ok::<_, std::io::Error>(Update::merge(seq, json!({"price": seq})))),
    );
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    )
    .every_state();
    let prices: Vec<f64> = drain(resource)
        .into_iter()
        .map(|q| q.unwrap().price)
        .collect();
    assert_eq!(prices, (1..=100).map(f64::from).collect::<Vec<_>>());
}

#[test]
fn a_source_that_is_always_ready_still_lets_states_through() {
    let updates = stream::iter(
        (2..=5000).map(|seq| Ok::<_, std::io::Error>(Update::merge(seq, json!({"price": seq})))),
    );
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        updates,
    );
    let items = drain(resource);
    assert!(items.len() > 1, "a bounded amount of work per poll");
    assert_eq!(
        items.last().unwrap().as_ref().unwrap(),
        &Quote { price: 5000.0 }
    );
}

#[test]
fn an_update_stream_that_ends_before_the_snapshot_still_hands_off() {
    let updates = stream::iter([
        Ok::<_, std::io::Error>(Update::merge(1, json!({"x": 1}))),
        Ok(Update::merge(2, json!({"x": 2}))),
    ]);
    let (snapshot_tx, snapshot_rx) = oneshot::channel();
    let mut resource = LiveResource::<Value>::new(
        async move { snapshot_rx.await.map_err(std::io::Error::other) },
        updates,
    );
    assert!(resource.next().now_or_never().is_none());
    snapshot_tx.send(Snapshot::new(1, json!({"x": 1}))).unwrap();
    assert_eq!(drain_ref(&mut resource), json!({"x": 2}));
}

#[test]
fn debug_output_names_the_type_and_version() {
    let resource = LiveResource::<Quote>::new(
        ready_snapshot(Snapshot::new(1, json!({"price": 1.0}))),
        stream::empty::<Item>(),
    );
    let debug = format!("{resource:?}");
    assert!(
        debug.contains("Quote") && debug.contains("version"),
        "{debug}"
    );
}
