//! `Limits::max_state_bytes`: a state never grows past its bound, on the hub
//! or in a resource, whatever the changes; and the bound costs what a change
//! costs, so a state that stays small is never refused however long it lives.

use futures::StreamExt;
use live_resource::{Error, Hub, Limits, LiveResource, Patch, Snapshot, Update};
use serde_json::{Value, json};

const BOUND: usize = 20_000;

fn limits() -> Limits {
    Limits::default().max_state_bytes(BOUND)
}

/// A value of about `bytes` bytes as JSON.
fn blob(bytes: usize) -> Value {
    json!({"a": "x".repeat(bytes)})
}

fn copy(to: usize) -> Patch {
    let ops = json!([{"op": "copy", "from": "/a", "path": format!("/b{to}")}]);
    Patch::Json(serde_json::from_value(ops).unwrap())
}

fn size(value: &Value) -> usize {
    serde_json::to_vec(value).unwrap().len()
}

#[test]
fn a_hub_refuses_a_value_past_the_bound_and_keeps_the_topic() {
    let hub = Hub::builder().first_version(0).limits(limits()).build();
    assert!(matches!(
        hub.set("big", blob(BOUND)),
        Err(Error::StateTooLarge { max: BOUND })
    ));
    assert_eq!(hub.version("big"), None, "no topic made");
    hub.set("t", blob(100)).unwrap();
    assert!(matches!(
        hub.set("t", blob(BOUND)),
        Err(Error::StateTooLarge { .. })
    ));
    assert!(matches!(
        hub.update("t", |value| value["more"] = blob(BOUND)),
        Err(Error::StateTooLarge { .. })
    ));
    assert_eq!(hub.snapshot("t").unwrap(), Snapshot::new(0, blob(100)));
}

#[test]
fn small_copies_cannot_grow_a_hubs_topic_past_the_bound() {
    // Each update is 58 bytes of JSON Patch; each copies 3 KB.
    let hub = Hub::builder().first_version(0).limits(limits()).build();
    hub.set("t", blob(3_000)).unwrap();
    let mut refused = 0;
    for to in 0..40 {
        match hub.publish("t", copy(to)) {
            Ok(_) => {}
            Err(Error::StateTooLarge { max: BOUND }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
        let state = hub.snapshot("t").unwrap().data;
        assert!(size(&state) <= BOUND, "{} bytes", size(&state));
    }
    assert!(refused > 30, "refused {refused} of 40");
}

#[tokio::test]
async fn small_copies_cannot_grow_a_resources_state_past_the_bound() {
    let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(0, blob(3_000))) };
    let updates = futures::stream::iter((0..40u64).map(|to| {
        Ok::<_, std::io::Error>(Update {
            seq: Some(to + 1),
            patch: copy(to as usize),
        })
    }));
    let mut resource = LiveResource::<Value>::new(snapshot, updates)
        .limits(limits())
        .every_state();
    let mut refused = false;
    while let Some(item) = resource.next().await {
        match item {
            Ok(state) => assert!(size(&state) <= BOUND),
            Err(Error::StateTooLarge { max: BOUND }) => {
                refused = true;
                // The last good state stays, within the bound.
                let kept = resource.json().unwrap().to_value();
                assert!(size(&kept) <= BOUND);
                break;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused, "the copies were let through");
}

#[tokio::test]
async fn a_state_that_stays_small_is_never_refused_however_long_it_lives() {
    // Every update counts as what it could add; the state is measured again
    // when those counts near the bound, and found small.
    let hub = Hub::builder()
        .first_version(0)
        .limits(limits().max_message_bytes(4_096))
        .build();
    hub.set("t", json!({"price": 0, "pad": "y".repeat(BOUND / 2)}))
        .unwrap();
    let mut resource = LiveResource::<Value>::connect(hub.source("t")).limits(limits());
    assert!(resource.next().await.unwrap().is_ok());
    for tick in 1..=3_000u64 {
        hub.merge("t", json!({"price": tick, "note": "z".repeat(64)}))
            .unwrap();
    }
    let state = resource.next().await.unwrap().unwrap();
    assert_eq!(state["price"], 3_000);
}
