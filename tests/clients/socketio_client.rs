//! The Socket.IO client (`live_resource::client::socketio`) against a real
//! Node.js `socket.io` 4.8 server: a legacy gateway that emits bare partials
//! beside a REST endpoint, and one that speaks this crate's envelopes. Each
//! reaches the gateway's state, and after a dropped connection:
//!
//! - envelope mode resumes with `since` and the server replays what was
//!   missed (or says `resync` when it cannot, and a new snapshot is taken);
//! - legacy mode cannot replay (partials carry no `seq`): a partial sent while
//!   the client was away is lost, and the client converges only because every
//!   reconnect fetches the REST snapshot again. The tests check both halves.
//!
//! They need `node` and `npm ci --prefix tests/node`: without them they are
//! skipped with a reason, and with `LIVE_RESOURCE_REQUIRE_PEERS=1` (as in
//! CI) they fail.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use live_resource::LiveResource;
use live_resource::client::http::HttpSnapshot;
use live_resource::client::socketio::SocketIoClient;
use live_resource::source::Source;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::peer::{self, Node, peers};
use crate::support::follower::{self, Seen};
use crate::support::{STEP, fast_backoff};

/// The gateway's resource, typed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Stats {
    online: u64,
    rooms: BTreeMap<String, u64>,
}

fn stats(value: &Value) -> Stats {
    serde_json::from_value(value.clone()).unwrap()
}

/// A resource followed in a task of its own, as an application would, so
/// that it reconnects whatever the test is waiting for.
struct Follower {
    states: watch::Receiver<Option<(Stats, Option<u64>)>>,
    task: JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn follow(source: impl Source + 'static) -> Follower {
    let mut resource = LiveResource::<Stats>::connect(source).backoff(fast_backoff());
    let (sender, states) = watch::channel(None);
    let task = tokio::spawn(async move {
        // Errors (a dropped connection) are items too; the stream goes on.
        while let Some(state) = resource.next().await {
            if let Ok(state) = state {
                sender.send_replace(Some((state, resource.version())));
            }
        }
    });
    Follower { states, task }
}

impl Follower {
    /// Waits until the state is `expected`; its version then.
    async fn until(&mut self, expected: &Stats) -> Option<u64> {
        let waiting = self
            .states
            .wait_for(|state| state.as_ref().is_some_and(|(state, _)| state == expected));
        let reached = match tokio::time::timeout(STEP, waiting).await {
            Ok(Ok(state)) => Some(state.as_ref().and_then(|(_, version)| *version)),
            _ => None,
        };
        reached.unwrap_or_else(|| {
            panic!(
                "the resource did not reach {expected:?} within {STEP:?}: it is at {:?}",
                *self.states.borrow()
            )
        })
    }
}

/// Applies `patch` at the gateway and tells its clients; the state after.
async fn merge(gateway: &mut Node, patch: Value) -> Stats {
    let answer = gateway
        .command(json!({"op": "merge", "patch": patch}))
        .await;
    stats(&answer["state"])
}

/// A run of changes: counts move, a room comes and one goes.
async fn changes(gateway: &mut Node, from: u64, to: u64) -> Stats {
    let mut state = None;
    for tick in from..=to {
        let patch = match tick % 3 {
            0 => json!({"online": tick}),
            1 => json!({"rooms": {format!("room{tick}"): tick}}),
            _ => json!({"rooms": {format!("room{}", tick - 1): null, "lobby": tick}}),
        };
        state = Some(merge(gateway, patch).await);
    }
    state.expect("at least one change")
}

async fn legacy_gateway(peers: &peer::Peers) -> (Node, String) {
    let mut gateway = peers.spawn("gateway.mjs", &["legacy"]);
    let port = gateway.port().await;
    (gateway, format!("http://127.0.0.1:{port}"))
}

fn legacy_source(url: &str, versioned: bool) -> impl Source + 'static {
    let mut rest = HttpSnapshot::rest(&format!("{url}/api/stats"));
    if versioned {
        rest = rest.version_header("x-version");
    }
    SocketIoClient::new(url).event("stats").with_snapshot(rest)
}

#[tokio::test]
async fn legacy_partials_on_a_rest_snapshot_reach_the_gateways_state() {
    let Some(peers) = peers() else { return };
    let (mut gateway, url) = legacy_gateway(&peers).await;
    let mut resource = follow(legacy_source(&url, false));
    let initial = Stats {
        online: 0,
        rooms: BTreeMap::from([("lobby".to_owned(), 0)]),
    };
    let version = resource.until(&initial).await;
    assert_eq!(version, None, "a REST body without a version");
    gateway
        .wait_for("the client", |line| line["event"] == "connection")
        .await;
    // Partials fold into the current state, deeply: `rooms` keeps its
    // other members, and `null` deletes one.
    let expected = changes(&mut gateway, 1, 12).await;
    resource.until(&expected).await;
}

/// A dropped connection, with a change the client is never told of.
async fn legacy_reconnect(versioned: bool) {
    let Some(peers) = peers() else { return };
    let (mut gateway, url) = legacy_gateway(&peers).await;
    let mut resource = follow(legacy_source(&url, versioned));
    gateway
        .wait_for("the first snapshot", |line| line["event"] == "rest")
        .await;
    let expected = changes(&mut gateway, 1, 4).await;
    resource.until(&expected).await;
    let rest = gateway.drain();
    assert!(
        rest.iter().all(|line| line["event"] != "rest"),
        "one snapshot so far"
    );

    let answer = gateway
        .command(json!({"op": "drop", "patch": {"online": 99, "rooms": {"vip": 1}}}))
        .await;
    let expected = stats(&answer["state"]);
    // Subscribe first, then the snapshot, as ever.
    gateway
        .wait_for("the client back", |line| line["event"] == "connection")
        .await;
    gateway
        .wait_for("the second snapshot", |line| line["event"] == "rest")
        .await;
    resource.until(&expected).await;

    let expected = changes(&mut gateway, 5, 8).await;
    resource.until(&expected).await;
}

#[tokio::test]
async fn legacy_mode_loses_what_was_sent_while_away_and_the_new_snapshot_brings_it_back() {
    legacy_reconnect(false).await;
}

#[tokio::test]
async fn legacy_mode_with_a_versioned_snapshot_takes_a_new_one_on_resume() {
    legacy_reconnect(true).await;
}

async fn envelope_gateway(peers: &peer::Peers, ring: &str) -> (Node, Follower) {
    let mut gateway = peers.spawn("gateway.mjs", &["envelope", ring]);
    let port = gateway.port().await;
    (gateway, follow(gateway_client(port).topic("stats")))
}

/// A client of the gateway on `port`, expecting its pings.
fn gateway_client(port: u16) -> SocketIoClient {
    SocketIoClient::new(format!("http://127.0.0.1:{port}"))
        .ping(Duration::from_secs(2), Duration::from_secs(2))
}

#[tokio::test]
async fn envelopes_from_a_node_server_resume_with_since_and_lose_nothing() {
    let Some(peers) = peers() else { return };
    let (mut gateway, mut resource) = envelope_gateway(&peers, "1024").await;
    let first = gateway
        .wait_for("a subscribe", |line| line["event"] == "subscribe")
        .await;
    assert_eq!(first["since"], Value::Null, "the snapshot first");
    let expected = changes(&mut gateway, 1, 6).await;
    assert_eq!(resource.until(&expected).await, Some(6));

    // Two changes no one is told of, then the connection drops.
    gateway
        .command(json!({"op": "merge-offline", "patch": {"online": 70}}))
        .await;
    let answer = gateway
        .command(json!({"op": "drop", "patch": {"rooms": {"late": 8}}}))
        .await;
    let resumed = gateway
        .wait_for("a resume", |line| line["event"] == "subscribe")
        .await;
    assert_eq!(resumed["since"], 6, "resumes after its version");
    let version = resource.until(&stats(&answer["state"])).await;
    assert_eq!(version, Some(8), "replayed, seq by seq");

    let expected = changes(&mut gateway, 9, 12).await;
    assert_eq!(resource.until(&expected).await, Some(12));
}

#[tokio::test]
async fn envelopes_resync_when_the_server_cannot_replay() {
    let Some(peers) = peers() else { return };
    let (mut gateway, mut resource) = envelope_gateway(&peers, "2").await;
    gateway
        .wait_for("a subscribe", |line| line["event"] == "subscribe")
        .await;
    let expected = changes(&mut gateway, 1, 3).await;
    resource.until(&expected).await;

    for online in 40..45 {
        gateway
            .command(json!({"op": "merge-offline", "patch": {"online": online}}))
            .await;
    }
    let answer = gateway.command(json!({"op": "drop"})).await;
    let resumed = gateway
        .wait_for("a resume", |line| {
            line["event"] == "subscribe" && line["since"] == 3
        })
        .await;
    assert_eq!(resumed["since"], 3);
    gateway
        .wait_for("a new subscription", |line| {
            line["event"] == "subscribe" && line["since"].is_null()
        })
        .await;
    let version = resource.until(&stats(&answer["state"])).await;
    assert_eq!(version, Some(8), "the new snapshot's");
}

/// Skips items (a reconnect reports errors) until the resource is at
/// `version` (at most 100); the state then, which must be one.
async fn state_at(items: &mut follower::Follower, version: u64) -> Stats {
    for _ in 0..100 {
        let Seen {
            item, version: at, ..
        } = items.seen().await;
        if at == Some(version) {
            return stats(&item.expect("a state"));
        }
    }
    panic!("no version {version} in 100 items");
}

/// Bad envelopes from a Socket.IO server: each is an error on the topic, the
/// state stays, and the next good update applies; an `error` event saying
/// the topic is unknown ends the subscription, which the resource asks for
/// again from its version.
#[tokio::test]
async fn bad_envelopes_are_errors_on_the_topic_and_the_state_stays() {
    let Some(peers) = peers() else { return };
    let mut gateway = peers.spawn("gateway.mjs", &["envelope"]);
    let port = gateway.port().await;
    let limits = live_resource::Limits::default()
        .max_depth(4)
        .max_message_bytes(1024);
    let source = gateway_client(port).limits(limits).topic("stats");
    let mut items =
        follower::Follower::spawn(LiveResource::connect(source).backoff(fast_backoff()));
    assert!(items.seen().await.item.is_ok(), "the snapshot");
    let expected = changes(&mut gateway, 1, 2).await;
    for _ in 1..=2 {
        assert!(items.seen().await.item.is_ok());
    }

    let mut deep = json!(1);
    for _ in 0..6 {
        deep = json!({ "nested": deep });
    }
    let bad = [
        json!({"type": "update", "topic": "stats", "seq": 3, "merge": deep}),
        json!({"type": "update", "topic": "stats", "seq": 3, "merge": {"big": "x".repeat(2000)}}),
        json!({"type": "update", "topic": "stats", "seq": "three", "merge": {}}),
    ];
    for data in bad {
        gateway
            .command(json!({"op": "raw", "event": "update", "data": data}))
            .await;
        let Seen {
            item,
            version,
            json,
        } = items.seen().await;
        let error = item.expect_err("a bad update");
        assert!(error.is_bad_message(), "{error:?}");
        assert_eq!(version, Some(2), "{error}");
        assert_eq!(json.map(|json| stats(&json)), Some(expected.clone()));
    }

    let expected = changes(&mut gateway, 3, 3).await;
    let Seen { item, version, .. } = items.seen().await;
    assert_eq!(item.map(|state| stats(&state)).ok(), Some(expected));
    assert_eq!(version, Some(3));

    let unknown =
        json!({"type": "error", "topic": "stats", "code": "unknown_topic", "message": "gone"});
    gateway
        .command(json!({"op": "raw", "event": "error", "data": unknown}))
        .await;
    let resumed = gateway
        .wait_for("a new subscribe", |line| {
            line["event"] == "subscribe" && line["since"] == 3
        })
        .await;
    assert_eq!(resumed["since"], 3, "resumes from its version");
    let expected = changes(&mut gateway, 4, 5).await;
    assert_eq!(state_at(&mut items, 5).await, expected);
}

/// A server that hangs (frozen: it sends nothing, answers nothing, closes
/// nothing) is taken for dead once its pings stop, and the resource comes
/// back when it does, resuming from its version.
#[tokio::test]
async fn a_server_that_hangs_is_taken_for_dead_and_resumed_from_when_it_wakes() {
    let Some(peers) = peers() else { return };
    let mut gateway = peers.spawn("gateway.mjs", &["envelope"]);
    let port = gateway.port().await;
    let source = gateway_client(port).topic("stats");
    let mut items =
        follower::Follower::spawn(LiveResource::connect(source).backoff(fast_backoff()));
    assert!(items.seen().await.item.is_ok(), "the snapshot");
    changes(&mut gateway, 1, 3).await;
    for _ in 1..=3 {
        assert!(items.seen().await.item.is_ok());
    }

    gateway.freeze();
    let Seen { item, version, .. } = items.seen().await;
    let error = item.expect_err("silence is an error");
    let timed_out = match &error {
        live_resource::Error::Updates(source) => source
            .downcast_ref::<live_resource::client::socketio::SocketIoError>()
            .is_some_and(|error| error.is_disconnect() && error.to_string().contains("no ping")),
        _ => false,
    };
    assert!(timed_out, "{error:?}");
    assert_eq!(version, Some(3), "the state stays");

    gateway.thaw();
    let resumed = gateway
        .wait_for("a resume", |line| {
            line["event"] == "subscribe" && !line["since"].is_null()
        })
        .await;
    assert_eq!(resumed["since"], 3);
    let expected = changes(&mut gateway, 4, 5).await;
    assert_eq!(state_at(&mut items, 5).await, expected);
}
