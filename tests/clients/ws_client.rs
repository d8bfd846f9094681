//! The WebSocket client over real loopback connections: against a fake
//! server the tests script frame by frame (routing, bad messages, refusals,
//! dropped connections, slow consumers, one connection for many topics), and
//! against the crate's own server (convergence, a restart that loses nothing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use live_resource::client::ws::{WsClient, WsError};
use live_resource::source::{Event, EventStream, Permanent, SnapshotSource, UpdateSource};
use live_resource::{Document, Error, Hub, Limits, LiveResource, Patch, Snapshot, Status, Update};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::support::follower::{Follower, Seen};
use crate::support::{chain, fast_backoff, within};

/// A WebSocket server the test drives by hand: each accepted connection is
/// handed to the test as a [`FakeConnection`].
struct FakeServer {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    connections: mpsc::UnboundedReceiver<FakeConnection>,
    task: JoinHandle<()>,
}

impl FakeServer {
    async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    fn on(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let (sender, connections) = mpsc::unbounded_channel();
        let counted = Arc::clone(&accepts);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(socket) = tokio_tungstenite::accept_async(tcp).await else {
                    continue;
                };
                let (to_client, outgoing) = mpsc::unbounded_channel();
                let (incoming, from_client) = mpsc::unbounded_channel();
                tokio::spawn(pump(socket, outgoing, incoming));
                if sender
                    .send(FakeConnection {
                        from_client,
                        to_client,
                    })
                    .is_err()
                {
                    return;
                }
            }
        });
        Self {
            addr,
            accepts,
            connections,
            task,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/live/ws", self.addr)
    }

    fn client(&self) -> WsClient {
        WsClient::new(self.url())
    }

    async fn accept(&mut self) -> FakeConnection {
        within(self.connections.recv())
            .await
            .expect("the server is running")
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// No connection beyond those already accepted is waiting.
    fn assert_no_more_connections(&mut self) {
        assert!(
            self.connections.try_recv().is_err(),
            "one more connection than expected"
        );
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Moves frames between one socket and the test until either side stops;
/// then drops the socket with no closing handshake, as a crash would.
async fn pump(
    mut socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut outgoing: mpsc::UnboundedReceiver<Message>,
    incoming: mpsc::UnboundedSender<Value>,
) {
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let value = serde_json::from_str(&text).expect("the client sends JSON");
                    if incoming.send(value).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            message = outgoing.recv() => match message {
                Some(message) => {
                    if socket.send(message).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

/// One connection of the fake server. Dropping it drops the connection.
struct FakeConnection {
    from_client: mpsc::UnboundedReceiver<Value>,
    to_client: mpsc::UnboundedSender<Message>,
}

impl FakeConnection {
    /// The next message the client sent.
    async fn received(&mut self) -> Value {
        within(self.from_client.recv())
            .await
            .expect("the connection is open")
    }

    /// The next `n` messages the client sent, sorted by their text (for
    /// requests made concurrently).
    async fn received_any_order(&mut self, n: usize) -> Vec<Value> {
        let mut messages = Vec::with_capacity(n);
        for _ in 0..n {
            messages.push(self.received().await);
        }
        messages.sort_by_key(Value::to_string);
        messages
    }

    fn send(&self, message: Value) {
        self.send_text(&message.to_string());
    }

    fn send_text(&self, text: &str) {
        self.to_client
            .send(Message::text(text.to_owned()))
            .expect("the connection is open");
    }

    fn snapshot(&self, topic: &str, version: u64, data: Value) {
        self.send(json!({"type": "snapshot", "topic": topic, "version": version, "data": data}));
    }

    fn update(&self, topic: &str, seq: u64, merge: Value) {
        self.send(json!({"type": "update", "topic": topic, "seq": seq, "merge": merge}));
    }
}

fn subscribe(topic: &str, since: Option<u64>) -> Value {
    match since {
        Some(since) => json!({"type": "subscribe", "topic": topic, "since": since}),
        None => json!({"type": "subscribe", "topic": topic}),
    }
}

fn unsubscribe(topic: &str) -> Value {
    json!({"type": "unsubscribe", "topic": topic})
}

async fn next_event(stream: &mut EventStream) -> Event {
    match within(stream.next()).await {
        Some(Ok(event)) => event,
        Some(Err(error)) => panic!("expected an event, got the error {error}"),
        None => panic!("expected an event, the stream ended"),
    }
}

async fn next_error(stream: &mut EventStream) -> live_resource::BoxError {
    match within(stream.next()).await {
        Some(Err(error)) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

async fn next_state(resource: &mut LiveResource<Value>) -> Value {
    match within(resource.next()).await {
        Some(Ok(state)) => state,
        other => panic!("expected a state, got {other:?}"),
    }
}

/// The [`WsError`] behind an error of a resource's update stream.
fn ws_error(error: &Error) -> &WsError {
    let Error::Updates(source) = error else {
        panic!("expected an update stream error, got {error}");
    };
    source
        .downcast_ref::<WsError>()
        .unwrap_or_else(|| panic!("expected a WsError, got {source}"))
}

#[tokio::test]
async fn two_topics_share_one_connection_and_each_gets_its_own_messages() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut a = client.source("a").updates(None).await.unwrap();
    let mut b = client.source("b").updates(Some(5)).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("a", None));
    assert_eq!(connection.received().await, subscribe("b", Some(5)));

    connection.update("b", 6, json!({"b": 6}));
    connection.snapshot("a", 1, json!({"a": 1}));
    connection.update("a", 2, json!({"a": 2}));
    connection.send(json!({"type": "heartbeat", "topic": "a", "seq": 2}));
    connection.send(json!({"type": "resync", "topic": "b"}));

    assert_eq!(
        next_event(&mut a).await,
        Event::Snapshot(Snapshot::new(1, json!({"a": 1})))
    );
    assert_eq!(
        next_event(&mut a).await,
        Event::Update(Update::merge(2, json!({"a": 2})))
    );
    assert_eq!(next_event(&mut a).await, Event::Heartbeat(Some(2)));
    assert_eq!(
        next_event(&mut b).await,
        Event::Update(Update::merge(6, json!({"b": 6})))
    );
    assert_eq!(next_event(&mut b).await, Event::Resync);

    // Dropping one topic's stream unsubscribes that topic only.
    drop(a);
    assert_eq!(connection.received().await, unsubscribe("a"));
    connection.update("a", 3, json!({"a": 3}));
    connection.update("b", 7, json!({"b": 7}));
    assert_eq!(
        next_event(&mut b).await,
        Event::Update(Update::merge(7, json!({"b": 7})))
    );
    assert_eq!(server.accepts(), 1);
    server.assert_no_more_connections();
}

#[tokio::test]
async fn concurrent_subscribers_open_one_connection() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let topics: Vec<String> = (0..8).map(|i| format!("topic/{i}")).collect();
    let streams =
        within(futures::future::join_all(topics.iter().map(
            |topic| async { client.source(topic.as_str()).updates(None).await },
        )))
        .await;
    assert!(streams.iter().all(Result::is_ok));

    let mut connection = server.accept().await;
    let mut expected: Vec<Value> = topics.iter().map(|topic| subscribe(topic, None)).collect();
    expected.sort_by_key(Value::to_string);
    assert_eq!(connection.received_any_order(8).await, expected);
    assert_eq!(server.accepts(), 1, "one TCP connection for every topic");
    server.assert_no_more_connections();
}

/// Two subscriptions to one topic on one connection: the one a resource
/// opens (`updates_paged`) takes each snapshot as its text, to read a page
/// a poll; the other takes the same snapshot read whole, or its error.
#[tokio::test]
async fn a_snapshot_comes_as_text_to_a_paged_subscription_and_whole_to_the_others() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut paged = client.source("a").updates_paged(None).await.unwrap();
    let mut whole = client.source("a").updates(None).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("a", None));
    assert_eq!(connection.received().await, subscribe("a", None));

    // As this crate's servers write it: the envelope, then the state.
    connection.send_text(r#"{"type":"snapshot","topic":"a","version":1,"data":{"r1":{"n":1}}}"#);
    let Event::SnapshotText(text) = next_event(&mut paged).await else {
        panic!("the snapshot as text");
    };
    assert_eq!(text.version(), Some(1));
    let snapshot = Snapshot::new(1, json!({"r1": {"n": 1}}));
    assert_eq!(text.to_snapshot().unwrap(), snapshot);
    assert_eq!(next_event(&mut whole).await, Event::Snapshot(snapshot));

    // Malformed inside its state: refused at once to the subscription that
    // reads it whole; the paged one finds it as it reads.
    connection.send_text(r#"{"type":"snapshot","topic":"a","version":2,"data":{"r1":}}"#);
    assert!(matches!(
        next_event(&mut paged).await,
        Event::SnapshotText(_)
    ));
    let error = next_error(&mut whole).await;
    let error = error.downcast_ref::<WsError>().expect("a WsError");
    assert!(error.is_bad_message(), "{error}");
}

/// A resource over WebSocket refuses a malformed snapshot whole, keeps its
/// state, and takes the next good snapshot.
#[tokio::test]
async fn a_malformed_snapshot_is_refused_and_the_resource_takes_the_next() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut resource =
        Follower::spawn(LiveResource::connect(client.source("a")).backoff(fast_backoff()));
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("a", None));
    connection.snapshot("a", 1, json!({"n": 1}));
    assert_eq!(resource.next_state().await, (json!({"n": 1}), Some(1)));

    connection.send_text(r#"{"type":"snapshot","topic":"a","version":5,"data":{"n":5,"m":}}"#);
    let (error, version, json) = resource.next_error().await;
    assert!(matches!(error, Error::Malformed(_)), "{error:?}");
    assert_eq!((json, version), (Some(json!({"n": 1})), Some(1)));

    // Taken again, with backoff, from a new subscription.
    assert_eq!(connection.received().await, unsubscribe("a"));
    assert_eq!(connection.received().await, subscribe("a", None));
    connection.snapshot("a", 6, json!({"n": 6}));
    assert_eq!(resource.next_state().await, (json!({"n": 6}), Some(6)));
}

#[tokio::test]
async fn bad_messages_are_errors_on_their_topic_and_the_last_good_state_stays() {
    let mut server = FakeServer::start().await;
    let limits = Limits::default().max_depth(4).max_message_bytes(1024);
    let client = server.client().limits(limits);
    let mut resource =
        Follower::spawn(LiveResource::connect(client.source("a")).backoff(fast_backoff()));

    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("a", None));
    connection.snapshot("a", 1, json!({"n": 1}));
    assert_eq!(resource.next_state().await, (json!({"n": 1}), Some(1)));
    connection.update("a", 2, json!({"n": 2}));
    assert_eq!(resource.next_state().await, (json!({"n": 2}), Some(2)));

    let bad_messages = [
        // No `type`.
        json!({"topic": "a", "seq": 3, "merge": {"n": 3}}),
        // A JSON Patch that is not one.
        json!({"type": "update", "topic": "a", "seq": 3, "patch": [{"op": "bogus", "path": "/n"}]}),
        // Deeper than the limits allow.
        json!({"type": "update", "topic": "a", "seq": 3, "merge": {"x": {"y": {"z": {"w": {"v": 1}}}}}}),
        // Larger than they allow (but no larger than a snapshot may be, which
        // is what the connection itself refuses).
        json!({"type": "update", "topic": "a", "seq": 3, "merge": {"big": "x".repeat(2000)}}),
    ];
    for bad in bad_messages {
        // A message that is not JSON names no topic: it is logged and skipped.
        connection.send_text("not json {");
        connection.send(bad.clone());
        let (error, version, json) = resource.next_error().await;
        assert!(ws_error(&error).is_bad_message(), "{bad}: {error}");
        assert!(
            error.is_bad_message(),
            "seen from the resource too: {error:?}"
        );
        assert_eq!(ws_error(&error).topic(), Some("a"));
        assert_eq!(json, Some(json!({"n": 2})), "the last good state stays");
        assert_eq!(version, Some(2));
        // One bad message is not a broken stream: the resource reads on, and
        // the gap a lost update leaves would show on the next one.
    }

    connection.update("a", 3, json!({"n": 3}));
    assert_eq!(resource.next_state().await, (json!({"n": 3}), Some(3)));
    assert_eq!(
        server.accepts(),
        1,
        "bad messages do not cost the connection"
    );
}

#[tokio::test]
async fn an_unknown_topic_ends_its_stream_with_a_retryable_error() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut ghost = client.source("ghost").updates(None).await.unwrap();
    let mut other = client.source("other").updates(None).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("ghost", None));
    assert_eq!(connection.received().await, subscribe("other", None));

    connection.send(json!({
        "type": "error", "topic": "ghost", "code": "unknown_topic", "message": "no topic `ghost`"
    }));
    let error = next_error(&mut ghost).await;
    assert!(!Permanent::is_permanent(&*error), "{error}");
    let ws = error.downcast_ref::<WsError>().unwrap();
    assert_eq!(ws.server_code(), Some("unknown_topic"));
    assert_eq!(ws.topic(), Some("ghost"));
    assert!(within(ghost.next()).await.is_none(), "the stream ends");

    // The other topic, and the connection, go on.
    connection.snapshot("other", 0, json!({}));
    assert_eq!(
        next_event(&mut other).await,
        Event::Snapshot(Snapshot::new(0, json!({})))
    );
    drop(ghost);
    assert_eq!(server.accepts(), 1);
}

#[tokio::test]
async fn a_forbidden_topic_is_permanent_and_the_resource_gives_up() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut resource =
        Follower::spawn(LiveResource::connect(client.source("secret")).backoff(fast_backoff()));
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("secret", None));

    connection.send(json!({
        "type": "error", "topic": "secret", "code": "forbidden", "message": "not for you"
    }));
    let (error, _, _) = resource.next_error().await;
    let Error::Updates(source) = &error else {
        panic!("expected an update stream error, got {error}");
    };
    assert!(Permanent::is_permanent(&**source), "{error}");
    assert_eq!(
        chain(&error),
        "the update stream failed: refused by the server: not for you"
    );
    assert!(resource.next().await.is_none(), "the resource ends");
    assert_eq!(*resource.status.borrow(), Status::Failed);
}

#[tokio::test]
async fn too_many_subscriptions_is_a_retryable_error() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut stream = client
        .source("one-too-many")
        .updates(Some(3))
        .await
        .unwrap();
    let mut connection = server.accept().await;
    assert_eq!(
        connection.received().await,
        subscribe("one-too-many", Some(3))
    );
    connection.send(json!({
        "type": "error", "topic": "one-too-many", "code": "too_many_subscriptions",
        "message": "a connection may follow at most 1 topics"
    }));
    let error = next_error(&mut stream).await;
    assert!(!Permanent::is_permanent(&*error));
    assert_eq!(
        error.downcast_ref::<WsError>().unwrap().server_code(),
        Some("too_many_subscriptions")
    );
    assert!(within(stream.next()).await.is_none());
}

#[tokio::test]
async fn a_dropped_connection_ends_every_topic_and_each_resumes_from_its_seq() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut a = Follower::spawn(LiveResource::connect(client.source("a")).backoff(fast_backoff()));
    let mut b = Follower::spawn(LiveResource::connect(client.source("b")).backoff(fast_backoff()));

    let mut first = server.accept().await;
    assert_eq!(
        first.received_any_order(2).await,
        [subscribe("a", None), subscribe("b", None)]
    );
    first.snapshot("a", 1, json!({"a": 1}));
    first.snapshot("b", 5, json!({"b": 5}));
    first.update("a", 2, json!({"a": 2}));
    first.update("b", 6, json!({"b": 6}));
    assert_eq!(a.until_version(2).await, json!({"a": 2}));
    assert_eq!(b.until_version(6).await, json!({"b": 6}));

    drop(first);
    for resource in [&mut a, &mut b] {
        let (error, _, json) = resource.next_error().await;
        assert!(ws_error(&error).is_disconnect(), "{error}");
        assert!(json.is_some(), "the state stays readable");
    }

    // Each resource reconnects on its own backoff; they share the new connection.
    let mut second = server.accept().await;
    assert_eq!(
        second.received_any_order(2).await,
        [subscribe("a", Some(2)), subscribe("b", Some(6))],
        "each resumes after its last seq"
    );
    second.update("a", 3, json!({"a": 3}));
    second.update("b", 7, json!({"b": 7}));
    assert_eq!(a.next_state().await, (json!({"a": 3}), Some(3)));
    assert_eq!(b.next_state().await, (json!({"b": 7}), Some(7)));
    assert_eq!(*a.status.borrow(), Status::Live);
    assert_eq!(server.accepts(), 2, "one new connection, shared");
    server.assert_no_more_connections();
}

#[tokio::test]
async fn a_slow_subscriber_is_told_to_resync_instead_of_skipping_silently() {
    let mut server = FakeServer::start().await;
    let client = server.client().subscriber_queue(4);
    let mut slow = client.source("slow").updates(None).await.unwrap();
    let mut fast = client.source("fast").updates(Some(0)).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("slow", None));
    assert_eq!(connection.received().await, subscribe("fast", Some(0)));

    connection.snapshot("slow", 0, json!({"n": 0}));
    for seq in 1..=20 {
        connection.update("slow", seq, json!({"n": seq}));
    }
    // Messages are routed in order: once `fast` has its update, every
    // `slow` one was handled, and the connection was never held up.
    connection.update("fast", 1, json!({"n": 1}));
    assert_eq!(
        next_event(&mut fast).await,
        Event::Update(Update::merge(1, json!({"n": 1})))
    );

    let mut ready = Vec::new();
    for _ in 0..10 {
        match slow.next().now_or_never() {
            Some(Some(item)) => ready.push(item.unwrap()),
            _ => break,
        }
    }
    assert_eq!(
        ready,
        [
            Event::Snapshot(Snapshot::new(0, json!({"n": 0}))),
            Event::Update(Update::merge(1, json!({"n": 1}))),
            Event::Update(Update::merge(2, json!({"n": 2}))),
            Event::Resync,
        ],
        "what did not fit is replaced by a resync"
    );
    connection.update("slow", 21, json!({"n": 21}));
    assert_eq!(
        next_event(&mut slow).await,
        Event::Update(Update::merge(21, json!({"n": 21})))
    );
}

#[tokio::test]
async fn a_slow_resource_resyncs_to_a_state_the_server_had() {
    let mut server = FakeServer::start().await;
    let client = server.client().subscriber_queue(4);
    let mut marker = client.source("marker").updates(Some(0)).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("marker", Some(0)));

    let mut resource = LiveResource::<Value>::connect(client.source("a"))
        .backoff(fast_backoff())
        .every_state();
    let (state, _) = tokio::join!(next_state(&mut resource), async {
        assert_eq!(connection.received().await, subscribe("a", None));
        connection.snapshot("a", 0, json!({"n": 0}));
    });
    assert_eq!(state, json!({"n": 0}));

    // The resource is not polled while 20 updates come.
    for seq in 1..=20 {
        connection.update("a", seq, json!({"n": seq}));
    }
    connection.update("marker", 1, json!({}));
    next_event(&mut marker).await;

    let follow = async {
        let mut versions = Vec::new();
        while resource.version() != Some(20) {
            next_state(&mut resource).await;
            versions.push(resource.version().unwrap());
        }
        versions
    };
    let serve = async {
        assert_eq!(connection.received().await, unsubscribe("a"));
        assert_eq!(connection.received().await, subscribe("a", None));
        connection.snapshot("a", 20, json!({"n": 20}));
    };
    let (versions, ()) = tokio::join!(follow, serve);
    // Three fit in the queue of four; the last slot took the resync.
    assert_eq!(
        versions,
        [1, 2, 3, 20],
        "a new snapshot after the resync, no gap"
    );
    assert_eq!(
        resource.json().map(Document::to_value),
        Some(json!({"n": 20}))
    );
}

#[tokio::test]
async fn a_snapshot_takes_a_subscription_that_shares_the_topic_and_then_leaves() {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let source = client.source("a");
    let mut following = source.updates(Some(4)).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("a", Some(4)));

    let (snapshot, ()) = tokio::join!(source.snapshot(), async {
        assert_eq!(connection.received().await, subscribe("a", None));
        // The server's answer to the first subscription may come first.
        connection.update("a", 5, json!({"n": 5}));
        connection.snapshot("a", 5, json!({"n": 5}));
    });
    assert_eq!(snapshot.unwrap(), Snapshot::new(5, json!({"n": 5})));

    // The stream that was already there sees both, and drops by seq what it has.
    assert_eq!(
        next_event(&mut following).await,
        Event::Update(Update::merge(5, json!({"n": 5})))
    );
    assert_eq!(
        next_event(&mut following).await,
        Event::Snapshot(Snapshot::new(5, json!({"n": 5})))
    );
    // The snapshot's stream is gone but `a` is still followed: the next
    // request is this one, not an unsubscribe.
    let _z = source.client().source("z").updates(None).await.unwrap();
    assert_eq!(connection.received().await, subscribe("z", None));
    // The last stream of the topic unsubscribes it.
    drop(following);
    assert_eq!(connection.received().await, unsubscribe("a"));
}

#[tokio::test]
async fn a_refused_connection_is_an_error_and_the_next_call_connects_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = WsClient::new(format!("ws://{addr}/live/ws"));
    let Err(error) = client.source("a").updates(None).await else {
        panic!("nothing listens");
    };
    let ws = error.downcast_ref::<WsError>().expect("a WsError");
    assert!(ws.is_connect(), "{error}");
    assert!(!Permanent::is_permanent(&*error));

    let mut server = FakeServer::on(TcpListener::bind(addr).await.unwrap());
    let _stream = client.source("a").updates(None).await.unwrap();
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("a", None));
    assert_eq!(server.accepts(), 1);

    let bad = WsClient::new("http://not-a-websocket/").header("bad header", "x");
    let Err(error) = bad.source("a").updates(None).await else {
        panic!("the header is invalid");
    };
    assert!(Permanent::is_permanent(&*error), "{error}");
    assert!(error.to_string().contains("bad header"), "{error}");
    let debug = format!(
        "{:?}",
        WsClient::new("ws://h/live/ws?token=s3cret").header("authorization", "Bearer s3cret")
    );
    assert!(!debug.contains("s3cret"), "{debug}");
}

/// The crate's own server, in a runtime of its own on its own thread, so
/// that stopping it drops every connection with it, as a crash would.
struct RealServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RealServer {
    /// Serves `hub` on `addr` (port 0: any), counting connections in `accepts`.
    async fn start(hub: Hub, addr: SocketAddr, accepts: Arc<AtomicUsize>) -> Self {
        let (ready, bound) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use axum::serve::ListenerExt;
                // The port was just released: binding it again may take a moment.
                let mut listener = None;
                for _ in 0..100 {
                    match TcpListener::bind(addr).await {
                        Ok(bound) => {
                            listener = Some(bound);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                let listener = listener.expect("the port can be bound again");
                ready.send(listener.local_addr().unwrap()).unwrap();
                let listener = listener.tap_io(move |_| {
                    accepts.fetch_add(1, Ordering::SeqCst);
                });
                let serve = axum::serve(listener, live_resource::server::router(hub));
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = within(bound).await.expect("the server binds");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/live/ws", self.addr)
    }

    /// Stops the server and drops every connection it had.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join().unwrap())
                .await
                .unwrap();
        }
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Asserts that a state's `log` is `[0, 1, .., n-1]`: every append once, in order.
fn assert_whole_log(state: &Value) -> usize {
    let log = state["log"].as_array().expect("a log");
    for (index, entry) in log.iter().enumerate() {
        assert_eq!(
            entry,
            &json!(index),
            "append {index} once, in order: {state}"
        );
    }
    log.len()
}

fn append(index: usize) -> Patch {
    Patch::Json(
        serde_json::from_value(json!([{"op": "add", "path": "/log/-", "value": index}])).unwrap(),
    )
}

#[tokio::test]
async fn two_topics_converge_to_the_hub_over_one_connection() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 189.5, "MSFT": 410.0}))
        .unwrap();
    hub.set("jobs/42", json!({"done": 0, "total": 50})).unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let server = RealServer::start(hub.clone(), any_port(), Arc::clone(&accepts)).await;
    let client = WsClient::new(server.url());

    let mut quotes = Follower::spawn(LiveResource::connect(client.source("quotes")));
    let mut job = Follower::spawn(LiveResource::connect(client.source("jobs/42")));
    assert_eq!(
        quotes.next_state().await.0,
        hub.snapshot("quotes").unwrap().data
    );
    assert_eq!(
        job.next_state().await.0,
        hub.snapshot("jobs/42").unwrap().data
    );

    for done in 1..=50 {
        hub.merge("jobs/42", json!({"done": done})).unwrap();
        hub.merge("quotes", json!({"AAPL": 189.5 + f64::from(done)}))
            .unwrap();
    }
    let job_version = hub.snapshot("jobs/42").unwrap().version.unwrap();
    let quotes_version = hub.snapshot("quotes").unwrap().version.unwrap();
    assert_eq!(
        job.until_version(job_version).await,
        hub.snapshot("jobs/42").unwrap().data
    );
    assert_eq!(
        quotes.until_version(quotes_version).await,
        hub.snapshot("quotes").unwrap().data
    );
    assert_eq!(
        accepts.load(Ordering::SeqCst),
        1,
        "one connection for both topics"
    );
    assert_eq!(
        (hub.subscribers("quotes"), hub.subscribers("jobs/42")),
        (1, 1)
    );

    // A topic that does not exist yet is retried until it does.
    let mut later =
        Follower::spawn(LiveResource::connect(client.source("later")).backoff(fast_backoff()));
    let (error, _, _) = later.next_error().await;
    assert_eq!(
        ws_error(&error).server_code(),
        Some("unknown_topic"),
        "{error}"
    );
    hub.set("later", json!({"here": true})).unwrap();
    loop {
        match later.next().await {
            Some(Seen {
                item: Ok(state), ..
            }) => {
                assert_eq!(state, json!({"here": true}));
                break;
            }
            Some(Seen {
                item: Err(error), ..
            }) => {
                assert_eq!(
                    ws_error(&error).server_code(),
                    Some("unknown_topic"),
                    "{error}"
                );
            }
            None => panic!("the resource ended"),
        }
    }
    assert_eq!(accepts.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_server_loses_nothing_and_doubles_nothing() {
    const APPENDS: usize = 240;
    let hub = Hub::builder().first_version(0).build();
    for topic in ["a", "b"] {
        hub.set(topic, json!({"log": []})).unwrap();
    }
    let accepts = Arc::new(AtomicUsize::new(0));
    let mut server = Some(RealServer::start(hub.clone(), any_port(), Arc::clone(&accepts)).await);
    let addr = server.as_ref().unwrap().addr;
    let client = WsClient::new(format!("ws://{addr}/live/ws"));

    let follow = |topic: &'static str| {
        let mut follower =
            Follower::spawn(LiveResource::connect(client.source(topic)).backoff(fast_backoff()));
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut disconnects = 0;
            loop {
                match follower.next().await {
                    Some(Seen {
                        item: Ok(state),
                        version,
                        ..
                    }) => {
                        assert_whole_log(&state);
                        let last = hub.snapshot(topic).unwrap();
                        if version == last.version && assert_whole_log(&state) == APPENDS {
                            return (state, disconnects);
                        }
                    }
                    Some(Seen {
                        item: Err(error), ..
                    }) => {
                        if matches!(&error, Error::Updates(_)) && ws_error(&error).is_disconnect() {
                            disconnects += 1;
                        }
                    }
                    None => panic!("a resilient resource ended"),
                }
            }
        })
    };
    let a = follow("a");
    let b = follow("b");

    let mut second_accepts = None;
    for index in 0..APPENDS {
        for topic in ["a", "b"] {
            hub.publish(topic, append(index)).unwrap();
        }
        if index == 80 {
            server.take().unwrap().stop().await;
        }
        if index == 120 {
            let restarted = Arc::new(AtomicUsize::new(0));
            server = Some(RealServer::start(hub.clone(), addr, Arc::clone(&restarted)).await);
            second_accepts = Some(restarted);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    for follower in [a, b] {
        let (state, disconnects) = tokio::time::timeout(Duration::from_secs(30), follower)
            .await
            .expect("every follower converges")
            .unwrap();
        assert_eq!(assert_whole_log(&state), APPENDS);
        assert!(disconnects >= 1, "the restart cut the connection");
    }
    assert_eq!(accepts.load(Ordering::SeqCst), 1);
    assert_eq!(
        second_accepts.unwrap().load(Ordering::SeqCst),
        1,
        "the resources came back over one shared connection"
    );
    server.unwrap().stop().await;
}

#[tokio::test]
async fn a_patch_that_does_not_apply_keeps_the_state_and_takes_a_new_snapshot_on_the_same_connection()
 {
    let mut server = FakeServer::start().await;
    let client = server.client();
    let mut follower =
        Follower::spawn(LiveResource::connect(client.source("q")).backoff(fast_backoff()));
    let mut connection = server.accept().await;
    assert_eq!(connection.received().await, subscribe("q", None));
    connection.snapshot("q", 1, json!({"a": 1}));
    assert_eq!(follower.next_state().await, (json!({"a": 1}), Some(1)));
    connection.update("q", 2, json!({"a": 2}));
    assert_eq!(follower.next_state().await, (json!({"a": 2}), Some(2)));

    // Operations that cannot apply to the state the server says it has.
    connection.send(json!({
        "type": "update", "topic": "q", "seq": 3,
        "patch": [{"op": "replace", "path": "/a", "value": 3}, {"op": "remove", "path": "/missing"}],
    }));
    let (error, version, json) = follower.next_error().await;
    assert!(matches!(error, Error::Apply(_)), "{error:?}");
    assert_eq!(
        (version, json),
        (Some(2), Some(json!({"a": 2}))),
        "the last good state stays, whole"
    );

    // A state that no longer matches the server's cannot be resumed from:
    // a new snapshot, asked for over the connection the client has.
    assert_eq!(connection.received().await, unsubscribe("q"));
    assert_eq!(connection.received().await, subscribe("q", None));
    connection.snapshot("q", 3, json!({"a": 3, "b": true}));
    assert_eq!(
        follower.next_state().await,
        (json!({"a": 3, "b": true}), Some(3))
    );
    connection.update("q", 4, json!({"a": 4}));
    assert_eq!(
        follower.next_state().await,
        (json!({"a": 4, "b": true}), Some(4))
    );
    assert_eq!(server.accepts(), 1, "one connection throughout");
    server.assert_no_more_connections();
}
