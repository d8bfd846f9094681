//! A topic removed and made again while clients follow it over the crate's
//! own server.
//!
//! The followers' subscriptions end with the topic; they come back asking to
//! resume from the version they had. With versions from the clock
//! (`hub::Builder::versions_from_clock`), the topic made again numbers its
//! states above every version the old one reached, so that resumption is
//! refused and a new snapshot taken: no follower applies the new history's
//! updates to the old history's state.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::{Backoff, Hub, LiveResource};
use serde_json::{Value, json};

use crate::support::served::serve;

const TOPIC: &str = "q";

/// At most this many items read from one resource.
const MAX_ITEMS: usize = 1_000;

/// Backoff long enough that the topic is made again, and moves on, before
/// the followers come back.
fn backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(150))
        .max(Duration::from_millis(300))
}

/// Reads `resource` until it shows `until`, recording each state with its
/// version.
async fn follow(resource: &mut LiveResource<Value>, until: u64, shown: &mut Vec<(u64, Value)>) {
    let reading = async {
        for _ in 0..MAX_ITEMS {
            let item = resource.next().await.expect("a resilient resource goes on");
            if let Ok(state) = item {
                let version = resource.version().expect("numbered");
                shown.push((version, state));
                if version == until {
                    return;
                }
            }
        }
        panic!("no version {until} in {MAX_ITEMS} items: {shown:?}");
    };
    tokio::time::timeout(Duration::from_secs(20), reading)
        .await
        .unwrap_or_else(|_| panic!("version {until} in time: {shown:?}"));
}

/// Publishes `count` updates on the topic; the hub's state after each.
fn publish(hub: &Hub, count: u64, history: &mut BTreeMap<u64, Value>) -> u64 {
    let mut version = 0;
    for n in 1..=count {
        version = hub.merge(TOPIC, json!({"n": n})).unwrap();
        history.insert(version, hub.snapshot(TOPIC).unwrap().data);
    }
    version
}

async fn removed_and_made_again(mut resource: LiveResource<Value>, hub: &Hub) {
    let mut history = BTreeMap::new();
    let mut shown = Vec::new();
    let first = hub.set(TOPIC, json!({"era": 1, "n": 0})).unwrap();
    history.insert(first, hub.snapshot(TOPIC).unwrap().data);
    follow(&mut resource, first, &mut shown).await;
    let old_last = publish(hub, 5, &mut history);
    follow(&mut resource, old_last, &mut shown).await;

    assert!(hub.remove(TOPIC));
    let again = hub.set(TOPIC, json!({"era": 2, "n": 0})).unwrap();
    assert!(again > old_last, "made again above {old_last}: {again}");
    history.insert(again, hub.snapshot(TOPIC).unwrap().data);
    let new_last = publish(hub, 8, &mut history);
    follow(&mut resource, new_last, &mut shown).await;

    let mut previous = 0;
    for (version, state) in &shown {
        assert!(*version >= previous, "version {version} after {previous}");
        previous = *version;
        assert_eq!(Some(state), history.get(version), "the state at {version}");
    }
    assert_eq!(
        resource.json().map(|json| json.to_value()),
        Some(json!({"era": 2, "n": 8}))
    );
}

#[tokio::test]
async fn a_websocket_follower_of_a_topic_made_again_takes_its_new_history_whole() {
    let hub = Hub::builder().versions_from_clock().build();
    let addr = serve(&hub).await;
    let client = WsClient::new(format!("ws://{addr}/live/ws"));
    let resource = LiveResource::connect(client.source(TOPIC)).backoff(backoff());
    removed_and_made_again(resource.every_state(), &hub).await;
}

#[tokio::test]
async fn an_sse_follower_of_a_topic_made_again_takes_its_new_history_whole() {
    let hub = Hub::builder().versions_from_clock().build();
    let addr = serve(&hub).await;
    let source = SseSource::new(&format!("http://{addr}"), TOPIC);
    let resource = LiveResource::connect(source).backoff(backoff());
    removed_and_made_again(resource.every_state(), &hub).await;
}
