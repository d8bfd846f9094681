//! The Socket.IO server (`live_resource::socketio`): a Node.js
//! `socket.io-client` 4.8 front end and this crate's Rust client follow the
//! same topic and reach the same state; a cut connection resumes with
//! `since` and loses nothing; the requests, refusals, heartbeats and the
//! familiar server calls.
//!
//! The Node tests need `node` and `npm ci --prefix tests/node`: without
//! them they are skipped with a reason, and with
//! `LIVE_RESOURCE_REQUIRE_PEERS=1` (as in CI) they fail.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use live_resource::client::socketio::{SocketIoClient, SocketIoError};
use live_resource::server::Config;
use live_resource::socketio::Handle;
use live_resource::socketio::socketioxide::socket::Sid;
use live_resource::source::{Event, Permanent, UpdateSource};
use live_resource::{Hub, LiveResource, Status};
use serde_json::{Value, json};

use crate::peer::{Node, Peers, Proxy, peers};
use crate::support::served::serve_app;
use crate::support::{fast_backoff, within};

/// The stream's first error, past the Engine.IO pings it passes on as
/// heartbeats (one may come first, depending on timing).
async fn first_error(stream: &mut live_resource::source::EventStream) -> live_resource::BoxError {
    loop {
        match within(stream.next()).await.expect("an item") {
            Ok(live_resource::source::Event::Heartbeat(_)) => {}
            Ok(other) => panic!("expected an error, got {other:?}"),
            Err(error) => return error,
        }
    }
}

/// The axum router and the Socket.IO layer of `hub`, on one loopback port.
async fn serve(hub: &Hub, config: Config) -> (SocketAddr, Handle) {
    let (layer, io) = live_resource::socketio::layer_with(hub.clone(), config.clone());
    let app = live_resource::server::router_with(hub.clone(), config).layer(layer);
    (serve_app(app).await, io)
}

/// Reads `resource` until its version is `version`, and returns its state.
async fn until_version(resource: &mut LiveResource<Value>, version: u64) -> Value {
    within(async {
        loop {
            let state = resource.next().await.expect("the resource goes on");
            if let Ok(state) = state {
                if resource.version() == Some(version) {
                    return state;
                }
            }
        }
    })
    .await
}

fn board() -> Value {
    json!({
        "AAPL": {"price": 189.5, "volume": 1200},
        "MSFT": {"price": 410.25, "volume": 800},
        "halted": [],
    })
}

/// A change of the board: prices move, a symbol comes and goes, a nested
/// member is deleted.
fn change(hub: &Hub, tick: u64) {
    let price = 189.5 + tick as f64 / 4.0;
    let patch = match tick % 4 {
        0 => json!({"AAPL": {"price": price, "volume": 1200 + tick}}),
        1 => json!({"NVDA": {"price": 120.0 + tick as f64}}),
        2 => json!({"NVDA": null, "MSFT": {"volume": null}}),
        _ => json!({"MSFT": {"volume": 800 + tick}, "halted": ["NVDA"]}),
    };
    hub.merge("board", patch).unwrap();
}

/// A hub holding the board, its server with the default config, and a Node
/// front end that follows the board and has its snapshot.
async fn board_followed_by_node(peers: &Peers) -> (Hub, String, Handle, Node) {
    let hub = Hub::builder().first_version(0).build();
    hub.set("board", board()).unwrap();
    let (addr, io) = serve(&hub, Config::default()).await;
    let url = format!("http://{addr}");
    let mut node = peers.spawn("subscriber.mjs", &[&url, "board"]);
    node.wait_for("its snapshot", |line| line["event"] == "snapshot")
        .await;
    (hub, url, io, node)
}

#[tokio::test]
async fn a_node_front_end_and_a_rust_client_reach_the_same_state() {
    let Some(peers) = peers() else { return };
    let (hub, url, io, mut node) = board_followed_by_node(&peers).await;
    let mut rust =
        LiveResource::<Value>::connect(SocketIoClient::new(&url).topic("board")).every_state();
    assert_eq!(within(rust.next()).await.unwrap().unwrap(), board());
    assert_eq!(io.clients(), 2);

    for tick in 1..=40 {
        change(&hub, tick);
    }
    let expected = hub.snapshot("board").unwrap();
    assert_eq!(expected.version, Some(40));
    let seen = node
        .wait_for("the last state", |line| line["version"] == 40)
        .await;
    assert_eq!(seen["state"], expected.data, "the Node front end");
    assert_eq!(
        until_version(&mut rust, 40).await,
        expected.data,
        "the Rust client"
    );
}

#[tokio::test]
async fn a_cut_connection_resumes_with_since_and_loses_nothing() {
    let Some(peers) = peers() else { return };
    let hub = Hub::builder().first_version(0).build();
    hub.set("board", board()).unwrap();
    let (addr, _io) = serve(&hub, Config::default()).await;
    let proxy = Proxy::start(addr).await;
    let url = format!("http://{}", proxy.addr);

    let mut node = peers.spawn("subscriber.mjs", &[&url, "board"]);
    let mut rust = LiveResource::<Value>::connect(SocketIoClient::new(&url).topic("board"))
        .backoff(fast_backoff());
    node.wait_for("its snapshot", |line| line["event"] == "snapshot")
        .await;
    for tick in 1..=5 {
        change(&hub, tick);
    }
    node.wait_for("version 5", |line| line["version"] == 5)
        .await;
    until_version(&mut rust, 5).await;

    proxy.cut();
    node.wait_for("the disconnect", |line| line["event"] == "disconnect")
        .await;
    // Published while both are away or coming back.
    for tick in 6..=12 {
        change(&hub, tick);
    }
    let resumed = node
        .wait_for("a resume", |line| line["event"] == "subscribe")
        .await;
    assert_eq!(
        resumed["since"], 5,
        "the front end resumes after its version"
    );
    let expected = hub.snapshot("board").unwrap().data;
    let seen = node
        .wait_for("the last state", |line| line["version"] == 12)
        .await;
    assert_eq!(seen["state"], expected);
    let snapshots = node
        .drain()
        .iter()
        .filter(|line| line["event"] == "snapshot" || line["event"] == "resync")
        .count();
    assert_eq!(snapshots, 0, "replayed, not re-snapshotted");
    assert_eq!(until_version(&mut rust, 12).await, expected);
}

#[tokio::test]
async fn unsubscribe_stops_the_updates_and_bad_requests_are_refused() {
    let Some(peers) = peers() else { return };
    let (hub, _url, _io, mut node) = board_followed_by_node(&peers).await;

    let garbage = json!({"op": "emit", "event": "subscribe", "data": "board"});
    node.command(garbage).await;
    let refusal = node
        .wait_for("a refusal", |line| line["event"] == "error")
        .await;
    assert_eq!(refusal["code"], "bad_message");
    assert!(
        refusal.get("topic").is_none(),
        "about the request: {refusal}"
    );

    change(&hub, 1);
    node.wait_for("version 1", |line| line["version"] == 1)
        .await;
    node.command(json!({"op": "unsubscribe"})).await;
    // Requests are handled in order: once the refusal of the next one comes,
    // the unsubscribe is done.
    let unknown = json!({"op": "emit", "event": "subscribe", "data": {"topic": "nope"}});
    node.command(unknown).await;
    let refusal = node
        .wait_for("a refusal", |line| line["event"] == "error")
        .await;
    assert_eq!(refusal["code"], "unknown_topic");
    assert_eq!(refusal["topic"], "nope");

    change(&hub, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = node.drain();
    assert!(
        after.iter().all(|line| line["version"] != 2),
        "no update after unsubscribe: {after:?}"
    );
}

/// Socket.IO's own `socket.off` took every handler of an event away, not the
/// one asked for. Here, unsubscribing one topic leaves the socket's other
/// topics flowing, and the topic itself flowing to other sockets.
#[tokio::test]
async fn unsubscribing_one_topic_leaves_the_sockets_other_topics_and_other_sockets_flowing() {
    let Some(peers) = peers() else { return };
    let hub = Hub::builder().first_version(0).build();
    hub.set("board", board()).unwrap();
    hub.set("board2", json!({"n": 0})).unwrap();
    let (addr, _io) = serve(&hub, Config::default()).await;
    let url = format!("http://{addr}");
    let mut both = peers.spawn("subscriber.mjs", &[&url, "board"]);
    let mut other = peers.spawn("subscriber.mjs", &[&url, "board"]);
    both.wait_for("its snapshot", |line| line["event"] == "snapshot")
        .await;
    other
        .wait_for("its snapshot", |line| line["event"] == "snapshot")
        .await;
    both.command(json!({"op": "emit", "event": "subscribe", "data": {"topic": "board2"}}))
        .await;
    both.wait_for("board2's snapshot", |line| {
        line["event"] == "other" && line["kind"] == "snapshot" && line["topic"] == "board2"
    })
    .await;

    both.command(json!({"op": "unsubscribe"})).await;
    // Requests are handled in order: once the refusal of the next one comes,
    // the unsubscribe is done.
    let unknown = json!({"op": "emit", "event": "subscribe", "data": {"topic": "nope"}});
    both.command(unknown).await;
    both.wait_for("a refusal", |line| line["event"] == "error")
        .await;
    assert_eq!(hub.subscribers("board"), 1, "the other socket's");
    assert_eq!(hub.subscribers("board2"), 1);

    change(&hub, 1);
    hub.merge("board2", json!({"n": 1})).unwrap();
    both.wait_for("board2's update", |line| {
        line["event"] == "other" && line["topic"] == "board2" && line["seq"] == 1
    })
    .await;
    other
        .wait_for("board at version 1", |line| line["version"] == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = both.drain();
    assert!(
        after.iter().all(|line| line["version"] != 1),
        "no board update after its unsubscribe: {after:?}"
    );
}

#[tokio::test]
async fn the_authorization_hook_and_unknown_topics_refuse_rust_clients() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("public", json!({"a": 1})).unwrap();
    hub.set("admin/secrets", json!({"b": 2})).unwrap();
    let config = Config::default()
        .authorize(|_: &axum::http::request::Parts, topic: &str| !topic.starts_with("admin/"));
    let (addr, _io) = serve(&hub, config).await;
    let client = SocketIoClient::new(format!("http://{addr}"));

    let mut denied =
        LiveResource::<Value>::connect(client.topic("admin/secrets")).backoff(fast_backoff());
    let status = denied.status();
    let error = within(denied.next()).await.unwrap().unwrap_err();
    let cause = std::error::Error::source(&error).unwrap();
    assert!(Permanent::is_permanent(cause), "{error}");
    let sio = find::<SocketIoError>(cause).expect("a socket.io error");
    assert_eq!(sio.server_code(), Some("forbidden"));
    assert!(
        within(denied.next()).await.is_none(),
        "a permanent error ends it"
    );
    assert_eq!(*status.borrow(), Status::Failed);

    let mut unknown = client.topic("nope").updates(None).await.unwrap();
    let error = first_error(&mut unknown).await;
    let sio = find::<SocketIoError>(&*error).expect("a socket.io error");
    assert_eq!(sio.server_code(), Some("unknown_topic"));
    assert!(!Permanent::is_permanent(&*error), "the topic may come");
    assert!(within(unknown.next()).await.is_none());

    let mut public = LiveResource::<Value>::connect(client.topic("public"));
    assert_eq!(
        within(public.next()).await.unwrap().unwrap(),
        json!({"a": 1})
    );
}

#[tokio::test]
async fn a_socketio_client_from_a_page_of_another_site_is_refused() {
    // CORS does not guard Socket.IO's WebSocket transport: a page of any
    // site could follow topics with its visitor's cookies.
    let hub = Hub::builder().first_version(0).build();
    hub.set("private", json!({"balance": 7})).unwrap();
    let (addr, _io) = serve(&hub, Config::default()).await;
    let url = format!("http://{addr}");
    let foreign = SocketIoClient::new(&url)
        .header("origin", "http://evil.example")
        .header("cookie", "session=alice");
    let mut refused = LiveResource::<Value>::connect(foreign.topic("private"));
    let error = within(refused.next()).await.unwrap().unwrap_err();
    let cause = std::error::Error::source(&error).unwrap();
    assert!(Permanent::is_permanent(cause), "{error}");
    assert!(
        error.to_string().contains("origin") || format!("{cause}").contains("origin"),
        "{error}: {cause}"
    );
    assert!(within(refused.next()).await.is_none(), "no state, ever");

    let own = SocketIoClient::new(&url).header("origin", &url);
    let mut allowed = LiveResource::<Value>::connect(own.topic("private"));
    assert_eq!(
        within(allowed.next()).await.unwrap().unwrap(),
        json!({"balance": 7})
    );

    let config = Config::default().allowed_origins(["http://app.example"]);
    let (addr, _io) = serve(&hub, config).await;
    let listed =
        SocketIoClient::new(format!("http://{addr}")).header("origin", "http://app.example");
    let mut allowed = LiveResource::<Value>::connect(listed.topic("private"));
    assert_eq!(
        within(allowed.next()).await.unwrap().unwrap(),
        json!({"balance": 7})
    );
}

#[tokio::test]
async fn the_socketio_auth_payload_reaches_the_hook() {
    // Browsers cannot set headers on a WebSocket: a front end's token comes
    // in the `auth` payload of its connect packet.
    let hub = Hub::builder().first_version(0).build();
    hub.set("private/alice", json!({"balance": 7})).unwrap();
    let config = Config::default().allow_if(|request, topic| {
        let auth = request.extensions.get::<live_resource::socketio::Auth>();
        let token = auth.and_then(|live_resource::socketio::Auth(auth)| auth["token"].as_str());
        !topic.starts_with("private/") || token == Some("t0k3n-alice")
    });
    let (addr, _io) = serve(&hub, config).await;
    let url = format!("http://{addr}");

    let alice = SocketIoClient::new(&url).auth(json!({"token": "t0k3n-alice"}));
    let mut allowed = LiveResource::<Value>::connect(alice.topic("private/alice"));
    assert_eq!(
        within(allowed.next()).await.unwrap().unwrap(),
        json!({"balance": 7})
    );

    for client in [
        SocketIoClient::new(&url).auth(json!({"token": "forged"})),
        SocketIoClient::new(&url),
    ] {
        let mut denied = LiveResource::<Value>::connect(client.topic("private/alice"));
        let error = within(denied.next()).await.unwrap().unwrap_err();
        let cause = std::error::Error::source(&error).unwrap();
        let sio = find::<SocketIoError>(cause).expect("a socket.io error");
        assert_eq!(sio.server_code(), Some("forbidden"));
    }
}

#[tokio::test]
async fn access_revoked_ends_a_socketio_subscription() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("private/alice", json!({"balance": 7})).unwrap();
    let allowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let rule = {
        let allowed = std::sync::Arc::clone(&allowed);
        move |_: &axum::http::request::Parts, _: &str| {
            allowed.load(std::sync::atomic::Ordering::SeqCst)
        }
    };
    let config = Config::default()
        .allow_if(rule)
        .recheck_access(Duration::from_millis(100));
    let (addr, _io) = serve(&hub, config).await;
    let client = SocketIoClient::new(format!("http://{addr}"));
    let mut resource = LiveResource::<Value>::connect(client.topic("private/alice"));
    assert_eq!(
        within(resource.next()).await.unwrap().unwrap(),
        json!({"balance": 7})
    );
    allowed.store(false, std::sync::atomic::Ordering::SeqCst);
    let error = within(resource.next()).await.unwrap().unwrap_err();
    let cause = std::error::Error::source(&error).unwrap();
    let sio = find::<SocketIoError>(cause).expect("a socket.io error");
    assert_eq!(sio.server_code(), Some("forbidden"));
    assert!(within(resource.next()).await.is_none(), "a permanent end");
}

/// `error` or one of its causes, as an `E`.
fn find<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        cause = match error.downcast_ref::<Permanent>() {
            Some(permanent) => Some(permanent.get_ref()),
            None => error.source(),
        };
    }
    None
}

#[tokio::test]
async fn heartbeats_carry_the_last_seq_sent() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 1})).unwrap();
    let config = Config::default().heartbeat(Duration::from_millis(100));
    let (addr, _io) = serve(&hub, config).await;
    let mut events = SocketIoClient::new(format!("http://{addr}"))
        .topic("quotes")
        .updates(None)
        .await
        .unwrap();
    let first = within(async {
        loop {
            match events.next().await.unwrap().unwrap() {
                // Engine.IO pings are heartbeats too, without a version.
                Event::Heartbeat(None) => {}
                other => return other,
            }
        }
    })
    .await;
    assert!(
        matches!(first, Event::Snapshot(ref s) if s.version == Some(0)),
        "{first:?}"
    );
    hub.merge("quotes", json!({"AAPL": 2})).unwrap();
    let heartbeat = within(async {
        loop {
            match events.next().await.unwrap().unwrap() {
                Event::Heartbeat(Some(seq)) => return seq,
                Event::Update(update) => assert_eq!(update.seq, Some(1)),
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(heartbeat, 1);
}

#[tokio::test]
async fn the_familiar_server_calls_reach_node_clients() {
    let Some(peers) = peers() else { return };
    let hub = Hub::builder().first_version(0).build();
    hub.set("board", board()).unwrap();
    let (addr, io) = serve(&hub, Config::default()).await;
    let url = format!("http://{addr}");
    let mut first = peers.spawn("subscriber.mjs", &[&url, "board"]);
    let mut second = peers.spawn("subscriber.mjs", &[&url, "board"]);
    let connected = first
        .wait_for("its connect", |line| line["event"] == "connect")
        .await;
    second
        .wait_for("its connect", |line| line["event"] == "connect")
        .await;
    within(async {
        while io.clients() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    io.emit("announcement", &json!({"text": "markets open"}))
        .await
        .unwrap();
    for node in [&mut first, &mut second] {
        let line = node
            .wait_for("the announcement", |line| line["name"] == "announcement")
            .await;
        assert_eq!(line["args"], json!([{"text": "markets open"}]));
    }

    let id: Sid = connected["id"].as_str().unwrap().parse().unwrap();
    io.emit_to(id, "notification", &json!({"priority": "high"}))
        .unwrap();
    let line = first
        .wait_for("the notification", |line| line["name"] == "notification")
        .await;
    assert_eq!(line["args"], json!([{"priority": "high"}]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        second
            .drain()
            .iter()
            .all(|line| line["name"] != "notification"),
        "only the one client"
    );

    drop(first);
    within(async {
        while io.clients() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A request past the client limits: too deep is refused and the socket goes
/// on; too large for a Socket.IO packet costs its connection, and the front
/// end comes back and resumes, losing nothing.
#[tokio::test]
async fn requests_past_the_limits_are_refused_and_an_oversized_one_costs_only_its_connection() {
    let Some(peers) = peers() else { return };
    let (hub, _url, _io, mut node) = board_followed_by_node(&peers).await;

    let mut deep = json!({"topic": "board"});
    for _ in 0..20 {
        deep = json!({"topic": "board", "nested": deep});
    }
    node.command(json!({"op": "emit", "event": "subscribe", "data": deep}))
        .await;
    let refusal = node
        .wait_for("a refusal", |line| line["event"] == "error")
        .await;
    assert_eq!(refusal["code"], "too_deep", "{refusal}");
    change(&hub, 1);
    node.wait_for("version 1", |line| line["version"] == 1)
        .await;

    let large = json!({"topic": "x".repeat(100_000)});
    node.command(json!({"op": "emit", "event": "subscribe", "data": large}))
        .await;
    node.wait_for("its connection dropped", |line| {
        line["event"] == "disconnect"
    })
    .await;
    change(&hub, 2);
    node.wait_for("version 2, after it came back", |line| line["version"] == 2)
        .await;

    // Binary attachments are bounded too (socketioxide alone would hold up
    // to 10 MB of them for one request): past the client message limit,
    // the connection goes, and nothing is lost.
    node.command(json!({"op": "binary", "event": "subscribe", "count": 150, "bytes": 60_000}))
        .await;
    node.wait_for("its connection dropped again", |line| {
        line["event"] == "disconnect"
    })
    .await;
    change(&hub, 3);
    node.wait_for("version 3, after it came back", |line| line["version"] == 3)
        .await;
}
