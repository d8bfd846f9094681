//! Updates lost or torn between the crate's own server and its clients.
//!
//! TCP neither loses nor tears a message, but what carries one can: a proxy
//! or balancer that drops a WebSocket frame or an SSE event, a connection
//! that dies halfway through a frame. Here the server
//! (`live_resource::server::router`) is served behind a proxy that reads the
//! protocol it forwards (HTTP heads, chunked bodies, WebSocket frames) and,
//! on purpose, loses or tears the first frame or event that carries a chosen
//! update. The guarantees checked:
//!
//! - a lost update is a gap, never a skip: the resource reports it, resumes
//!   from the last version it applied, and shows every later version (on the
//!   WebSocket, over the connection it already has);
//! - a lost last update, with nothing after it to reveal it, is revealed by
//!   the next heartbeat;
//! - losses past the server's replay ring end in a new snapshot;
//! - a frame or event torn by a dying connection is never applied, in whole
//!   or in part: the resource reconnects and resumes from the last whole one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::server::Config;
use live_resource::{Error, Hub, LiveResource};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::fast_backoff;
use crate::support::splice::splice;

const TOPIC: &str = "ticks";

/// The server's heartbeat period, and what every client expects, where a
/// heartbeat is to reveal a loss: long enough that a busy machine does not
/// take a live connection for dead (after three periods).
const HEARTBEAT: Duration = Duration::from_millis(500);

/// A heartbeat period no test lasts: only updates reveal a loss.
const NO_HEARTBEAT: Duration = Duration::from_secs(60);

/// How long, in [`Pace::Lockstep`], the publisher waits for a state before
/// it takes it for lost, where only the next update reveals a loss: long
/// enough for a busy machine to finish resuming after the loss before.
/// Where heartbeats reveal losses, it waits five heartbeat periods instead,
/// so that a heartbeat, not the next update, reveals each one.
const PATIENCE: Duration = Duration::from_secs(1);

/// How many updates each test publishes.
const UPDATES: u64 = 20;

/// At most this many items read from one resource.
const MAX_ITEMS: usize = 1_000;

/// How long a resource has to reach the last version.
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ proxy

/// What the proxy does to the first frame or event that carries one of the
/// chosen updates. Each update is lost or torn once: when the resource asks
/// for it again, it goes through.
#[derive(Debug, Default)]
struct Plan {
    lose: Mutex<BTreeSet<u64>>,
    tear: Mutex<BTreeSet<u64>>,
    lost: AtomicUsize,
    torn: AtomicUsize,
}

enum Fate {
    Pass,
    Lose,
    Tear,
}

impl Plan {
    fn new(lose: impl IntoIterator<Item = u64>, tear: impl IntoIterator<Item = u64>) -> Arc<Self> {
        Arc::new(Self {
            lose: Mutex::new(lose.into_iter().collect()),
            tear: Mutex::new(tear.into_iter().collect()),
            ..Self::default()
        })
    }

    fn fate(&self, seq: u64) -> Fate {
        if self.lose.lock().unwrap().remove(&seq) {
            self.lost.fetch_add(1, Ordering::SeqCst);
            Fate::Lose
        } else if self.tear.lock().unwrap().remove(&seq) {
            self.torn.fetch_add(1, Ordering::SeqCst);
            Fate::Tear
        } else {
            Fate::Pass
        }
    }

    /// Whether every chosen update met its fate.
    fn done(&self) -> bool {
        self.lose.lock().unwrap().is_empty() && self.tear.lock().unwrap().is_empty()
    }
}

/// A TCP proxy that forwards what the client sends as it is, and reads what
/// the server sends unit by unit (a response head, a run of body bytes, a
/// chunk, a WebSocket frame) so that it can lose or tear the ones that carry
/// an update its [`Plan`] names.
struct Proxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, plan: Arc<Plan>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (counted, held) = (Arc::clone(&accepted), Arc::clone(&pipes));
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let pipe = tokio::spawn(pipe(client, upstream, Arc::clone(&plan)));
                held.lock().unwrap().push(pipe);
            }
        });
        Self {
            addr,
            accepted,
            pipes,
            accepting,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }
}

/// One proxied connection. When either direction ends, both sockets close.
async fn pipe(client: TcpStream, upstream: SocketAddr, plan: Arc<Plan>) {
    let Some(mut ends) = splice(client, upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy(&mut ends.from_client, &mut ends.to_server) => {}
        () = downstream(ends.from_server, ends.to_client, plan) => {}
    }
}

/// Forwards what the server sends one whole unit at a time, losing or
/// tearing (half of it, then the connection closes) the units the plan
/// names.
async fn downstream(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, plan: Arc<Plan>) {
    let mut pending = Vec::new();
    let mut reading = Reading::Head;
    let mut buffer = vec![0; 16 * 1024];
    loop {
        while let Some(unit) = reading.next(&pending) {
            let bytes = &pending[..unit.len];
            match unit.update.map_or(Fate::Pass, |seq| plan.fate(seq)) {
                Fate::Pass => {
                    if to.write_all(bytes).await.is_err() {
                        return;
                    }
                }
                Fate::Lose => {}
                Fate::Tear => {
                    let _ = to.write_all(&bytes[..unit.len / 2]).await;
                    return;
                }
            }
            pending.drain(..unit.len);
            reading = unit.then;
        }
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => pending.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Where the proxy is in what the server sends.
#[derive(Clone, Copy, Debug)]
enum Reading {
    /// A response head, up to its blank line.
    Head,
    /// This many more bytes of a body (`usize::MAX`: until the end).
    Body(usize),
    /// A chunked body (an SSE stream).
    Chunks,
    /// WebSocket frames, after a `101`.
    Frames,
}

/// A whole unit at the front of what the server sent: its length, the
/// update it carries, and what comes after it.
struct Unit {
    len: usize,
    update: Option<u64>,
    then: Reading,
}

impl Reading {
    fn next(self, pending: &[u8]) -> Option<Unit> {
        match self {
            Reading::Head => {
                let end = find(pending, b"\r\n\r\n")? + 4;
                let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                let status = head.split(' ').nth(1).unwrap_or_default();
                let then = if status == "101" {
                    Reading::Frames
                } else if status.starts_with('1') || status == "204" || status == "304" {
                    // No body, whatever the headers say.
                    Reading::Head
                } else if head.contains("transfer-encoding: chunked") {
                    Reading::Chunks
                } else {
                    match header(&head, "content-length").map(str::parse::<usize>) {
                        Some(Ok(0)) => Reading::Head,
                        Some(Ok(length)) => Reading::Body(length),
                        _ => Reading::Body(usize::MAX),
                    }
                };
                Some(Unit {
                    len: end,
                    update: None,
                    then,
                })
            }
            Reading::Body(left) => {
                let len = left.min(pending.len());
                let then = match left {
                    usize::MAX => Reading::Body(usize::MAX),
                    _ if len == left => Reading::Head,
                    _ => Reading::Body(left - len),
                };
                (len > 0).then_some(Unit {
                    len,
                    update: None,
                    then,
                })
            }
            Reading::Chunks => {
                let line = find(pending, b"\r\n")?;
                let size = std::str::from_utf8(&pending[..line])
                    .ok()
                    .and_then(|line| line.split(';').next())
                    .and_then(|size| usize::from_str_radix(size.trim(), 16).ok())
                    .unwrap_or_else(|| panic!("a chunk size: {:?}", &pending[..line]));
                let len = line + 2 + size + 2;
                if pending.len() < len {
                    return None;
                }
                let data = &pending[line + 2..line + 2 + size];
                Some(Unit {
                    len,
                    update: sse_update(data),
                    then: if size == 0 {
                        Reading::Head
                    } else {
                        Reading::Chunks
                    },
                })
            }
            Reading::Frames => {
                let (&first, rest) = pending.split_first()?;
                let &second = rest.first()?;
                let (head, size) = match second & 0x7f {
                    126 => (
                        4,
                        u64::from(u16::from_be_bytes(pending.get(2..4)?.try_into().ok()?)),
                    ),
                    127 => (10, u64::from_be_bytes(pending.get(2..10)?.try_into().ok()?)),
                    size => (2, u64::from(size)),
                };
                assert_eq!(second & 0x80, 0, "a server's frames are never masked");
                let len = head + usize::try_from(size).unwrap();
                if pending.len() < len {
                    return None;
                }
                // A whole text frame (FIN set, opcode 1).
                let update = (first == 0x81)
                    .then(|| ws_update(&pending[head..len]))
                    .flatten();
                Some(Unit {
                    len,
                    update,
                    then: Reading::Frames,
                })
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The value of header `name` in a lower-cased response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then_some(value.trim())
    })
}

/// The update a WebSocket text message carries, if it is one.
fn ws_update(payload: &[u8]) -> Option<u64> {
    let message: Value = serde_json::from_slice(payload).ok()?;
    (message["type"] == "update").then(|| message["seq"].as_u64())?
}

/// The update an SSE chunk carries: its `event: update`'s `id`.
fn sse_update(data: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(data).ok()?;
    if !text.lines().any(|line| line == "event: update") {
        return None;
    }
    text.lines()
        .find_map(|line| line.strip_prefix("id: ")?.parse().ok())
}

// ------------------------------------------------------------------ setup

/// How the publisher paces its updates.
#[derive(Clone, Copy)]
enum Pace {
    /// A little apart, whatever the resource does.
    Steady,
    /// Each once the resource shows the one before, or after this long
    /// without it (it was lost): a loss is then revealed by the next update
    /// or the next heartbeat, whichever comes first, and never covered by
    /// the resumption after an earlier one.
    Lockstep(Duration),
}

#[derive(Clone, Copy)]
enum Transport {
    WebSocket,
    Sse,
}

/// One run: a hub that keeps the last `replay` updates, served with
/// heartbeats `heartbeat` apart behind a [`Proxy`], and one resource (every
/// state) over `transport` that follows updates 1 to [`UPDATES`] published
/// at `pace`.
struct Scenario {
    transport: Transport,
    replay: usize,
    heartbeat: Duration,
    pace: Pace,
}

/// What the resource of a [`Scenario`] showed.
#[derive(Debug)]
struct Outcome {
    /// The version of each state shown.
    versions: Vec<u64>,
    /// Each error, in short: see [`short`].
    errors: Vec<String>,
    /// How many connections the proxy accepted.
    connections: usize,
}

impl Scenario {
    fn new(transport: Transport) -> Self {
        Self {
            transport,
            replay: 64,
            heartbeat: NO_HEARTBEAT,
            pace: Pace::Lockstep(PATIENCE),
        }
    }

    /// Plays the scenario with the proxy following `plan`. Checks that every
    /// chosen update met its fate, and that every state shown is the hub's
    /// state at its version, versions never going back.
    async fn play(self, plan: Arc<Plan>) -> Outcome {
        let hub = Hub::builder().first_version(0).replay(self.replay).build();
        assert_eq!(hub.set(TOPIC, json!({"n": 0, "ticks": {}})).unwrap(), 0);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let config = Config::default().heartbeat(self.heartbeat);
        let app = live_resource::server::router_with(hub.clone(), config);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let proxy = Proxy::start(upstream, Arc::clone(&plan)).await;

        let resource = match self.transport {
            Transport::WebSocket => {
                let url = format!("ws://{}/live/ws", proxy.addr);
                let client = WsClient::new(url).heartbeat(self.heartbeat);
                LiveResource::connect(client.source(TOPIC))
            }
            Transport::Sse => {
                let base = format!("http://{}", proxy.addr);
                LiveResource::connect(SseSource::new(&base, TOPIC).heartbeat(self.heartbeat))
            }
        };
        let resource = resource.backoff(fast_backoff()).every_state();
        let (states, errors, history) = run(&hub, resource, self.pace).await;
        server.abort();

        assert!(plan.done(), "every chosen update met its fate: {plan:?}");
        let mut previous = 0;
        for (version, state) in &states {
            assert!(*version >= previous, "version {version} after {previous}");
            previous = *version;
            assert_eq!(Some(state), history.get(version), "the state at {version}");
        }
        let outcome = Outcome {
            versions: states.iter().map(|(version, _)| *version).collect(),
            errors: errors.iter().map(short).collect(),
            connections: proxy.accepted(),
        };
        println!("{outcome:?}");
        outcome
    }
}

/// An error in short: `gap 3..13` (expected 3, received 13), `behind 9..10`
/// (at 9, the server at 10), `transport`, or its debug form.
fn short(error: &Error) -> String {
    match error {
        Error::Gap { expected, received } => format!("gap {expected}..{received}"),
        Error::Behind { version, sent } => format!("behind {version}..{sent}"),
        error if error.is_transport() => "transport".to_owned(),
        error => format!("{error:?}"),
    }
}

/// Every version from 0 to [`UPDATES`], once each, in order.
fn every_version() -> Vec<u64> {
    (0..=UPDATES).collect()
}

/// Publishes updates 1 to [`UPDATES`] at `pace`, `shown` being the last
/// version the resource showed; the hub's state after each, by version.
async fn publish(hub: Hub, pace: Pace, mut shown: watch::Receiver<u64>) -> BTreeMap<u64, Value> {
    let mut history = BTreeMap::from([(0, hub.snapshot(TOPIC).unwrap().data)]);
    for i in 1..=UPDATES {
        match pace {
            Pace::Steady => tokio::time::sleep(Duration::from_millis(2)).await,
            Pace::Lockstep(patience) => {
                let previous = shown.wait_for(|&version| version + 1 >= i);
                let _ = tokio::time::timeout(patience, previous).await;
            }
        }
        let key = format!("k{}", i % 3);
        let version = hub
            .merge(TOPIC, json!({"n": i, "ticks": {key: i}}))
            .unwrap();
        assert_eq!(version, i);
        history.insert(version, hub.snapshot(TOPIC).unwrap().data);
    }
    history
}

type States = Vec<(u64, Value)>;

/// Follows `resource` from its first state, while the updates are published
/// at `pace`, to version [`UPDATES`]: the states it showed with their
/// versions, its errors, and the hub's history.
async fn run(
    hub: &Hub,
    mut resource: LiveResource<Value>,
    pace: Pace,
) -> (States, Vec<Error>, BTreeMap<u64, Value>) {
    let (mut states, mut errors) = (Vec::new(), Vec::new());
    let (shown, watching) = watch::channel(0);
    let mut publisher = None;
    let reading = async {
        for _ in 0..MAX_ITEMS {
            match resource.next().await.expect("a resilient resource goes on") {
                Ok(state) => {
                    let version = resource.version().expect("the hub numbers its states");
                    shown.send_replace(version);
                    states.push((version, state));
                    if version == UPDATES {
                        return;
                    }
                    // Published once the first state, the snapshot, is in.
                    publisher.get_or_insert_with(|| {
                        tokio::spawn(publish(hub.clone(), pace, watching.clone()))
                    });
                }
                Err(error) => errors.push(error),
            }
        }
        panic!("no version {UPDATES} in {MAX_ITEMS} items");
    };
    tokio::time::timeout(CONVERGE_WITHIN, reading)
        .await
        .unwrap_or_else(|_| panic!("version {UPDATES} within {CONVERGE_WITHIN:?}"));
    let history = publisher.expect("published").await.unwrap();
    (states, errors, history)
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn lost_websocket_frames_are_gaps_resumed_over_the_same_connection() {
    // Lost alone, and two in a row; no heartbeat: the next update reveals
    // each loss.
    let outcome = Scenario::new(Transport::WebSocket)
        .play(Plan::new([3, 7, 8], []))
        .await;

    assert_eq!(outcome.versions, every_version());
    assert_eq!(outcome.errors, ["gap 3..4", "gap 7..9"], "each loss once");
    assert_eq!(outcome.connections, 1, "resumed over the same connection");
}

#[tokio::test]
async fn a_lost_websocket_frame_with_no_update_after_it_is_revealed_by_the_heartbeat() {
    // The last update has nothing after it but heartbeats, which carry the
    // server's `seq`; the publisher waits for each state five heartbeat
    // periods.
    let outcome = Scenario {
        heartbeat: HEARTBEAT,
        pace: Pace::Lockstep(5 * HEARTBEAT),
        ..Scenario::new(Transport::WebSocket)
    }
    .play(Plan::new([10, UPDATES], []))
    .await;

    assert_eq!(outcome.versions, every_version());
    assert_eq!(outcome.errors, ["behind 9..10", "behind 19..20"]);
    assert_eq!(outcome.connections, 1, "resumed over the same connection");
}

#[tokio::test]
async fn losses_past_the_replay_ring_take_a_new_snapshot_over_the_same_connection() {
    // The ring keeps 4 updates: when update 13 reveals that 3 to 12 were
    // lost, the server cannot replay from 2 any more.
    let outcome = Scenario {
        replay: 4,
        pace: Pace::Steady,
        ..Scenario::new(Transport::WebSocket)
    }
    .play(Plan::new(3..=12, []))
    .await;

    assert!(
        outcome
            .versions
            .iter()
            .all(|version| !(3..=12).contains(version)),
        "no lost version shown: the new snapshot, taken after them, skips them"
    );
    assert_eq!(outcome.errors, ["gap 3..13"]);
    assert_eq!(
        outcome.connections, 1,
        "the new snapshot came over the same connection"
    );
}

#[tokio::test]
async fn a_websocket_frame_torn_by_a_dying_connection_is_never_applied() {
    let outcome = Scenario::new(Transport::WebSocket)
        .play(Plan::new([], [5, 12]))
        .await;

    assert_eq!(outcome.versions, every_version());
    assert_eq!(
        outcome.errors,
        ["transport", "transport"],
        "a torn frame is a dropped connection, not a malformed message"
    );
    assert_eq!(
        outcome.connections, 3,
        "one connection, and one after each tear"
    );
}

#[tokio::test]
async fn sse_events_lost_or_torn_are_resumed_and_never_applied_in_part() {
    // A loss the next update or a heartbeat reveals (whichever comes
    // first), a torn event, and a loss only a heartbeat can reveal.
    let outcome = Scenario {
        heartbeat: HEARTBEAT,
        pace: Pace::Lockstep(5 * HEARTBEAT),
        ..Scenario::new(Transport::Sse)
    }
    .play(Plan::new([3, UPDATES], [9]))
    .await;

    assert_eq!(outcome.versions, every_version());
    let [first, torn, last] = &outcome.errors[..] else {
        panic!("one error for each: {outcome:?}");
    };
    assert!(
        ["gap 3..4", "behind 2..3"].contains(&first.as_str()),
        "{first}"
    );
    assert_eq!(torn, "transport");
    assert_eq!(last, "behind 19..20");
}
