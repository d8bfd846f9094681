//! Typed resources over the crate's own server: a state that stops decoding
//! into the consumer's type, over WebSocket and SSE and to the consumers of
//! a shared resource.
//!
//! DESIGN: a state that does not decode into `T` never corrupts anything;
//! the last state stays, the error is reported, and the resource waits for
//! the next patch (no reconnect, no new snapshot: the JSON is still the
//! server's).

use futures::{Stream, StreamExt};
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::collection::LiveCollection;
use live_resource::{Error, Hub, LiveResource};
use serde::Deserialize;
use serde_json::json;

use crate::support::served::serve;
use crate::support::{STEP, fast_backoff};

#[derive(Debug, Deserialize, PartialEq)]
struct Quote {
    price: f64,
}

async fn next<T>(stream: &mut (impl Stream<Item = Result<T, Error>> + Unpin)) -> Result<T, Error> {
    tokio::time::timeout(STEP, stream.next())
        .await
        .expect("an item in time")
        .expect("the stream goes on")
}

/// Whether `item` is the error of a state at `version` that does not decode.
fn undecodable<T: std::fmt::Debug>(item: &Result<T, Error>, version: u64) -> bool {
    matches!(item, Err(Error::Decode { version: Some(at), .. }) if *at == version)
}

/// Publishes, on a topic whose first state does not decode, a good state, a
/// patch that breaks it, and a patch that mends it; checks what `resource`
/// shows at each step.
async fn follow_through_bad_states(hub: &Hub, mut resource: LiveResource<Quote>) {
    let first = next(&mut resource).await;
    assert!(undecodable(&first, 0), "the first snapshot: {first:?}");
    assert_eq!(
        resource.json().map(|json| json.to_value()),
        Some(json!({"price": "n/a"})),
        "the state is the server's, even if it does not decode"
    );

    hub.merge("q", json!({"price": 1.5})).unwrap();
    assert_eq!(next(&mut resource).await.unwrap(), Quote { price: 1.5 });

    // A member the type needs, deleted.
    hub.merge("q", json!({"price": null})).unwrap();
    let broken = next(&mut resource).await;
    assert!(undecodable(&broken, 2), "{broken:?}");
    assert_eq!(resource.version(), Some(2));

    hub.merge("q", json!({"price": 2.5, "note": "back"}))
        .unwrap();
    assert_eq!(next(&mut resource).await.unwrap(), Quote { price: 2.5 });
    assert_eq!(resource.version(), Some(3));
    assert_eq!(
        hub.stats().subscriptions,
        1,
        "decode errors took no new subscription, nor a new snapshot over one"
    );
}

fn topic_that_does_not_decode() -> Hub {
    let hub = Hub::builder().first_version(0).build();
    assert_eq!(hub.set("q", json!({"price": "n/a"})).unwrap(), 0);
    hub
}

#[tokio::test]
async fn over_websocket_a_state_that_does_not_decode_is_reported_and_the_next_patch_mends_it() {
    let hub = topic_that_does_not_decode();
    let addr = serve(&hub).await;
    let client = WsClient::new(format!("ws://{addr}/live/ws"));
    let resource = LiveResource::connect(client.source("q"))
        .backoff(fast_backoff())
        .every_state();
    follow_through_bad_states(&hub, resource).await;
}

#[tokio::test]
async fn over_sse_a_state_that_does_not_decode_is_reported_and_the_next_patch_mends_it() {
    let hub = topic_that_does_not_decode();
    let addr = serve(&hub).await;
    let source = SseSource::new(&format!("http://{addr}"), "q");
    let resource = LiveResource::connect(source)
        .backoff(fast_backoff())
        .every_state();
    follow_through_bad_states(&hub, resource).await;
}

#[tokio::test]
async fn every_consumer_of_a_shared_resource_sees_the_error_and_then_the_mended_state() {
    let hub = topic_that_does_not_decode();
    let addr = serve(&hub).await;
    let client = WsClient::new(format!("ws://{addr}/live/ws"));
    let shared = LiveResource::<Quote>::connect(client.source("q"))
        .backoff(fast_backoff())
        .shared();
    let mut consumers = [shared.subscribe(), shared.subscribe()];
    for consumer in &mut consumers {
        let first = next(consumer).await;
        assert!(undecodable(&first, 0), "{first:?}");
    }

    hub.merge("q", json!({"price": 4.0})).unwrap();
    for consumer in &mut consumers {
        assert_eq!(next(consumer).await.unwrap(), Quote { price: 4.0 });
    }

    // A consumer that comes late gets the current state at once.
    let mut late = shared.subscribe();
    assert_eq!(next(&mut late).await.unwrap(), Quote { price: 4.0 });
    assert_eq!(hub.stats().subscriptions, 1, "one subscription for all");
}

/// Floats whose shortest text `serde_json` reads back a unit in the last
/// place off unless it rounds correctly (`1.4000000000000001` read as
/// `1.4`): one in eight of `n / 7`, `n * 0.1`, `sqrt(n)` for `n` below a
/// million.
const AWKWARD: [f64; 4] = [
    1.4000000000000001,
    3.7416573867739413,
    1.9000000000000001,
    0.010333333333333333,
];

/// The bits of each float of `state`'s `x` array.
fn bits(state: &serde_json::Value) -> Vec<u64> {
    state["x"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a float").to_bits())
        .collect()
}

/// A state's floats are the hub's to the last bit, whichever way the
/// state comes: a snapshot over WebSocket, SSE or in process, an update
/// after it, a table's rows.
#[tokio::test]
async fn floats_come_through_to_the_last_bit() {
    let hub = Hub::new();
    let x: Vec<f64> = AWKWARD.to_vec();
    hub.set("f", json!({ "x": x, "rows": {"a": {"v": AWKWARD[0]}} }))
        .unwrap();
    let expected: Vec<u64> = AWKWARD.iter().map(|x| x.to_bits()).collect();
    let addr = serve(&hub).await;
    let ws = WsClient::new(format!("ws://{addr}/live/ws"));
    let resources: [(&str, LiveResource<serde_json::Value>); 3] = [
        ("ws", LiveResource::connect(ws.source("f"))),
        (
            "sse",
            LiveResource::connect(SseSource::new(&format!("http://{addr}"), "f")),
        ),
        ("in process", LiveResource::connect(hub.source("f"))),
    ];
    let mut followed = Vec::new();
    for (how, mut resource) in resources {
        let state = next(&mut resource).await.unwrap();
        assert_eq!(bits(&state), expected, "{how}: the snapshot");
        followed.push((how, resource));
    }
    let reversed: Vec<f64> = AWKWARD.iter().rev().copied().collect();
    hub.merge(
        "f",
        json!({ "x": reversed, "rows": {"a": {"v": AWKWARD[1]}} }),
    )
    .unwrap();
    let expected: Vec<u64> = reversed.iter().map(|x| x.to_bits()).collect();
    for (how, resource) in &mut followed {
        let state = next(resource).await.unwrap();
        assert_eq!(bits(&state), expected, "{how}: an update");
        let v = state["rows"]["a"]["v"].as_f64().map(f64::to_bits);
        assert_eq!(v, Some(AWKWARD[1].to_bits()), "{how}: an update");
    }
    // A table's rows, decoded from its state.
    hub.collection("t")
        .upsert("a", json!({"v": AWKWARD[2]}))
        .await
        .unwrap();
    let tables = [
        LiveCollection::<String, serde_json::Value>::connect(SseSource::new(
            &format!("http://{addr}"),
            "t",
        )),
        LiveCollection::connect(hub.source("t")),
    ];
    for mut table in tables {
        next(&mut table).await.unwrap();
        let v = table.get(&"a".to_owned()).and_then(|row| row["v"].as_f64());
        assert_eq!(v.map(f64::to_bits), Some(AWKWARD[2].to_bits()), "a row");
    }
}

/// The member names of `resource`'s state, in its order.
fn names(resource: &LiveResource<serde_json::Value>) -> Vec<String> {
    let state = resource.json().expect("a state");
    let members = state.as_object().expect("an object");
    members.keys().map(str::to_owned).collect()
}

/// A consumer in the process holds the state with its members in the
/// hub's order, as a client over the network does (not sorted).
#[tokio::test]
async fn in_process_and_over_the_network_a_state_keeps_the_hubs_order() {
    let hub = Hub::new();
    hub.set("o", json!({"b": 1, "c": 2})).unwrap();
    hub.merge("o", json!({"a": 3})).unwrap();
    let addr = serve(&hub).await;
    let ws = WsClient::new(format!("ws://{addr}/live/ws"));
    let mut over_ws = LiveResource::<serde_json::Value>::connect(ws.source("o"));
    let mut in_process = LiveResource::<serde_json::Value>::connect(hub.source("o"));
    next(&mut over_ws).await.unwrap();
    next(&mut in_process).await.unwrap();
    let hubs = hub
        .read("o", |state, _| {
            let members = state.as_object().unwrap();
            members.keys().map(str::to_owned).collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(hubs, ["b", "c", "a"]);
    assert_eq!(names(&in_process), hubs);
    assert_eq!(names(&over_ws), hubs);
}

/// A hub that allows states nested deeper than JSON text is read (128
/// levels) still hands one to a consumer in the process.
#[tokio::test]
async fn a_state_nested_past_what_text_is_read_to_reaches_a_consumer_in_the_process() {
    let hub = Hub::builder()
        .limits(live_resource::Limits::default().max_depth(200))
        .build();
    let deep = (0..150).fold(json!(1), |inner, _| json!({ "a": inner }));
    hub.set("deep", &deep).unwrap();
    let mut resource = LiveResource::<serde_json::Value>::connect(hub.source("deep"))
        .limits(live_resource::Limits::default().max_depth(200));
    assert_eq!(next(&mut resource).await.unwrap(), deep);
}
