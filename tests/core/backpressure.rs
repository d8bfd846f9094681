//! Slow and stalled consumers: they get the latest state, are told to resync
//! rather than silently skip, and cost a bounded amount of memory.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use live_resource::hub::Delivery;
use live_resource::{Hub, LiveResource};
use serde_json::{Value, json};

#[tokio::test]
async fn a_stalled_live_resource_resyncs_and_converges() {
    let hub = Hub::builder()
        .first_version(0)
        .replay(16)
        .subscriber_queue(16)
        .build();
    hub.set("ticks", json!({"n": 0})).unwrap();
    let mut resource = LiveResource::<Value>::connect(hub.source("ticks"));
    assert_eq!(resource.next().await.unwrap().unwrap(), json!({"n": 0}));

    // The consumer stalls while 10,000 updates go by.
    for n in 1..=10_000 {
        hub.merge("ticks", json!({"n": n})).unwrap();
    }
    let status = resource.status();
    let mut states = 0;
    while resource.version() != Some(10_000) {
        if let Ok(state) = resource.next().await.unwrap() {
            states += 1;
            let n = state["n"].as_u64().unwrap();
            assert_eq!(
                Some(n),
                resource.version(),
                "every state is one the hub had"
            );
        }
    }
    assert!(states <= 3, "conflated: {states} states for 10,000 updates");
    assert!(hub.stats().resyncs >= 1, "told to resync, not skipped");
    assert!(status.borrow().is_live());
}

#[tokio::test]
async fn a_stalled_subscriber_does_not_keep_old_updates_alive() {
    let hub = Hub::builder()
        .first_version(0)
        .replay(8)
        .subscriber_queue(8)
        .build();
    hub.set("t", json!({"n": 0})).unwrap();
    let _stalled = hub.subscribe("t", None).unwrap();
    let mut watcher = hub.subscribe("t", None).unwrap();

    hub.merge("t", json!({"n": 1})).unwrap();
    let first = match watcher.next().await {
        Some(Delivery::Update(frame)) => Arc::downgrade(&frame),
        other => panic!("expected an update, got {other:?}"),
    };
    drop(watcher);
    for n in 2..=100 {
        hub.merge("t", json!({"n": n})).unwrap();
    }
    assert!(
        first.upgrade().is_none(),
        "the stalled subscriber holds at most its queue, not every update"
    );
}

#[tokio::test]
async fn a_slow_shared_subscriber_sees_the_latest_state_not_a_backlog() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"n": 0})).unwrap();
    let shared = LiveResource::<Value>::connect(hub.source("t")).shared();
    let mut slow = shared.subscribe();
    assert_eq!(slow.next().await.unwrap().unwrap(), json!({"n": 0}));

    for n in 1..=1000 {
        hub.merge("t", json!({"n": n})).unwrap();
    }
    while shared.version() != Some(1000) {
        tokio::task::yield_now().await;
    }
    assert_eq!(slow.next().await.unwrap().unwrap(), json!({"n": 1000}));
    assert!(
        slow.next().now_or_never().is_none(),
        "nothing stale queued behind it"
    );
}

#[tokio::test]
async fn shared_subscribers_each_own_their_handle() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"n": 0})).unwrap();
    let shared = LiveResource::<Value>::connect(hub.source("t")).shared();
    let mut a = shared.subscribe();
    let b = shared.subscribe();
    drop(b);
    hub.merge("t", json!({"n": 1})).unwrap();
    let mut last = Value::Null;
    while last != json!({"n": 1}) {
        last = a.next().await.unwrap().unwrap();
    }
    assert_eq!(hub.subscribers("t"), 1, "one upstream for every consumer");
}
