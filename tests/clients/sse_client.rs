//! `SseSource`: events to `Event`s, resume, errors and limits against a fake
//! SSE server the test writes each connection of by hand; then
//! `LiveResource::connect` over it, and over the crate's own server.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use live_resource::client::http::HttpError;
use live_resource::client::sse::SseSource;
use live_resource::collection::{Event as RowEvent, LiveCollection};
use live_resource::hub::Batch;
use live_resource::source::{Event, EventStream, Fetched, Permanent, SnapshotSource, UpdateSource};
use live_resource::{Backoff, BoxError, Error, Hub, Limits, LiveResource, Patch, Status, Update};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::support::chain;
use crate::support::fake_server::FakeServer;
use crate::support::follower::{Follower, Seen};

/// How long any one step of a test may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// One request for the event stream, as the fake server saw it, and the
/// test's pen to write its body with: dropping it ends the body.
struct Connection {
    last_event_id: Option<String>,
    since: Option<String>,
    accept: Option<String>,
    authorization: Option<String>,
    body: mpsc::UnboundedSender<Bytes>,
}

impl Connection {
    fn send(&self, text: &str) {
        self.body
            .send(Bytes::copy_from_slice(text.as_bytes()))
            .expect("the client is still reading");
    }

    fn update(&self, seq: u64, merge: Value) {
        let update = json!({"seq": seq, "merge": merge});
        self.send(&format!("event: update\nid: {seq}\ndata: {update}\n\n"));
    }
}

#[derive(Clone)]
struct Fake {
    connections: mpsc::UnboundedSender<Connection>,
    /// What `GET /live/quotes` answers; the test may move it on.
    snapshot: std::sync::Arc<std::sync::Mutex<Value>>,
    /// When set, the event stream is refused with this status and `{"error":..}`.
    refuse: Option<(StatusCode, &'static str)>,
}

/// A fake server for the topic `quotes`: its snapshot is `snapshot`, each of
/// its event streams a [`Connection`] handed to the test.
async fn fake(
    snapshot: Value,
    refuse: Option<(StatusCode, &'static str)>,
) -> (FakeServer, mpsc::UnboundedReceiver<Connection>) {
    let (server, accepted, _) = fake_with_snapshot(snapshot, refuse).await;
    (server, accepted)
}

/// [`fake`], with the snapshot it serves, which the test may move on.
async fn fake_with_snapshot(
    snapshot: Value,
    refuse: Option<(StatusCode, &'static str)>,
) -> (
    FakeServer,
    mpsc::UnboundedReceiver<Connection>,
    std::sync::Arc<std::sync::Mutex<Value>>,
) {
    let (connections, accepted) = mpsc::unbounded_channel();
    let snapshot = std::sync::Arc::new(std::sync::Mutex::new(snapshot));
    let state = Fake {
        connections,
        snapshot: std::sync::Arc::clone(&snapshot),
        refuse,
    };
    let router = Router::new()
        .route(
            "/live/quotes",
            get(
                |State(fake): State<Fake>| async move { fake.snapshot.lock().unwrap().to_string() },
            ),
        )
        .route("/live/quotes/events", get(events))
        .with_state(state);
    (FakeServer::start(router).await, accepted, snapshot)
}

async fn events(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some((status, text)) = fake.refuse {
        return (status, axum::Json(json!({"error": text}))).into_response();
    }
    let header = |name| {
        headers
            .get(name)
            .map(|value: &header::HeaderValue| value.to_str().unwrap().to_owned())
    };
    let since = uri
        .query()
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("since="))
        .map(str::to_owned);
    let (body, written) = mpsc::unbounded_channel();
    let _ = fake.connections.send(Connection {
        last_event_id: header(header::HeaderName::from_static("last-event-id")),
        since,
        accept: header(header::ACCEPT),
        authorization: header(header::AUTHORIZATION),
        body,
    });
    let body = UnboundedReceiverStream::new(written).map(Ok::<_, Infallible>);
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

async fn accept(connections: &mut mpsc::UnboundedReceiver<Connection>) -> Connection {
    tokio::time::timeout(PATIENCE, connections.recv())
        .await
        .expect("the client connects")
        .expect("the fake server is running")
}

async fn open(source: &SseSource, since: Option<u64>) -> EventStream {
    tokio::time::timeout(PATIENCE, source.updates(since))
        .await
        .expect("the stream opens in time")
        .expect("the stream opens")
}

/// An item of the event stream, with errors told apart by kind.
#[derive(Debug, PartialEq)]
enum Item {
    Event(Event),
    Malformed,
    TooLarge,
    TooDeep,
    Other(String),
}

impl From<Result<Event, BoxError>> for Item {
    fn from(item: Result<Event, BoxError>) -> Self {
        match item {
            Ok(event) => Self::Event(event),
            Err(error) => match error.downcast_ref::<Error>() {
                Some(Error::Malformed(_)) => Self::Malformed,
                Some(Error::TooLarge { .. }) => Self::TooLarge,
                Some(Error::TooDeep { .. }) => Self::TooDeep,
                _ => Self::Other(error.to_string()),
            },
        }
    }
}

/// Every item until the stream ends.
async fn drain(mut stream: EventStream) -> Vec<Item> {
    let mut items = Vec::new();
    for _ in 0..1000 {
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(Some(item)) => items.push(item.into()),
            Ok(None) => return items,
            Err(_) => panic!("the stream neither ends nor yields; so far {items:?}"),
        }
    }
    panic!("the stream does not end: {items:?}");
}

const SCRIPT: &str = concat!(
    ": a comment, then a blank line\n\n",
    "event: update\nid: 1\ndata: {\"seq\":1,\"merge\":{\"a\":1}}\n\n",
    "event: heartbeat\ndata: {\"seq\":1}\n\n",
    "event: heartbeat\r\ndata: {\"seq\":null}\r\n\r\n",
    ": comments between fields\nevent: motd\n: are dropped\ndata: hello\n\n",
    "data: {\"seq\":9,\"merge\":{}}\n\n",
    "event: update\nid: 2\ndata: {\"seq\":2,\"merge\":\n\n",
    "event: update\rid: 2\rdata: {\"seq\":2,\"merge\":{\"name\":\"café ☕ 🦀\"}}\r\r",
    "event: heartbeat\ndata: seventeen\n\n",
    "event: update\ndata: {\"seq\":3,\n",
    "data: \"patch\":[{\"op\":\"add\",\"path\":\"/b\",\"value\":2}]}\n\n",
    "event: resync\ndata: {}\n\n",
);

fn script_items() -> Vec<Item> {
    let op = serde_json::from_value(json!([{"op": "add", "path": "/b", "value": 2}])).unwrap();
    vec![
        // A comment alone is the usual keep-alive: a heartbeat with no seq.
        Item::Event(Event::Heartbeat(None)),
        Item::Event(Event::Update(Update::merge(1, json!({"a": 1})))),
        Item::Event(Event::Heartbeat(Some(1))),
        Item::Event(Event::Heartbeat(None)),
        Item::Malformed,
        Item::Event(Event::Update(Update::merge(
            2,
            json!({"name": "café ☕ 🦀"}),
        ))),
        Item::Malformed,
        Item::Event(Event::Update(Update {
            seq: Some(3),
            patch: Patch::Json(op),
        })),
        Item::Event(Event::Resync),
    ]
}

#[tokio::test]
async fn events_become_updates_resyncs_and_heartbeats_however_the_body_is_cut() {
    let (server, mut connections) = fake(json!({}), None).await;
    let source = SseSource::new(&server.url(), "quotes");
    // Every cut: between the bytes of a character, of a CRLF, of a field.
    for chunk in [1, 2, 3, 5, 7, SCRIPT.len()] {
        let stream = open(&source, None).await;
        let connection = accept(&mut connections).await;
        for piece in SCRIPT.as_bytes().chunks(chunk) {
            connection.body.send(Bytes::copy_from_slice(piece)).unwrap();
        }
        drop(connection);
        assert_eq!(drain(stream).await, script_items(), "in chunks of {chunk}");
    }
}

#[tokio::test]
async fn a_resumed_stream_sends_last_event_id_and_since() {
    let (server, mut connections) = fake(json!({}), None).await;
    let source = SseSource::new(&server.url(), "quotes").header("authorization", "Bearer t0k3n");

    let _fresh = open(&source, None).await;
    let connection = accept(&mut connections).await;
    assert_eq!((connection.last_event_id, connection.since), (None, None));
    assert_eq!(connection.accept.as_deref(), Some("text/event-stream"));
    assert_eq!(connection.authorization.as_deref(), Some("Bearer t0k3n"));

    let _resumed = open(&source, Some(17)).await;
    let connection = accept(&mut connections).await;
    assert_eq!(connection.last_event_id.as_deref(), Some("17"));
    assert_eq!(connection.since.as_deref(), Some("17"));
}

#[tokio::test]
async fn error_statuses_fail_the_subscription() {
    let cases = [
        (StatusCode::FORBIDDEN, "topic `quotes` is denied", true),
        (StatusCode::UNAUTHORIZED, "log in first", true),
        (StatusCode::NOT_FOUND, "unknown topic `quotes`", false),
        (StatusCode::INTERNAL_SERVER_ERROR, "oops", false),
    ];
    for (status, text, permanent) in cases {
        let (server, _connections) = fake(json!({}), Some((status, text))).await;
        let source = SseSource::new(&server.url(), "quotes");
        let error = match tokio::time::timeout(PATIENCE, source.updates(Some(3))).await {
            Ok(Err(error)) => error,
            other => panic!(
                "expected an error, got {:?}",
                other.map(|result| result.is_ok())
            ),
        };
        assert_eq!(Permanent::is_permanent(&*error), permanent, "{error}");
        let url = format!("{}/live/quotes/events?since=3", server.url());
        assert_eq!(error.to_string(), format!("GET {url}: {status}"));
        assert_eq!(chain(&*error), format!("GET {url}: {status}: {text}"));
    }
}

#[tokio::test]
async fn a_response_that_is_not_an_event_stream_fails_the_subscription() {
    let router = Router::new().fallback(|| async { axum::Json(json!({"version": 1, "data": {}})) });
    let server = FakeServer::start(router).await;
    let error = SseSource::new(&server.url(), "quotes")
        .updates(None)
        .await
        .err()
        .unwrap();
    assert!(!Permanent::is_permanent(&*error), "{error}");
    assert!(error.downcast_ref::<HttpError>().is_some(), "{error}");
    assert!(
        error
            .to_string()
            .ends_with("expected an event stream, got `application/json`"),
        "{error}"
    );
}

#[tokio::test]
async fn updates_past_the_limits_are_errors_and_the_stream_goes_on() {
    let (server, mut connections) = fake(json!({}), None).await;
    let limits = Limits::default().max_message_bytes(256).max_depth(3);
    let source = SseSource::new(&server.url(), "quotes").limits(limits);
    let stream = open(&source, None).await;
    let connection = accept(&mut connections).await;

    connection.update(1, json!({"note": "x".repeat(300)}));
    connection.update(2, json!({"a": {"b": {"c": {"d": 1}}}}));
    connection.update(3, json!({"a": {"b": {"c": 1}}}));
    drop(connection);
    assert_eq!(
        drain(stream).await,
        [
            Item::TooLarge,
            Item::TooDeep,
            Item::Event(Event::Update(Update::merge(
                3,
                json!({"a": {"b": {"c": 1}}})
            ))),
        ]
    );
}

#[tokio::test]
async fn an_event_too_large_to_hold_ends_the_stream() {
    let (server, mut connections) = fake(json!({}), None).await;
    let source =
        SseSource::new(&server.url(), "quotes").limits(Limits::default().max_message_bytes(1024));
    let mut stream = open(&source, None).await;
    let connection = accept(&mut connections).await;

    connection.update(1, json!({"a": 1}));
    // 4 MiB of one line, if it were all read.
    connection.send("event: update\ndata: ");
    for _ in 0..256 {
        if connection
            .body
            .send(Bytes::from(vec![b'x'; 16 * 1024]))
            .is_err()
        {
            break;
        }
    }
    let first = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap();
    assert_eq!(
        Item::from(first.unwrap()),
        Item::Event(Event::Update(Update::merge(1, json!({"a": 1}))))
    );
    let error = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    match error.downcast_ref::<Error>() {
        Some(Error::TooLarge { size, max: 1024 }) => {
            assert!(*size > 1024 && *size < 4096, "{size}")
        }
        _ => panic!("expected TooLarge, got {error}"),
    }
    assert!(
        tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bytes_that_are_not_utf8_end_the_stream() {
    let (server, mut connections) = fake(json!({}), None).await;
    let source = SseSource::new(&server.url(), "quotes");
    let stream = open(&source, None).await;
    let connection = accept(&mut connections).await;
    connection.update(1, json!({}));
    connection
        .body
        .send(Bytes::from_static(b"event: update\ndata: \xff\xfe\n\n"))
        .unwrap();
    connection.update(2, json!({}));
    drop(connection);
    assert_eq!(
        drain(stream).await,
        [
            Item::Event(Event::Update(Update::merge(1, json!({})))),
            Item::Other("the event stream is not valid UTF-8".into()),
        ]
    );

    // A character cut short by the end of the body.
    let stream = open(&source, None).await;
    let connection = accept(&mut connections).await;
    connection
        .body
        .send(Bytes::from_static(b": \xe2\x98"))
        .unwrap();
    drop(connection);
    assert_eq!(
        drain(stream).await,
        [Item::Other("the event stream is not valid UTF-8".into())]
    );
}

#[test]
fn the_heartbeat_period_is_the_servers_default_unless_set() {
    let source = SseSource::new("http://127.0.0.1:1", "quotes");
    assert_eq!(
        UpdateSource::heartbeat(&source),
        Some(Duration::from_secs(15))
    );
    let source = source.heartbeat(Duration::from_secs(4));
    assert_eq!(
        UpdateSource::heartbeat(&source),
        Some(Duration::from_secs(4))
    );
}

fn quick_backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(20))
        .max(Duration::from_millis(100))
}

/// Skips items (states conflate, reconnects report errors) until the state is
/// `expected`; returns that item and the errors skipped.
async fn converge(items: &mut Follower, expected: &Value) -> (Seen, Vec<Error>) {
    let mut errors = Vec::new();
    for _ in 0..1000 {
        let seen = items.seen().await;
        match seen.item {
            Ok(ref state) if state == expected => return (seen, errors),
            Ok(_) => {}
            Err(error) => errors.push(error),
        }
    }
    panic!("the resource never reached {expected}; errors: {errors:?}");
}

/// Plays one refused frame, `bad_frame` with `seq` 3, to a resource live at
/// version 2, and checks what every refused frame must do: the error says
/// why (`refused` recognises it), the state and version stay, the stream
/// goes on and the next update shows the gap the frame left, and the
/// resource starts over from a new snapshot (a replay from version 2 would
/// bring the frame back) and catches up.
async fn a_refused_frame_is_survived(bad_frame: &str, refused: fn(&Error) -> bool) {
    let snapshot = json!({"version": 1, "data": {"aapl": {"price": 189.5, "volume": 10}}});
    let (server, mut connections, served) = fake_with_snapshot(snapshot, None).await;
    let quotes = LiveResource::<Value>::connect(SseSource::new(&server.url(), "quotes"))
        .backoff(quick_backoff());
    let status = quotes.status();
    let mut items = Follower::spawn(quotes);

    let connection = accept(&mut connections).await;
    assert_eq!(connection.last_event_id, None);
    let first = items.seen().await;
    assert_eq!(
        first.item.unwrap(),
        json!({"aapl": {"price": 189.5, "volume": 10}})
    );

    connection.update(2, json!({"aapl": {"price": 190.25}}));
    let good = json!({"aapl": {"price": 190.25, "volume": 10}});
    assert_eq!(items.seen().await.item.unwrap(), good);

    connection.send(bad_frame);
    let seen = items.seen().await;
    assert!(
        seen.item.as_ref().is_err_and(refused),
        "expected the frame refused, got {:?}",
        seen.item
    );
    assert_eq!((seen.version, seen.json.as_ref()), (Some(2), Some(&good)));

    // One bad frame is not a broken connection: the stream goes on, and the
    // next update shows the gap the bad one left. (The server's snapshot
    // moves on with it: a resource never takes one older than its state.)
    *served.lock().unwrap() = json!({"version": 2, "data": good});
    connection.update(4, json!({"aapl": {"volume": 13}}));
    let seen = items.seen().await;
    assert!(
        matches!(
            seen.item,
            Err(Error::Gap {
                expected: 3,
                received: 4
            })
        ),
        "{:?}",
        seen.item
    );
    assert_eq!(
        seen.json.as_ref(),
        Some(&good),
        "the last good state is kept"
    );

    // A replay from version 2 would bring the refused frame back: it starts
    // over from a new snapshot and catches up.
    let connection = accept(&mut connections).await;
    assert_eq!(
        connection.last_event_id, None,
        "a new snapshot, not a replay"
    );
    connection.update(2, json!({"aapl": {"price": 190.25}}));
    connection.update(3, json!({"aapl": {"volume": 12}}));
    connection.update(4, json!({"aapl": {"volume": 13}}));
    assert_eq!(
        items.until_version(4).await,
        json!({"aapl": {"price": 190.25, "volume": 13}})
    );
    assert_eq!(*status.borrow(), Status::Live);
}

/// A frame cut short is refused when it is read: an error of the update
/// stream whose cause is `Malformed`.
#[tokio::test]
async fn a_live_resource_converges_and_keeps_its_state_through_a_malformed_frame() {
    a_refused_frame_is_survived(
        "event: update\nid: 3\ndata: {\"seq\":3,\"merge\":{\"aapl\":\n\n",
        |error| match error {
            Error::Updates(cause) => {
                matches!(cause.downcast_ref::<Error>(), Some(Error::Malformed(_)))
            }
            _ => false,
        },
    )
    .await;
}

/// Read lazily, a frame whose patch is not JSON but ends its object passes
/// the reading and is refused when applied (`Malformed`, the first member
/// unwritten), then is treated as a frame refused when read.
#[tokio::test]
async fn a_patch_found_malformed_when_applied_is_treated_as_one_refused_when_read() {
    a_refused_frame_is_survived(
        "event: update\nid: 3\ndata: {\"seq\":3,\"merge\":{\"aapl\":{\"volume\":11},\"msft\":}}\n\n",
        |error| matches!(error, Error::Malformed(_)),
    )
    .await;
}

fn append(seq: u64) -> Value {
    json!({"seq": seq, "patch": [{"op": "add", "path": "/log/-", "value": seq}]})
}

#[tokio::test]
async fn a_live_resource_resumes_when_the_body_ends_with_nothing_lost_or_doubled() {
    let snapshot = json!({"version": 1, "data": {"log": [1]}});
    let (server, mut connections) = fake(snapshot, None).await;
    let resource = LiveResource::<Value>::connect(SseSource::new(&server.url(), "quotes"))
        .backoff(quick_backoff());
    let mut items = Follower::spawn(resource);
    let send = |connection: &Connection, seq: u64| {
        connection.send(&format!(
            "event: update\nid: {seq}\ndata: {}\n\n",
            append(seq)
        ));
    };

    let first = accept(&mut connections).await;
    send(&first, 2);
    send(&first, 3);
    let (_, errors) = converge(&mut items, &json!({"log": [1, 2, 3]})).await;
    assert!(errors.is_empty(), "{errors:?}");
    drop(first);

    // The ended stream is taken up again after the last version seen; a
    // replay that overlaps what arrived is dropped.
    let second = accept(&mut connections).await;
    assert_eq!(second.last_event_id.as_deref(), Some("3"));
    assert_eq!(second.since.as_deref(), Some("3"));
    send(&second, 3);
    send(&second, 4);
    let (seen, errors) = converge(&mut items, &json!({"log": [1, 2, 3, 4]})).await;
    assert!(
        errors.is_empty(),
        "the end of a body is no error: {errors:?}"
    );
    assert_eq!(seen.version, Some(4));
}

#[tokio::test]
async fn a_live_resource_follows_the_crates_server_across_a_restart() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("jobs/7", json!({"log": []})).unwrap();
    let publish = |seq: u64| {
        let patch = serde_json::from_value(append(seq)["patch"].clone()).unwrap();
        hub.publish("jobs/7", Patch::Json(patch)).unwrap();
    };
    let server = FakeServer::start(live_resource::server::router(hub.clone())).await;
    let addr = server.addr();
    let resource = LiveResource::<Value>::connect(SseSource::new(&server.url(), "jobs/7"))
        .backoff(quick_backoff());
    let mut items = Follower::spawn(resource);

    for seq in 1..=5 {
        publish(seq);
    }
    let expected = hub.snapshot("jobs/7").unwrap();
    let (seen, errors) = converge(&mut items, &expected.data).await;
    assert_eq!(seen.version, expected.version);
    assert!(errors.is_empty(), "{errors:?}");

    // The server goes away with its connections; the hub lives on.
    server.stop();
    for seq in 6..=10 {
        publish(seq);
    }
    let _server = FakeServer::start_on(addr, live_resource::server::router(hub.clone())).await;
    for seq in 11..=15 {
        publish(seq);
    }

    let expected = hub.snapshot("jobs/7").unwrap();
    assert_eq!(
        expected.data,
        json!({"log": (1..=15).collect::<Vec<u64>>()})
    );
    let (seen, errors) = converge(&mut items, &expected.data).await;
    assert_eq!(seen.version, expected.version);
    assert!(
        errors.iter().any(Error::is_transport),
        "the client saw the server go: {errors:?}"
    );
}

/// A table followed over SSE from the crate's server: its snapshot fetched
/// as text (which a resource reads a page a poll), its version read before
/// the state; then the rows' changes, none lost between.
#[tokio::test]
async fn a_table_over_sse_is_fetched_as_text_and_followed() {
    let hub = Hub::new();
    let records = hub.collection("records");
    let note = "x".repeat(100);
    let rows = (0..5_000u64).fold(Batch::new(), |batch, n| {
        batch.insert(n, json!({"n": n, "note": note}))
    });
    records.write(rows).await.unwrap();
    let server = FakeServer::start(live_resource::server::router(hub.clone())).await;

    let source = SseSource::new(&server.url(), "records");
    let fetched = tokio::time::timeout(PATIENCE, source.snapshot_paged())
        .await
        .expect("the snapshot comes")
        .unwrap();
    assert!(matches!(fetched, Fetched::Text(_)), "{fetched:?}");
    let version = hub.snapshot("records").unwrap().version;
    assert_eq!(fetched.version(), version);

    let mut table = LiveCollection::<u64, Value>::connect(source);
    let first = next_row_event(&mut table).await;
    assert!(first.is_reset());
    assert_eq!(first.changes().len(), 5_000);
    assert_eq!(table.version(), version);
    assert_eq!(table.get(&4_999), Some(&json!({"n": 4_999, "note": note})));

    let changed = records.patch_row(7u64, json!({"n": 70})).await.unwrap();
    let RowEvent::Row { version, change } = next_row_event(&mut table).await else {
        panic!("a row event");
    };
    assert_eq!((version, *change.key()), (Some(changed), 7));
    assert_eq!(table.get(&7), Some(&json!({"n": 70, "note": note})));
}

async fn next_row_event(table: &mut LiveCollection<u64, Value>) -> RowEvent<u64, Value> {
    let next = tokio::time::timeout(PATIENCE, table.next()).await;
    next.expect("an event").expect("not ended").unwrap()
}
