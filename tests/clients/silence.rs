//! Silence: a peer that keeps the connection open and says nothing.
//!
//! A server (or a proxy in front of it) that accepts, answers, then goes
//! quiet without closing is the failure that froze kube-rs's watcher with no
//! error (kube-rs #1791, fixed with an idle timeout in PR #1945): nothing on
//! the socket tells the client the stream is dead. Here the fake servers hold
//! such sockets open and silent, and a [`LiveResource`] must take them for
//! dead after three heartbeat periods, say so, and resume after its last
//! `seq`, over WebSocket and over Server-Sent Events, and more than once.
//!
//! The other side of silence is a client that stops reading: the crate's own
//! server must then tell a stalled SSE reader to resync when it reads again,
//! and never skip a `seq` silently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use live_resource::client::sse::SseSource;
use live_resource::client::ws::{WsClient, WsError};
use live_resource::{Error, Hub, LiveResource, Status};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::support::follower::Follower;
use crate::support::{STEP, fast_backoff, within};

/// The heartbeat period the clients are told to expect: short, so that
/// three silent periods pass quickly.
const HEARTBEAT: Duration = Duration::from_millis(150);

/// How long a silent connection is trusted: three heartbeat periods.
const IDLE: Duration = HEARTBEAT.saturating_mul(3);

/// Room past [`IDLE`] for a loaded machine; a client that takes this long
/// has not noticed the silence by its heartbeat.
const SLACK: Duration = Duration::from_secs(3);

impl Follower {
    /// The next item, which must be a state at `version`.
    async fn state_at(&mut self, version: u64) -> Value {
        let seen = self.seen().await;
        match seen.item {
            Ok(state) if seen.version == Some(version) => state,
            item => panic!(
                "expected the state at {version}, got {item:?} at {:?}",
                seen.version
            ),
        }
    }

    /// Skips idle errors (one may follow another, see [`is_idle_error`])
    /// until the next state, which must be at `version`.
    async fn state_after_idle_errors(&mut self, version: u64) -> Value {
        for _ in 0..10 {
            let seen = self.seen().await;
            match seen.item {
                Ok(state) if seen.version == Some(version) => return state,
                Err(error) if is_idle_error(&error) => {}
                item => panic!("expected the state at {version}, got {item:?}"),
            }
        }
        panic!("still no state at {version} after 10 idle errors");
    }

    /// Asserts the resource yielded nothing more so far.
    fn assert_quiet(&mut self) {
        if let Some(seen) = self.try_seen() {
            panic!("a quiet connection with heartbeats is alive, yet: {seen:?}");
        }
    }
}

/// Whether `error` says the source was silent for [`IDLE`].
///
/// A resource's own idle timer gives [`Error::IdleTimeout`]. A WebSocket
/// connection also watches itself with the same period, and when it sees
/// the silence first its topics get a [`WsError`] that says so
/// ([`is_connection_idle_error`]). The two timers start a moment apart, so
/// either may report first; when the resource's does, it may resubscribe on
/// the silent connection before that connection's timer ends it, and then
/// report once more.
fn is_idle_error(error: &Error) -> bool {
    matches!(error, Error::IdleTimeout { after } if *after == IDLE)
        || is_connection_idle_error(error)
}

/// Whether `error` is a WebSocket connection's report that it heard nothing
/// for [`IDLE`]: a disconnect, which only its reason tells from others.
fn is_connection_idle_error(error: &Error) -> bool {
    let Error::Updates(cause) = error else {
        return false;
    };
    cause.downcast_ref::<WsError>().is_some_and(|ws| {
        ws.is_disconnect()
            && ws
                .to_string()
                .ends_with(&format!("no message from the server for {IDLE:?}"))
    })
}

/// Waits for the resource to report the silence that began at `quiet_since`,
/// and checks it kept its state at `version` through it.
async fn expect_idle_error(
    follower: &mut Follower,
    quiet_since: Instant,
    version: u64,
    idle: fn(&Error) -> bool,
) {
    let seen = follower.seen().await;
    let waited = quiet_since.elapsed();
    match &seen.item {
        Err(error) => assert!(idle(error), "expected an idle error, got {error}"),
        Ok(state) => panic!("expected an idle error, got the state {state}"),
    }
    // The timers run from the last message, which left the server after
    // `quiet_since`: a report before three periods would be a connection
    // taken for dead while it was only quiet.
    assert!(waited >= IDLE, "taken for dead after only {waited:?}");
    assert!(
        waited < IDLE + SLACK,
        "silence noticed only after {waited:?}"
    );
    assert_eq!(seen.version, Some(version), "the state is kept");
    assert_eq!(seen.json, Some(json!({"n": version})), "the state is kept");
}

// WebSocket.

/// A WebSocket server whose connections the test accepts and holds itself:
/// a connection it stops writing to stays open, and silent.
struct WsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl WsServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Self { listener, addr }
    }

    fn client(&self) -> WsClient {
        WsClient::new(format!("ws://{}/live/ws", self.addr)).heartbeat(HEARTBEAT)
    }

    async fn accept(&self) -> WsPeer {
        let (tcp, _) = within(self.listener.accept()).await.unwrap();
        let socket = within(tokio_tungstenite::accept_async(tcp))
            .await
            .expect("a WebSocket upgrade");
        WsPeer { socket }
    }
}

/// The server's end of one WebSocket connection.
struct WsPeer {
    socket: WebSocketStream<TcpStream>,
}

impl WsPeer {
    /// The next message the client sent, as JSON.
    async fn received(&mut self) -> Value {
        for _ in 0..10 {
            match within(self.socket.next()).await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("the client sends JSON");
                }
                Some(Ok(_)) => {}
                other => panic!("expected a message from the client, got {other:?}"),
            }
        }
        panic!("no text message among the client's last 10");
    }

    async fn send(&mut self, message: Value) {
        within(self.socket.send(Message::text(message.to_string())))
            .await
            .expect("the connection is open");
    }

    /// Reads what the client wrote last (an `unsubscribe`, perhaps a
    /// `subscribe` it sent before it gave up) until it hangs up: a dead
    /// connection is let go, not left open beside the new one.
    async fn hung_up_by_client(mut self) {
        let hang_up = async {
            for _ in 0..100 {
                match self.socket.next().await {
                    Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(other)) => panic!("unexpected {other:?}"),
                }
            }
            panic!("the client goes on writing to a connection it took for dead");
        };
        within(hang_up).await;
    }
}

fn ws_subscribe(since: Option<u64>) -> Value {
    match since {
        Some(since) => json!({"type": "subscribe", "topic": "quotes", "since": since}),
        None => json!({"type": "subscribe", "topic": "quotes"}),
    }
}

fn ws_update(seq: u64) -> Value {
    json!({"type": "update", "topic": "quotes", "seq": seq, "merge": {"n": seq}})
}

/// Two connections in turn go silent after their last update, and a third
/// carries on: the resource must leave each silent one after three
/// heartbeat periods and resume on the next with `since` at its version.
/// The second round shows that recovery is not a one-off.
#[tokio::test]
async fn a_silent_websocket_is_taken_for_dead_after_three_heartbeats_and_resumed() {
    silent_websocket_rounds(true, is_idle_error).await;
}

/// As above with the resource's own idle timer off: the WebSocket
/// connection's watch on itself is enough, and reports the silence as a
/// [`WsError`] disconnect that names it. A user of `WsSource::updates`
/// without a [`LiveResource`] relies on this one alone.
#[tokio::test]
async fn a_silent_websocket_ends_itself_after_three_heartbeats_without_the_resources_timer() {
    silent_websocket_rounds(false, is_connection_idle_error).await;
}

/// Plays the server for the two tests above, with the resource's own idle
/// timer on or off; `idle` says which reports of the silence are expected.
async fn silent_websocket_rounds(resource_timer: bool, idle: fn(&Error) -> bool) {
    let server = WsServer::start().await;
    let mut resource =
        LiveResource::<Value>::connect(server.client().source("quotes")).backoff(fast_backoff());
    if !resource_timer {
        resource = resource.idle_timeout(None);
    }
    let mut follower = Follower::spawn(resource);

    let mut peer = server.accept().await;
    assert_eq!(peer.received().await, ws_subscribe(None));
    peer.send(json!({"type": "snapshot", "topic": "quotes", "version": 5, "data": {"n": 5}}))
        .await;
    assert_eq!(follower.state_at(5).await, json!({"n": 5}));

    let mut version = 6;
    let mut quiet_since = Instant::now();
    peer.send(ws_update(version)).await;
    assert_eq!(follower.state_at(version).await, json!({"n": version}));
    for _round in 0..2 {
        // Not one more byte on `peer`, which stays open: only the
        // heartbeat promise can tell this from a quiet topic.
        expect_idle_error(&mut follower, quiet_since, version, idle).await;
        let silent = std::mem::replace(&mut peer, server.accept().await);
        assert_eq!(
            peer.received().await,
            ws_subscribe(Some(version)),
            "resumed after its last seq, with no new snapshot"
        );
        silent.hung_up_by_client().await;

        version += 1;
        quiet_since = Instant::now();
        peer.send(ws_update(version)).await;
        assert_eq!(
            follower.state_after_idle_errors(version).await,
            json!({"n": version})
        );
    }
    assert_eq!(*follower.status.borrow(), Status::Live);
}

/// The control for the test above: a connection that carries nothing but
/// heartbeats is quiet, not dead, and is kept.
#[tokio::test]
async fn websocket_heartbeats_keep_a_quiet_connection_alive() {
    let server = WsServer::start().await;
    let resource =
        LiveResource::<Value>::connect(server.client().source("quotes")).backoff(fast_backoff());
    let mut follower = Follower::spawn(resource);
    let mut peer = server.accept().await;
    assert_eq!(peer.received().await, ws_subscribe(None));
    peer.send(json!({"type": "snapshot", "topic": "quotes", "version": 5, "data": {"n": 5}}))
        .await;
    assert_eq!(follower.state_at(5).await, json!({"n": 5}));

    // Twice as long as the idle timeout, a heartbeat each third of a period.
    for _ in 0..18 {
        tokio::time::sleep(HEARTBEAT / 3).await;
        peer.send(json!({"type": "heartbeat", "topic": "quotes", "seq": 5}))
            .await;
    }
    follower.assert_quiet();
    peer.send(ws_update(6)).await;
    assert_eq!(follower.state_at(6).await, json!({"n": 6}));
    assert_eq!(*follower.status.borrow(), Status::Live);
}

// Server-Sent Events.

/// The snapshot of the fake SSE server's topic `quotes`.
const SSE_SNAPSHOT: &str = r#"{"version":5,"data":{"n":5}}"#;

/// An HTTP server for the topic `quotes`, written on raw TCP so that an
/// event stream the test stops writing to stays open, and silent. Snapshot
/// requests are answered by its own task; each event stream is answered
/// with its head and handed to the test as an [`SsePeer`].
struct SseServer {
    addr: SocketAddr,
    snapshots: Arc<AtomicUsize>,
    streams: mpsc::UnboundedReceiver<SsePeer>,
    task: JoinHandle<()>,
}

impl SseServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let snapshots = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&snapshots);
        let (handed, streams) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                let handed = handed.clone();
                tokio::spawn(async move {
                    if let Some(peer) = answer(tcp, &counted).await {
                        let _ = handed.send(peer);
                    }
                });
            }
        });
        Self {
            addr,
            snapshots,
            streams,
            task,
        }
    }

    fn source(&self) -> SseSource {
        SseSource::new(&format!("http://{}", self.addr), "quotes").heartbeat(HEARTBEAT)
    }

    async fn accept(&mut self) -> SsePeer {
        within(self.streams.recv())
            .await
            .expect("the fake server runs")
    }

    fn snapshots(&self) -> usize {
        self.snapshots.load(Ordering::SeqCst)
    }
}

impl Drop for SseServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request on `tcp`: answers a snapshot request and closes, or
/// answers an event stream request with its head only and returns it.
async fn answer(mut tcp: TcpStream, snapshots: &AtomicUsize) -> Option<SsePeer> {
    let head = tokio::time::timeout(STEP, read_head(&mut tcp))
        .await
        .ok()??;
    let mut lines = head.lines();
    let target = lines.next()?.split(' ').nth(1)?.to_owned();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    match path {
        "/live/quotes" => {
            snapshots.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{SSE_SNAPSHOT}",
                SSE_SNAPSHOT.len()
            );
            let _ = tcp.write_all(response.as_bytes()).await;
            None
        }
        "/live/quotes/events" => {
            // No length and no chunks: the body runs until the connection
            // closes, and nothing in it marks a pause as an end.
            let response = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
            tcp.write_all(response.as_bytes()).await.ok()?;
            let since = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("since="))
                .map(str::to_owned);
            Some(SsePeer {
                last_event_id: header("last-event-id"),
                since,
                tcp,
            })
        }
        _ => {
            let _ = tcp
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            None
        }
    }
}

/// The head of one HTTP message, up to its blank line; at most 16 KiB.
async fn read_head(tcp: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    // One byte at a time, so that nothing past the head is taken.
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || tcp.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

/// The server's end of one event stream, after its response head.
struct SsePeer {
    last_event_id: Option<String>,
    since: Option<String>,
    tcp: TcpStream,
}

impl SsePeer {
    async fn send(&mut self, text: &str) {
        within(self.tcp.write_all(text.as_bytes()))
            .await
            .expect("the stream is open");
    }

    async fn update(&mut self, seq: u64) {
        let update = json!({"seq": seq, "merge": {"n": seq}});
        self.send(&format!("event: update\nid: {seq}\ndata: {update}\n\n"))
            .await;
    }

    /// Waits until the client closes the stream it took for dead.
    async fn hung_up_by_client(mut self) {
        let mut buffer = [0; 1024];
        let hang_up = async {
            for _ in 0..100 {
                match self.tcp.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
            panic!("the client goes on writing on an event stream");
        };
        within(hang_up).await;
    }
}

/// As the WebSocket test, over SSE: the event stream stays open and empty
/// after its last update; the resource must give it up after three
/// heartbeat periods and reopen it with `Last-Event-ID` and `since` at its
/// version, twice, with no new snapshot.
#[tokio::test]
async fn a_silent_event_stream_is_taken_for_dead_after_three_heartbeats_and_resumed() {
    let mut server = SseServer::start().await;
    let resource = LiveResource::<Value>::connect(server.source()).backoff(fast_backoff());
    let mut follower = Follower::spawn(resource);

    let mut peer = server.accept().await;
    assert_eq!((&peer.last_event_id, &peer.since), (&None, &None));
    assert_eq!(follower.state_at(5).await, json!({"n": 5}));

    let mut version = 6;
    let mut quiet_since = Instant::now();
    peer.update(version).await;
    assert_eq!(follower.state_at(version).await, json!({"n": version}));
    for _round in 0..2 {
        expect_idle_error(&mut follower, quiet_since, version, is_idle_error).await;
        let silent = std::mem::replace(&mut peer, server.accept().await);
        let resumed = Some(version.to_string());
        assert_eq!(peer.last_event_id, resumed, "resumed after its last seq");
        assert_eq!(peer.since, resumed, "resumed after its last seq");
        silent.hung_up_by_client().await;

        version += 1;
        quiet_since = Instant::now();
        peer.update(version).await;
        assert_eq!(
            follower.state_after_idle_errors(version).await,
            json!({"n": version})
        );
    }
    assert_eq!(server.snapshots(), 1, "resumed each time, never refetched");
    assert_eq!(*follower.status.borrow(), Status::Live);
}

/// Keeps an SSE stream quiet but for `keep_alive`, sent every third of a
/// heartbeat period for six periods: the resource must neither report
/// anything nor hang up, and the next update must still arrive.
async fn assert_kept_alive_by(keep_alive: &str) {
    let mut server = SseServer::start().await;
    let resource = LiveResource::<Value>::connect(server.source()).backoff(fast_backoff());
    let mut follower = Follower::spawn(resource);
    let mut peer = server.accept().await;
    assert_eq!(follower.state_at(5).await, json!({"n": 5}));

    for _ in 0..18 {
        tokio::time::sleep(HEARTBEAT / 3).await;
        follower.assert_quiet();
        if peer.tcp.write_all(keep_alive.as_bytes()).await.is_err() {
            let seen = follower.seen().await;
            panic!("the client hung up on a stream kept alive by {keep_alive:?}: {seen:?}");
        }
    }
    follower.assert_quiet();
    peer.update(6).await;
    assert_eq!(follower.state_at(6).await, json!({"n": 6}));
    assert_eq!(*follower.status.borrow(), Status::Live);
}

/// The control for the test above: an event stream that carries nothing
/// but the crate's `heartbeat` events is quiet, not dead, and is kept.
#[tokio::test]
async fn sse_heartbeat_events_keep_a_quiet_stream_alive() {
    assert_kept_alive_by("event: heartbeat\ndata: {\"seq\":5}\n\n").await;
}

/// DESIGN's wire protocol gives SSE "comment heartbeats" (`: ping`), the
/// keep-alive most SSE servers and proxies send: a stream that carries them
/// is alive, and must not be dropped every three periods. (`SseSource` once
/// dropped comments before the resource's idle timer saw them.)
#[tokio::test]
async fn sse_comment_heartbeats_keep_a_quiet_stream_alive() {
    assert_kept_alive_by(": ping\n\n").await;
}

// A reader that stops reading, on the crate's own server.

/// One SSE event as read off the wire.
#[derive(Debug)]
enum Read {
    Update { id: u64, seq: u64 },
    Resync,
    Heartbeat,
}

/// Moves the whole chunks of a chunked body from `raw` to `body`, leaving
/// an unfinished one in `raw`; whether the last chunk came.
fn dechunk(raw: &mut Vec<u8>, body: &mut Vec<u8>) -> bool {
    loop {
        let Some(line_end) = raw.windows(2).position(|pair| pair == b"\r\n") else {
            return false;
        };
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("a chunk size");
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).expect("a hex chunk size");
        let start = line_end + 2;
        if raw.len() < start + size + 2 {
            return false;
        }
        body.extend_from_slice(&raw[start..start + size]);
        raw.drain(..start + size + 2);
        if size == 0 {
            return true;
        }
    }
}

/// Takes the complete events off the front of `text`.
fn events(text: &mut String) -> Vec<Read> {
    let mut read = Vec::new();
    while let Some(end) = text.find("\n\n") {
        let block: String = text.drain(..end + 2).collect();
        let (mut name, mut id, mut data) = ("message", None, String::new());
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim();
            } else if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim().parse::<u64>().expect("a numeric id"));
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            }
        }
        read.push(match name {
            "update" => {
                let data: Value = serde_json::from_str(&data).expect("JSON data");
                let seq = data["seq"].as_u64().expect("a seq");
                Read::Update {
                    id: id.expect("an update has an id"),
                    seq,
                }
            }
            "resync" => Read::Resync,
            "heartbeat" => Read::Heartbeat,
            other => panic!("an unknown event `{other}`: {block:?}"),
        });
    }
    read
}

/// How large each update of the stalled-reader test is. Loopback lets the
/// kernel grow the server's send buffer up to `net.ipv4.tcp_wmem`'s maximum
/// (4 MiB by default, 16 MiB on some systems; here some 3 MiB of updates fit
/// before the queue overflowed), and the server holds a little more in its
/// write buffer: 100 updates of 256 KiB, 25 MiB, are more than all of it.
const PAD_BYTES: usize = 256 * 1024;

/// A reader of `/live/ticks/events` that does not read while 100 large
/// updates are published, on a hub whose subscriber queue holds 4: the
/// socket buffers fill, the server's writes stall, and the queue overflows.
/// When it reads again, each `seq` must follow the one before, or come
/// after a `resync`: a silent skip would leave a client with a state that
/// lacks updates and no sign of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sse_reader_is_told_to_resync_and_never_skips_a_seq_silently() {
    let hub = Hub::builder().first_version(0).subscriber_queue(4).build();
    let start = hub.set("ticks", json!({"n": 0})).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = live_resource::server::router(hub.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    // A small receive buffer: what stalls the server is its own send buffer,
    // not a large window on this side.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = within(socket.connect(addr)).await.unwrap();
    let request = format!(
        "GET /live/ticks/events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = within(read_head(&mut tcp)).await.expect("a response head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );

    // The head was sent after the subscription was made: every update from
    // here on is for this reader. A pause between them lets the server write
    // what the socket takes, so the queue overflows only once it is full.
    let pad = "x".repeat(PAD_BYTES);
    for n in 1..=100 {
        hub.merge("ticks", json!({"n": n, "pad": pad})).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let last = start + 100;

    let mut raw = Vec::new();
    let mut body = Vec::new();
    let mut text = String::new();
    let mut read = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let deadline = Instant::now() + STEP;
    let reached_last = |read: &[Read]| {
        read.iter()
            .any(|event| matches!(event, Read::Update { seq, .. } if *seq == last))
    };
    for _ in 0..100_000 {
        if reached_last(&read) {
            break;
        }
        let n = tokio::time::timeout_at(deadline, tcp.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no update {last} in time; read {read:?}"))
            .unwrap();
        assert!(n > 0, "the server closed the stream; read {read:?}");
        raw.extend_from_slice(&buffer[..n]);
        assert!(!dechunk(&mut raw, &mut body), "the stream ended");
        // Events are UTF-8, but a read may end inside a character.
        let whole = match std::str::from_utf8(&body) {
            Ok(whole) => whole.len(),
            Err(error) => error.valid_up_to(),
        };
        text.push_str(std::str::from_utf8(&body[..whole]).unwrap());
        body.drain(..whole);
        read.extend(events(&mut text));
    }
    assert!(reached_last(&read), "no update {last}; read {read:?}");

    let mut at = start;
    let mut told_to_resync = false;
    let mut resyncs = 0;
    for event in &read {
        match *event {
            Read::Update { id, seq } => {
                assert_eq!(id, seq, "the event id is the seq");
                assert!(seq > at, "seq {seq} after {at}: went back; read {read:?}");
                assert!(
                    seq == at + 1 || told_to_resync,
                    "seq {seq} after {at} with no resync between: a silent skip; read {read:?}"
                );
                at = seq;
                told_to_resync = false;
            }
            Read::Resync => {
                told_to_resync = true;
                resyncs += 1;
            }
            Read::Heartbeat => {}
        }
    }
    assert_eq!(at, last);
    // Else the reader never fell behind, and the test proved nothing.
    assert!(
        resyncs >= 1,
        "the queue never overflowed: make PAD_BYTES larger; read {read:?}"
    );
    assert!(hub.stats().resyncs >= 1);
    server.abort();
}
