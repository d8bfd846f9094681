//! The server-side `Hub`: versions, smallest diffs, shared frames, atomic snapshots, replay, slow subscribers, bounds and bookkeeping.

use std::sync::Arc;
use std::thread;

use futures::{FutureExt, StreamExt};
use live_resource::hub::{Delivery, Frame, Subscription};
use live_resource::{Error, Hub, Limits, Patch, Snapshot};
use serde_json::{Value, json};

const _: fn() = || {
    fn clone_send_sync<T: Clone + Send + Sync>() {}
    fn send<T: Send>() {}
    clone_send_sync::<Hub>();
    send::<Subscription>();
};

/// A JSON Patch from its JSON form.
fn ops(ops: Value) -> Patch {
    Patch::Json(serde_json::from_value(ops).expect("valid JSON Patch"))
}

/// The next delivery if one is ready now: `None` when nothing is waiting,
/// `Some(None)` when the subscription has ended.
///
/// Unconstrained: inside a tokio task the broadcast queue spends the task's
/// cooperative budget and would report "not ready" after 128 items.
fn ready(subscription: &mut Subscription) -> Option<Option<Delivery>> {
    tokio::task::unconstrained(subscription.next()).now_or_never()
}

/// The frame of an update that must be ready now.
fn next_frame(subscription: &mut Subscription) -> Arc<Frame> {
    match ready(subscription) {
        Some(Some(Delivery::Update(frame))) => frame,
        Some(Some(Delivery::Resync)) => panic!("expected an update, got a resync"),
        Some(None) => panic!("expected an update, the subscription ended"),
        None => panic!("expected an update, nothing was ready"),
    }
}

/// Asserts that nothing is waiting for the subscriber and it has not ended.
#[track_caller]
fn assert_quiet(subscription: &mut Subscription) {
    if let Some(delivery) = ready(subscription) {
        panic!("expected nothing, got {delivery:?}");
    }
}

/// Asserts that a resync is ready now.
#[track_caller]
fn assert_resync(subscription: &mut Subscription) {
    match ready(subscription) {
        Some(Some(Delivery::Resync)) => {}
        other => panic!("expected a resync, got {other:?}"),
    }
}

/// Everything ready now, until the queue is empty or the subscription ends.
/// Bounded: a subscriber never has more than `max` waiting in these tests.
fn drain(subscription: &mut Subscription, max: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    for _ in 0..=max {
        match ready(subscription) {
            Some(Some(delivery)) => out.push(delivery),
            _ => return out,
        }
    }
    panic!("more than {max} deliveries were ready");
}

/// The seqs of deliveries that must all be updates.
fn seqs(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries
        .iter()
        .map(|delivery| match delivery {
            Delivery::Update(frame) => frame.seq(),
            Delivery::Resync => panic!("unexpected resync in {deliveries:?}"),
        })
        .collect()
}

fn version(hub: &Hub, topic: &str) -> u64 {
    hub.snapshot(topic)
        .expect("topic exists")
        .version
        .expect("hub snapshots are versioned")
}

fn data(hub: &Hub, topic: &str) -> Value {
    hub.snapshot(topic).expect("topic exists").data
}

/// A topic with `count` updates published: its value is `{"n": count}`.
fn publish_n(hub: &Hub, topic: &str, count: u64) {
    let start = version(hub, topic);
    for n in 1..=count {
        assert_eq!(
            hub.merge(topic, json!({ "n": start + n })).unwrap(),
            start + n
        );
    }
}

// ---------------------------------------------------------------- versions

#[test]
fn a_hub_can_start_its_topics_at_any_version() {
    let hub = Hub::builder().first_version(1_000).build();
    assert_eq!(hub.set("quotes", json!({"AAPL": 189.5})).unwrap(), 1_000);
    publish_n(&hub, "quotes", 3);
    assert_eq!(version(&hub, "quotes"), 1_003);

    // Half the range stays for updates, whatever is asked.
    let hub = Hub::builder()
        .first_version(0)
        .first_version(u64::MAX)
        .build();
    let first = hub.set("quotes", json!({})).unwrap();
    assert_eq!(first, 1 << 63);
    publish_n(&hub, "quotes", 2);
}

/// A server restarts with its topics in memory: the new hub's history is not
/// the old one, though its versions would be the same numbers from 0. From
/// the clock, they lie above the old ones, and a subscriber that resumes with
/// an old version is told to resync instead of being replayed the wrong
/// updates.
#[test]
fn versions_from_the_clock_send_a_stale_subscriber_to_a_new_snapshot() {
    let before = Hub::builder().versions_from_clock().build();
    before.set("quotes", json!({"n": 0})).unwrap();
    publish_n(&before, "quotes", 5);
    let stale = version(&before, "quotes");

    std::thread::sleep(std::time::Duration::from_millis(2));
    let after = Hub::builder().versions_from_clock().build();
    after.set("quotes", json!({"n": 0})).unwrap();
    publish_n(&after, "quotes", 10);
    assert!(version(&after, "quotes") > stale + 10);
    let mut resumed = after.subscribe("quotes", Some(stale)).unwrap();
    assert_resync(&mut resumed);

    // With versions from 0, the same resume is replayed updates 6 to 10 of
    // the other history: what the clock prevents.
    let zero_before = Hub::builder().first_version(0).build();
    zero_before.set("quotes", json!({"n": 0})).unwrap();
    publish_n(&zero_before, "quotes", 5);
    let zero_after = Hub::builder().first_version(0).build();
    zero_after.set("quotes", json!({"n": 0})).unwrap();
    publish_n(&zero_after, "quotes", 10);
    let mut wrong = zero_after.subscribe("quotes", Some(5)).unwrap();
    let replayed = drain(&mut wrong, 16);
    assert_eq!(seqs(&replayed), (6..=10).collect::<Vec<_>>());
}

/// The same within one process: a topic removed and made again starts above
/// every version it had.
#[test]
fn a_topic_made_again_starts_above_its_old_versions_with_the_clock() {
    let hub = Hub::builder().versions_from_clock().build();
    hub.set("clients/7", json!({"unread": 0})).unwrap();
    publish_n(&hub, "clients/7", 3);
    let old = version(&hub, "clients/7");
    assert!(hub.remove("clients/7"));
    std::thread::sleep(std::time::Duration::from_millis(2));
    let again = hub.set("clients/7", json!({"unread": 0})).unwrap();
    assert!(again > old, "{again} > {old}");
    let mut resumed = hub.subscribe("clients/7", Some(old)).unwrap();
    assert_resync(&mut resumed);
}

#[test]
fn a_new_topic_is_version_0_and_each_change_adds_exactly_1() {
    let hub = Hub::builder().first_version(0).build();
    assert_eq!(hub.set("quotes", json!({"AAPL": 189.5})).unwrap(), 0);
    assert_eq!(version(&hub, "quotes"), 0);
    assert_eq!(hub.set("quotes", json!({"AAPL": 190.0})).unwrap(), 1);
    assert_eq!(hub.merge("quotes", json!({"MSFT": 410.0})).unwrap(), 2);
    let append = ops(json!([{"op": "add", "path": "/list", "value": [1]}]));
    assert_eq!(hub.publish("quotes", append).unwrap(), 3);
    assert_eq!(hub.update("quotes", |v| v["AAPL"] = json!(191)).unwrap(), 4);
    assert_eq!(
        hub.publish("quotes", Patch::Replace(json!({"x": 1})))
            .unwrap(),
        5
    );
    assert_eq!(version(&hub, "quotes"), 5);
    assert_eq!(data(&hub, "quotes"), json!({"x": 1}));
    assert_eq!(hub.stats().published, 5);
}

#[test]
fn changes_that_change_nothing_publish_nothing() {
    let hub = Hub::builder().first_version(0).build();
    let value = json!({"a": 1, "b": {"c": [1, 2]}, "n": null});
    hub.set("t", value.clone()).unwrap();
    hub.merge("t", json!({"a": 2})).unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();
    let state = data(&hub, "t");

    assert_eq!(
        hub.set("t", state.clone()).unwrap(),
        1,
        "set to an equal value"
    );
    for noop in [
        json!({}),
        json!({"a": 2}),
        json!({"b": {"c": [1, 2]}}),
        json!({"zz": null}),
        json!({"b": {"zz": null}}),
    ] {
        assert_eq!(hub.merge("t", noop.clone()).unwrap(), 1, "merge {noop}");
    }
    let test = ops(json!([{"op": "test", "path": "/a", "value": 2}]));
    assert_eq!(hub.publish("t", test).unwrap(), 1, "a passing test op");
    let same = ops(json!([{"op": "replace", "path": "/a", "value": 2}]));
    assert_eq!(
        hub.publish("t", same).unwrap(),
        1,
        "replace with the same value"
    );
    assert_eq!(
        hub.publish("t", Patch::Replace(state.clone())).unwrap(),
        1,
        "replace with an equal value"
    );
    assert_eq!(
        hub.update("t", |_| {}).unwrap(),
        1,
        "update that does nothing"
    );
    assert_eq!(
        hub.update("t", |v| v["a"] = json!(2)).unwrap(),
        1,
        "update that writes the same value"
    );

    assert_eq!(version(&hub, "t"), 1);
    assert_eq!(data(&hub, "t"), state);
    assert_quiet(&mut subscription);
    assert_eq!(hub.stats().published, 1);
}

// ---------------------------------------------------------------- smallest diff, shared frames

#[test]
fn set_publishes_the_smallest_diff() {
    let hub = Hub::builder().first_version(0).build();
    let big = "x".repeat(1000);
    hub.set("t", json!({"a": 1, "b": {"c": 2, "d": 3}, "big": big}))
        .unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();

    assert_eq!(
        hub.set("t", json!({"a": 1, "b": {"c": 5, "d": 3}, "big": big}))
            .unwrap(),
        1
    );
    let frame = next_frame(&mut subscription);
    assert_eq!(frame.seq(), 1);
    assert_eq!(frame.update().seq, Some(1));
    assert_eq!(
        frame.update().patch,
        Patch::Merge(json!({"b": {"c": 5}}).into())
    );

    hub.set("t", json!({"b": {"c": 5, "d": 3}, "big": big}))
        .unwrap();
    let frame = next_frame(&mut subscription);
    assert_eq!(
        frame.update().patch,
        Patch::Merge(json!({"a": null}).into())
    );
    assert_quiet(&mut subscription);
}

#[test]
fn update_publishes_the_smallest_diff() {
    let hub = Hub::builder().first_version(0).build();
    hub.set(
        "jobs/1",
        json!({"done": 0, "total": 100, "log": ["started"]}),
    )
    .unwrap();
    let mut subscription = hub.subscribe("jobs/1", None).unwrap();

    let v = hub
        .update("jobs/1", |job| {
            job["done"] = json!(job["done"].as_u64().unwrap() + 10);
        })
        .unwrap();
    assert_eq!(v, 1);
    let frame = next_frame(&mut subscription);
    assert_eq!(
        frame.update().patch,
        Patch::Merge(json!({"done": 10}).into())
    );
    assert_eq!(
        data(&hub, "jobs/1"),
        json!({"done": 10, "total": 100, "log": ["started"]})
    );
    assert_quiet(&mut subscription);
}

#[test]
fn update_at_publishes_the_change_of_one_place_as_a_patch_of_the_whole() {
    let hub = Hub::builder().first_version(0).build();
    hub.set(
        "orders",
        json!({"o1": {"qty": 1, "tags": ["new"]}, "o2": {"qty": 2}, "rows": [{"n": 1}, {"n": 2}]}),
    )
    .unwrap();
    let mut subscription = hub.subscribe("orders", None).unwrap();

    // Under members: a merge patch nested under the keys.
    assert_eq!(
        hub.update_at("orders", "/o1", |o| o["qty"] = json!(5))
            .unwrap(),
        1
    );
    let frame = next_frame(&mut subscription);
    assert_eq!(
        frame.update().patch,
        Patch::Merge(json!({"o1": {"qty": 5}}).into())
    );

    // Inside an array: a JSON Patch at the place.
    assert_eq!(
        hub.update_at("orders", "/rows/1", |row| row["n"] = json!(20))
            .unwrap(),
        2
    );
    let frame = next_frame(&mut subscription);
    assert_eq!(
        frame.update().patch,
        ops(json!([{"op": "replace", "path": "/rows/1/n", "value": 20}]))
    );

    // Set to null: a merge patch would delete the member; JSON Patch says it.
    assert_eq!(
        hub.update_at("orders", "/o2", |o| *o = Value::Null)
            .unwrap(),
        3
    );
    let frame = next_frame(&mut subscription);
    assert!(
        matches!(frame.update().patch, Patch::Json(_)),
        "{:?}",
        frame.update().patch
    );
    assert_eq!(
        data(&hub, "orders"),
        json!({"o1": {"qty": 5, "tags": ["new"]}, "o2": null, "rows": [{"n": 1}, {"n": 20}]})
    );

    // No change, no update.
    assert_eq!(hub.update_at("orders", "/o1/tags", |_| {}).unwrap(), 3);
    assert_quiet(&mut subscription);
}

#[test]
fn update_at_refuses_what_the_limits_refuse_and_places_that_are_not_there() {
    let limits = Limits::default().max_depth(4).max_state_bytes(200);
    let hub = Hub::builder().first_version(0).limits(limits).build();
    hub.set("t", json!({"a": {"b": 1}, "list": [1]})).unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();

    let deep = hub.update_at("t", "/a", |a| a["b"] = json!({"c": {"d": {"e": 1}}}));
    assert!(matches!(deep, Err(Error::TooDeep { max: 4 })), "{deep:?}");
    let large = hub.update_at("t", "/a", |a| a["b"] = json!("x".repeat(300)));
    assert!(
        matches!(
            large,
            Err(Error::StateTooLarge { .. }) | Err(Error::TooLarge { .. })
        ),
        "{large:?}"
    );
    for place in ["/missing", "/list/1", "/list/-", "no-slash"] {
        let error = hub
            .update_at("t", place, |_| panic!("not called for {place}"))
            .unwrap_err();
        assert!(
            matches!(&error, Error::Apply(apply) if apply.path() == place),
            "{error:?}"
        );
    }
    let unknown = hub.update_at("nope", "/a", |_| panic!("not called"));
    assert!(
        matches!(unknown, Err(Error::UnknownTopic { .. })),
        "{unknown:?}"
    );

    assert_eq!(data(&hub, "t"), json!({"a": {"b": 1}, "list": [1]}));
    assert_eq!(version(&hub, "t"), 0);
    assert_quiet(&mut subscription);
}

#[test]
fn every_diff_rebuilds_the_value_set() {
    let hub = Hub::builder().first_version(0).build();
    let values = [
        json!({"a": 1}),
        json!({"a": null}),
        json!({"a": null, "b": [1, 2, 3]}),
        json!({"b": [1, 9, 3]}),
        json!({"b": {"x": null}}),
        json!([1, 2]),
        json!("scalar"),
        json!({"nested": {"deep": {"k": true}}}),
        json!({"nested": {"deep": {"k": false, "l": null}}}),
        json!({}),
    ];
    hub.set("t", json!(null)).unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();
    let mut replica = json!(null);
    for (i, value) in values.iter().enumerate() {
        assert_eq!(hub.set("t", value.clone()).unwrap(), i as u64 + 1);
        let frame = next_frame(&mut subscription);
        assert_eq!(frame.seq(), i as u64 + 1);
        frame.update().patch.apply(&mut replica).unwrap();
        assert_eq!(&replica, value, "after set #{i}");
    }
    assert_quiet(&mut subscription);
}

#[test]
fn frames_are_serialized_once_and_shared() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 189.5})).unwrap();
    let mut first = hub.subscribe("quotes", None).unwrap();
    let mut second = hub.subscribe("quotes", Some(0)).unwrap();

    hub.merge("quotes", json!({"AAPL": 190.25})).unwrap();
    let a = next_frame(&mut first);
    let b = next_frame(&mut second);
    assert!(Arc::ptr_eq(&a, &b), "both subscribers share one frame");

    let late = next_frame(&mut hub.subscribe("quotes", Some(0)).unwrap());
    assert!(Arc::ptr_eq(&a, &late), "the replay ring shares it too");

    assert_eq!(&a.bytes()[..], serde_json::to_vec(a.update()).unwrap());
    assert_eq!(&a.bytes()[..], br#"{"seq":1,"merge":{"AAPL":190.25}}"#);

    // The WebSocket envelope is made once too, on first use, and every
    // reader of the frame gets the same bytes, not a copy.
    let envelope = a.envelope().clone();
    assert_eq!(
        &envelope[..],
        br#"{"type":"update","topic":"quotes","seq":1,"merge":{"AAPL":190.25}}"#
    );
    assert_eq!(envelope.as_ptr(), b.envelope().as_ptr());
    assert_eq!(envelope.as_ptr(), late.envelope().as_ptr());

    let append = ops(json!([{"op": "add", "path": "/list", "value": [1]}]));
    hub.publish("quotes", append).unwrap();
    let frame = next_frame(&mut first);
    assert_eq!(
        &frame.bytes()[..],
        serde_json::to_vec(frame.update()).unwrap()
    );
    assert_eq!(frame.seq(), 2);
}

// ---------------------------------------------------------------- atomic snapshot

#[tokio::test]
async fn snapshot_and_subscription_are_atomic() {
    const UPDATES: u64 = 2_000;
    let hub = Hub::builder()
        .first_version(0)
        .subscriber_queue(4096)
        .replay(16)
        .build();
    hub.set("t", json!({"n": 0})).unwrap();

    let publisher = {
        let hub = hub.clone();
        thread::spawn(move || {
            for i in 1..=UPDATES {
                let patch = json!({
                    "n": i,
                    format!("k{}", i % 7): i,
                    format!("k{}", (i + 3) % 7): null,
                });
                hub.merge("t", patch).unwrap();
            }
        })
    };

    // Snapshots spread over the run: each waits (boundedly) for the publisher
    // to pass a mark, and catches whatever version it has reached by then.
    let mut taken = Vec::new();
    for mark in (0..UPDATES).step_by(100) {
        for _ in 0..1_000_000 {
            if version(&hub, "t") >= mark {
                break;
            }
            thread::yield_now();
        }
        taken.push(hub.subscribe_with_snapshot("t").unwrap());
    }
    publisher.join().unwrap();

    let final_state = hub.snapshot("t").unwrap();
    assert_eq!(final_state.version, Some(UPDATES));
    for (snapshot, mut updates) in taken {
        let v = snapshot.version.unwrap();
        let mut state = snapshot.data;
        let received = drain(&mut updates, UPDATES as usize);
        assert_eq!(
            seqs(&received),
            (v + 1..=UPDATES).collect::<Vec<_>>(),
            "snapshot at {v}"
        );
        for delivery in &received {
            let Delivery::Update(frame) = delivery else {
                unreachable!()
            };
            frame.update().patch.apply(&mut state).unwrap();
        }
        assert_eq!(state, final_state.data, "snapshot at {v} plus its updates");
    }
}

// ---------------------------------------------------------------- replay ring

#[tokio::test]
async fn replay_ring_resumes_or_resyncs() {
    let hub = Hub::builder().first_version(0).replay(8).build();
    hub.set("t", json!({"n": 0})).unwrap();
    publish_n(&hub, "t", 20);

    let mut from_15 = hub.subscribe("t", Some(15)).unwrap();
    let mut from_12 = hub.subscribe("t", Some(12)).unwrap();
    let mut from_11 = hub.subscribe("t", Some(11)).unwrap();
    let mut from_5 = hub.subscribe("t", Some(5)).unwrap();
    let mut from_20 = hub.subscribe("t", Some(20)).unwrap();
    let mut from_99 = hub.subscribe("t", Some(99)).unwrap();
    let mut from_now = hub.subscribe("t", None).unwrap();
    assert_eq!(hub.stats().resyncs, 3, "from 11, from 5 and from 99");

    let replayed = drain(&mut from_15, 100);
    assert_eq!(seqs(&replayed), [16, 17, 18, 19, 20]);
    let replayed = drain(&mut from_12, 100);
    assert_eq!(
        seqs(&replayed),
        (13..=20).collect::<Vec<_>>(),
        "the whole ring"
    );
    assert_resync(&mut from_11);
    assert_resync(&mut from_5);
    assert_resync(&mut from_99);
    for subscription in [
        &mut from_15,
        &mut from_12,
        &mut from_11,
        &mut from_5,
        &mut from_20,
        &mut from_99,
        &mut from_now,
    ] {
        assert_quiet(subscription);
    }

    publish_n(&hub, "t", 2);
    for subscription in [
        &mut from_15,
        &mut from_12,
        &mut from_11,
        &mut from_5,
        &mut from_20,
        &mut from_99,
        &mut from_now,
    ] {
        let Some(Delivery::Update(frame)) = subscription.next().await else {
            panic!("expected a live update");
        };
        assert_eq!(frame.seq(), 21);
        assert_eq!(seqs(&drain(subscription, 10)), [22]);
    }
    assert_eq!(hub.stats().resyncs, 3);
}

#[test]
fn replay_of_zero_resyncs_anything_older_than_now() {
    let hub = Hub::builder().first_version(0).replay(0).build();
    hub.set("t", json!({"n": 0})).unwrap();
    assert_quiet(&mut hub.subscribe("t", Some(0)).unwrap());
    publish_n(&hub, "t", 3);

    let mut from_0 = hub.subscribe("t", Some(0)).unwrap();
    let mut from_2 = hub.subscribe("t", Some(2)).unwrap();
    let mut from_3 = hub.subscribe("t", Some(3)).unwrap();
    let mut from_4 = hub.subscribe("t", Some(4)).unwrap();
    assert_resync(&mut from_0);
    assert_resync(&mut from_2);
    assert_resync(&mut from_4);
    assert_quiet(&mut from_3);
    assert_eq!(hub.stats().resyncs, 3);

    publish_n(&hub, "t", 1);
    for subscription in [&mut from_0, &mut from_2, &mut from_3, &mut from_4] {
        assert_eq!(seqs(&drain(subscription, 10)), [4]);
    }
}

// ---------------------------------------------------------------- slow subscriber

#[test]
fn a_slow_subscriber_is_told_to_resync_and_never_skips_silently() {
    let hub = Hub::builder().first_version(0).subscriber_queue(4).build();
    hub.set("t", json!({"n": 0})).unwrap();
    let mut slow = hub.subscribe("t", None).unwrap();
    let mut fast = hub.subscribe("t", None).unwrap();

    let mut fast_seen = Vec::new();
    for n in 1..=100u64 {
        hub.merge("t", json!({ "n": n })).unwrap();
        fast_seen.extend(seqs(&drain(&mut fast, 10)));
    }
    assert_eq!(
        fast_seen,
        (1..=100).collect::<Vec<_>>(),
        "the fast one saw all"
    );

    let received = drain(&mut slow, 200);
    let Some((Delivery::Resync, after)) = received.split_first() else {
        panic!("expected a resync first, got {received:?}");
    };
    let after = seqs(after);
    assert!(!after.is_empty() && after.len() <= 4, "{after:?}");
    assert_eq!(after.last(), Some(&100));
    assert!(
        after.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "updates after the resync are contiguous: {after:?}"
    );
    assert_eq!(hub.stats().resyncs, 1);

    hub.merge("t", json!({"n": 101})).unwrap();
    assert_eq!(seqs(&drain(&mut slow, 10)), [101], "then it is live again");
    assert_eq!(seqs(&drain(&mut fast, 10)), [101]);
    assert_eq!(hub.stats().resyncs, 1);
}

#[test]
fn a_subscriber_that_lags_while_replaying_is_told_to_resync() {
    let hub = Hub::builder()
        .first_version(0)
        .replay(64)
        .subscriber_queue(4)
        .build();
    hub.set("t", json!({"n": 0})).unwrap();
    publish_n(&hub, "t", 10);
    let mut resumed = hub.subscribe("t", Some(5)).unwrap();
    publish_n(&hub, "t", 20);

    let received = drain(&mut resumed, 100);
    let resync = received
        .iter()
        .position(|d| matches!(d, Delivery::Resync))
        .expect("the live queue overflowed: a resync is due");
    assert_eq!(
        seqs(&received[..resync]),
        [6, 7, 8, 9, 10],
        "the replay first"
    );
    let after = seqs(&received[resync + 1..]);
    assert_eq!(after.last(), Some(&30));
    assert!(
        after.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{after:?}"
    );
}

// ---------------------------------------------------------------- bad input

#[test]
fn unknown_topics_are_refused_by_name() {
    let hub = Hub::builder().first_version(0).build();
    let name = "no/such-topic";
    let expect_unknown = |result: Result<u64, Error>| match result {
        Err(err @ Error::UnknownTopic { .. }) => assert!(err.to_string().contains(name), "{err}"),
        other => panic!("expected UnknownTopic, got {other:?}"),
    };
    expect_unknown(hub.merge(name, json!({"a": 1})));
    expect_unknown(hub.publish(name, Patch::Replace(json!(1))));
    expect_unknown(hub.update(name, |v| *v = json!(1)));
    match hub.subscribe(name, None) {
        Err(err @ Error::UnknownTopic { .. }) => assert!(err.to_string().contains(name)),
        other => panic!("expected UnknownTopic, got {other:?}"),
    }
    match hub.subscribe_with_snapshot(name) {
        Err(err @ Error::UnknownTopic { .. }) => assert!(err.to_string().contains(name)),
        other => panic!("expected UnknownTopic, got {other:?}"),
    }
    assert!(hub.snapshot(name).is_none());
    assert!(hub.read(name, |_, _| ()).is_none());
    assert_eq!(hub.subscribers(name), 0);
    assert!(hub.topics().is_empty(), "nothing was created on the way");
}

#[test]
fn a_json_patch_that_does_not_apply_changes_nothing() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": 1, "list": [1, 2]})).unwrap();
    hub.merge("t", json!({"a": 2})).unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();
    let before = hub.snapshot("t").unwrap();

    for bad in [
        json!([{"op": "remove", "path": "/missing"}]),
        json!([
            {"op": "add", "path": "/x", "value": 1},
            {"op": "test", "path": "/a", "value": 99},
        ]),
        json!([
            {"op": "replace", "path": "/list/0", "value": 10},
            {"op": "remove", "path": "/list/5"},
        ]),
        json!([{"op": "replace", "path": "/missing", "value": 1}]),
    ] {
        match hub.publish("t", ops(bad.clone())) {
            Err(Error::Apply(_)) => {}
            other => panic!("{bad}: expected Apply, got {other:?}"),
        }
        assert_eq!(hub.snapshot("t").unwrap(), before, "{bad}");
    }
    assert_quiet(&mut subscription);
    assert_eq!(hub.stats().published, 1);

    assert_eq!(
        hub.merge("t", json!({"a": 3})).unwrap(),
        2,
        "next change is seq 2"
    );
    assert_eq!(next_frame(&mut subscription).seq(), 2);
}

/// A `test` is a precondition: it must hold even when the patch changes nothing.
#[test]
fn a_json_patch_of_only_a_failing_test_is_refused() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": 1})).unwrap();
    for bad in [
        json!([{"op": "test", "path": "/a", "value": 2}]),
        json!([{"op": "test", "path": "/missing", "value": 1}]),
        json!([{"op": "move", "from": "/missing", "path": "/missing"}]),
    ] {
        match hub.publish("t", ops(bad.clone())) {
            Err(Error::Apply(_)) => {}
            other => panic!("{bad}: expected Apply, got {other:?}"),
        }
    }
    assert_eq!(version(&hub, "t"), 0);
}

#[test]
fn too_deep_values_and_patches_are_refused() {
    let hub = Hub::builder()
        .first_version(0)
        .limits(Limits::default().max_depth(3))
        .build();
    let deep = json!({"a": {"b": {"c": {"d": 1}}}});

    assert!(matches!(
        hub.set("new", deep.clone()),
        Err(Error::TooDeep { max: 3 })
    ));
    assert!(
        hub.snapshot("new").is_none(),
        "a refused topic is not created"
    );

    hub.set("t", json!({"a": {"b": {"c": 1}}})).unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();
    let before = hub.snapshot("t").unwrap();

    assert!(matches!(
        hub.set("t", deep.clone()),
        Err(Error::TooDeep { max: 3 })
    ));
    assert!(matches!(
        hub.merge("t", json!({"x": {"y": {"z": {"w": 1}}}})),
        Err(Error::TooDeep { max: 3 })
    ));
    assert!(matches!(
        hub.publish("t", Patch::Replace(deep.clone())),
        Err(Error::TooDeep { max: 3 })
    ));
    assert!(matches!(
        hub.update("t", |v| v["a"]["b"]["c"] = json!({"d": 1})),
        Err(Error::TooDeep { max: 3 })
    ));
    assert_eq!(hub.snapshot("t").unwrap(), before);
    assert_quiet(&mut subscription);

    assert_eq!(hub.merge("t", json!({"a": {"b": {"c": 2}}})).unwrap(), 1);
}

/// A JSON Patch can write a small value far down a deep path: the depth of
/// the state it leaves is bounded, not just the depth of its text.
#[test]
fn a_json_patch_cannot_nest_the_state_past_max_depth() {
    let hub = Hub::builder()
        .first_version(0)
        .limits(Limits::default().max_depth(3))
        .build();
    let start = json!({"a": {"b": {"c": 1}}});
    hub.set("t", start.clone()).unwrap();
    assert!(matches!(
        hub.update("t", |v| v["a"]["b"]["c"] = json!({})),
        Err(Error::TooDeep { max: 3 })
    ));
    for deeper in [
        json!([{"op": "add", "path": "/a/b/c", "value": {}}]),
        json!([{"op": "copy", "from": "/a", "path": "/a/b/c"}]),
    ] {
        match hub.publish("t", ops(deeper.clone())) {
            Err(Error::TooDeep { max: 3 }) => {}
            other => panic!("{deeper}: expected TooDeep, got {other:?}"),
        }
        assert_eq!(data(&hub, "t"), start, "{deeper}");
    }
}

#[test]
fn too_large_updates_are_refused() {
    let hub = Hub::builder()
        .first_version(0)
        .limits(Limits::default().max_message_bytes(100))
        .build();
    hub.set("t", json!({"note": "short"})).unwrap();
    hub.merge("t", json!({"note": "still short"})).unwrap();
    let mut subscription = hub.subscribe("t", None).unwrap();
    let before = hub.snapshot("t").unwrap();
    let kilobyte = "x".repeat(1024);

    let expect_too_large = |result: Result<u64, Error>| match result {
        Err(Error::TooLarge { size, max: 100 }) => assert!(size > 1024, "{size}"),
        other => panic!("expected TooLarge, got {other:?}"),
    };
    expect_too_large(hub.merge("t", json!({ "note": kilobyte })));
    expect_too_large(hub.set("t", json!({ "note": kilobyte })));
    expect_too_large(hub.update("t", |v| v["note"] = json!(kilobyte)));
    expect_too_large(hub.publish(
        "t",
        ops(json!([{"op": "add", "path": "/big", "value": kilobyte}])),
    ));
    assert_eq!(hub.snapshot("t").unwrap(), before);
    assert_quiet(&mut subscription);
    assert_eq!(hub.stats().published, 1);

    assert_eq!(hub.merge("t", json!({"note": "ok"})).unwrap(), 2);
    assert_eq!(next_frame(&mut subscription).seq(), 2);
}

// ---------------------------------------------------------------- remove

#[tokio::test]
async fn remove_ends_subscriptions_and_the_name_starts_over() {
    let hub = Hub::builder().first_version(0).replay(16).build();
    hub.set("jobs/42", json!({"done": 0})).unwrap();
    publish_n(&hub, "jobs/42", 3);
    let mut live = hub.subscribe("jobs/42", None).unwrap();
    let (_, mut with_snapshot) = hub.subscribe_with_snapshot("jobs/42").unwrap();

    assert!(hub.remove("jobs/42"));
    assert!(!hub.remove("jobs/42"));
    assert!(live.next().await.is_none(), "the subscription ended");
    assert!(with_snapshot.next().await.is_none());
    assert!(hub.snapshot("jobs/42").is_none());
    assert!(matches!(
        hub.merge("jobs/42", json!({"done": 1})),
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(hub.stats().topics, 0);
    assert_eq!(hub.stats().subscribers, 0);

    assert_eq!(hub.set("jobs/42", json!({"done": 0})).unwrap(), 0);
    assert_eq!(version(&hub, "jobs/42"), 0);
    let mut fresh = hub.subscribe("jobs/42", Some(0)).unwrap();
    assert_quiet(&mut fresh);
    assert_eq!(hub.merge("jobs/42", json!({"done": 1})).unwrap(), 1);
    assert_eq!(seqs(&drain(&mut fresh, 10)), [1]);
    assert_resync(&mut hub.subscribe("jobs/42", Some(3)).unwrap());
}

// ---------------------------------------------------------------- bookkeeping

#[test]
fn topics_subscribers_and_stats_are_counted() {
    let hub = Hub::builder().first_version(0).replay(0).build();
    assert_eq!(hub.stats(), Default::default());
    hub.set("b", json!(1)).unwrap();
    hub.set("a", json!({"n": 0})).unwrap();
    hub.set("c/d/e", json!(1)).unwrap();
    publish_n(&hub, "a", 2);

    let a1 = hub.subscribe("a", None).unwrap();
    let mut a2 = hub.subscribe("a", None).unwrap();
    let (_, c1) = hub.subscribe_with_snapshot("c/d/e").unwrap();
    let resyncing = hub.subscribe("b", Some(7)).unwrap();

    let topics = hub.topics();
    let summary: Vec<_> = topics
        .iter()
        .map(|t| (t.name.as_str(), t.version, t.subscribers))
        .collect();
    assert_eq!(summary, [("a", 2, 2), ("b", 0, 1), ("c/d/e", 0, 1)]);
    assert_eq!(hub.subscribers("a"), 2);
    assert_eq!(hub.subscribers("missing"), 0);

    let stats = hub.stats();
    assert_eq!(stats.topics, 3);
    assert_eq!(stats.subscribers, 4);
    assert_eq!(stats.subscriptions, 4);
    assert_eq!(stats.published, 2);
    assert_eq!(stats.resyncs, 1);

    drop(a1);
    assert_eq!(hub.subscribers("a"), 1, "dropping one leaves the other");
    publish_n(&hub, "a", 1);
    assert_eq!(seqs(&drain(&mut a2, 10)), [3], "the other still receives");

    drop((a2, c1, resyncing));
    let stats = hub.stats();
    assert_eq!(stats.subscribers, 0);
    assert_eq!(stats.subscriptions, 4, "opened since the hub was made");
    assert_eq!(stats.published, 3);
    assert!(hub.topics().iter().all(|t| t.subscribers == 0));

    let other = hub.clone();
    other.set("z", json!(1)).unwrap();
    assert_eq!(hub.stats().topics, 4, "clones share topics");
}

#[tokio::test]
async fn topics_with_slashes_work() {
    let hub = Hub::builder().first_version(0).build();
    for topic in ["a/b", "a/b/c", "/leading", "trailing/", "a//b"] {
        hub.set(topic, json!({"name": topic})).unwrap();
    }
    let mut subscription = hub.subscribe("a/b", None).unwrap();
    assert_eq!(subscription.topic(), "a/b");
    hub.merge("a/b/c", json!({"x": 1})).unwrap();
    hub.merge("a/b", json!({"x": 2})).unwrap();
    let Some(Delivery::Update(frame)) = subscription.next().await else {
        panic!("expected an update");
    };
    assert_eq!(frame.update().patch, Patch::Merge(json!({"x": 2}).into()));
    assert_eq!(data(&hub, "a//b"), json!({"name": "a//b"}));
    let names: Vec<_> = hub.topics().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["/leading", "a//b", "a/b", "a/b/c", "trailing/"]);
}

#[tokio::test]
async fn private_topics_deliver_to_one_client_each() {
    let hub = Hub::builder().first_version(0).build();
    for id in [1, 2] {
        hub.set(&format!("clients/{id}/notifications"), json!({"items": []}))
            .unwrap();
    }
    let mut one = hub.subscribe("clients/1/notifications", None).unwrap();
    let mut two = hub.subscribe("clients/2/notifications", None).unwrap();

    let notify = |id: u32, text: &str| {
        let add = ops(json!([{"op": "add", "path": "/items/-", "value": text}]));
        hub.publish(&format!("clients/{id}/notifications"), add)
            .unwrap()
    };
    notify(1, "for one");
    notify(2, "for two");
    notify(1, "for one again");

    let mut inbox_one = json!({"items": []});
    for delivery in drain(&mut one, 10) {
        let Delivery::Update(frame) = delivery else {
            panic!("unexpected resync")
        };
        frame.update().patch.apply(&mut inbox_one).unwrap();
    }
    assert_eq!(inbox_one, json!({"items": ["for one", "for one again"]}));

    let Some(Delivery::Update(frame)) = two.next().await else {
        panic!("expected an update");
    };
    let mut inbox_two = json!({"items": []});
    frame.update().patch.apply(&mut inbox_two).unwrap();
    assert_eq!(inbox_two, json!({"items": ["for two"]}));
    assert_quiet(&mut two);
}

// ---------------------------------------------------------------- concurrency

#[tokio::test]
async fn concurrent_publishers_get_consecutive_versions() {
    const THREADS: u64 = 4;
    const EACH: u64 = 500;
    const TOTAL: u64 = THREADS * EACH;
    let hub = Hub::builder()
        .first_version(0)
        .replay(4096)
        .subscriber_queue(4096)
        .build();
    hub.set("t", json!({})).unwrap();
    let mut early = hub.subscribe("t", Some(0)).unwrap();

    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let hub = hub.clone();
            thread::spawn(move || {
                let mut last = 0;
                for i in 1..=EACH {
                    let v = hub.merge("t", json!({ format!("t{thread}"): i })).unwrap();
                    assert!(v > last, "a thread's versions rise: {last} then {v}");
                    last = v;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    assert_eq!(version(&hub, "t"), TOTAL);
    assert_eq!(
        data(&hub, "t"),
        json!({"t0": EACH, "t1": EACH, "t2": EACH, "t3": EACH})
    );
    assert_eq!(hub.stats().published, TOTAL);
    let expected: Vec<u64> = (1..=TOTAL).collect();

    let received = drain(&mut early, TOTAL as usize);
    assert_eq!(seqs(&received), expected);
    let mut state = json!({});
    for delivery in &received {
        let Delivery::Update(frame) = delivery else {
            unreachable!()
        };
        frame.update().patch.apply(&mut state).unwrap();
    }
    assert_eq!(state, data(&hub, "t"));

    let mut late = hub.subscribe("t", Some(0)).unwrap();
    assert_eq!(
        seqs(&drain(&mut late, TOTAL as usize)),
        expected,
        "from the ring"
    );
    assert_eq!(hub.stats().resyncs, 0);
}

#[tokio::test]
async fn snapshot_text_is_made_once_per_version_and_shared() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 189.5})).unwrap();
    let (snapshot, mut updates) = hub.subscribe_with_snapshot_text("quotes").unwrap();
    let again = hub.snapshot_text("quotes").unwrap();
    assert_eq!((snapshot.version, again.version), (Some(0), Some(0)));
    let (first, second) = (snapshot.data, again.data);
    assert_eq!(first.as_ptr(), second.as_ptr(), "one text for every reader");
    assert_eq!(
        serde_json::from_slice::<Value>(&first).unwrap(),
        json!({"AAPL": 189.5})
    );

    // The next version has a text of its own, and the subscription taken with
    // the old one delivers the update between them.
    hub.merge("quotes", json!({"AAPL": 190.0})).unwrap();
    let Snapshot {
        version,
        data: text,
    } = hub.snapshot_text("quotes").unwrap();
    assert_eq!(version, Some(1));
    assert_eq!(
        serde_json::from_slice::<Value>(&text).unwrap(),
        json!({"AAPL": 190.0})
    );
    let Some(Delivery::Update(frame)) = updates.next().await else {
        panic!("the update after the snapshot");
    };
    assert_eq!(frame.seq(), 1);
    assert!(hub.snapshot_text("nope").is_none());
    assert!(matches!(
        hub.subscribe_with_snapshot_text("nope"),
        Err(Error::UnknownTopic { .. })
    ));
}

#[test]
fn snapshot_text_follows_a_change_that_publishes_nothing() {
    // `-0.0 == 0.0`, so replacing one with the other publishes nothing; the
    // value, and so its text, still changed.
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({"a": 0.0})).unwrap();
    let before = hub.snapshot_text("t").unwrap().data;
    assert_eq!(&before[..], br#"{"a":0.0}"#);
    let ops =
        serde_json::from_value(json!([{"op": "replace", "path": "/a", "value": -0.0}])).unwrap();
    assert_eq!(hub.publish("t", Patch::Json(ops)).unwrap(), 0);
    let Snapshot {
        version,
        data: after,
    } = hub.snapshot_text("t").unwrap();
    assert_eq!(version, Some(0));
    let snapshot = serde_json::to_vec(&hub.snapshot("t").unwrap().data).unwrap();
    assert_eq!(after, snapshot, "the text is the value's, not a stale one");
}

#[test]
fn a_new_hub_numbers_from_the_clock_by_default() {
    // So that a server that restarts, or a topic made again, never hands a
    // resuming client another history's updates under the numbers it asks
    // for: the unsafe choice must be asked for.
    let hub = Hub::new();
    let first = hub.set("t", json!(1)).unwrap();
    let year_2025_in_micros = 1_735_689_600_000_000;
    assert!(first > year_2025_in_micros, "{first}");
    assert_eq!(
        hub.set("t", json!(2)).unwrap(),
        first + 1,
        "then one by one"
    );
    hub.remove("t");
    std::thread::sleep(std::time::Duration::from_millis(1));
    let again = Hub::new().set("t", json!(1)).unwrap();
    assert!(again > first + 1, "{again} after {first}");
}
