//! Network faults between the crate's own server and its clients.
//!
//! The server (`live_resource::server::router`) is served on a loopback port
//! behind a TCP proxy written here. On a schedule drawn from a seeded
//! generator the proxy either cuts every open connection, as a dropped link
//! would, or stalls: it stops forwarding in both directions, without closing
//! anything, for longer than three heartbeat periods, so that only idle
//! detection can notice, and then lets the held bytes through again.
//!
//! While a publisher publishes a bounded number of merge updates, some in
//! bursts and some paced, several resources follow the topic through the
//! proxy: over one shared [`WsClient`] connection, over a [`WsClient`] of its
//! own, and over [`SseSource`]; conflated and one state per update; from the
//! start and joining halfway. The guarantees checked:
//!
//! - every resource converges to exactly the hub's final snapshot (value and
//!   version);
//! - no resource ever shows a version lower than one it showed before, nor a
//!   state the hub did not have at that version;
//! - every error it yields is one it recovers from: a transport error, an
//!   idle timeout, or lost updates (gap or behind).
//!
//! The seed is printed; set `LIVE_RESOURCE_FAULT_SEED` (decimal or `0x` hex)
//! to replay a schedule.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::server::Config;
use live_resource::{Document, Error, Hub, LiveResource};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::fast_backoff;
use crate::support::rng::Rng;
use crate::support::splice::splice;

const TOPIC: &str = "ticks";

/// The server's heartbeat period, and what every client is told to expect:
/// a client that hears nothing for three of them takes its connection for
/// dead.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// A stall lasts between these (milliseconds): always longer than three
/// heartbeat periods, so that idle detection, and nothing else, must end it.
const STALL_MS: (u64, u64) = (450, 750);

/// Quiet time between two faults (milliseconds), so that the resources are
/// live again, most of the time, when the next fault hits them.
const BETWEEN_FAULTS_MS: (u64, u64) = (120, 350);

/// How many updates the publisher makes before the final one.
const UPDATES: u64 = 300;

/// At most this many faults in one run, whatever the timing.
const MAX_FAULTS: u32 = 40;

/// At most this many items read from one resource.
const MAX_ITEMS: usize = 100_000;

/// How long the resources have to converge once the faults stop.
const CONVERGE_WITHIN: Duration = Duration::from_secs(15);

/// The seed when `LIVE_RESOURCE_FAULT_SEED` is not set.
const DEFAULT_SEED: u64 = 0x6e65_7466_6175_6c74;

fn seed() -> u64 {
    Rng::seed_from_env(DEFAULT_SEED)
}

/// A TCP proxy whose connections can be cut all at once, or stalled: while
/// stalled it forwards nothing in either direction and closes nothing, as a
/// link that silently drops every packet would, and new connections are
/// accepted but get no further. Bytes read just before a stall are held and
/// sent when it ends.
struct Proxy {
    addr: SocketAddr,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    flowing: watch::Sender<bool>,
    accepted: Arc<AtomicUsize>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flowing, flow) = watch::channel(true);
        let accepted = Arc::new(AtomicUsize::new(0));
        let held = Arc::clone(&pipes);
        let counted = Arc::clone(&accepted);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::Relaxed);
                let pipe = tokio::spawn(pipe(client, upstream, flow.clone()));
                let mut held = held.lock().unwrap();
                held.retain(|pipe| !pipe.is_finished());
                held.push(pipe);
            }
        });
        Self {
            addr,
            pipes,
            flowing,
            accepted,
            accepting,
        }
    }

    /// Cuts every open connection; says how many there were.
    fn cut(&self) -> usize {
        let mut pipes = self.pipes.lock().unwrap();
        let open = pipes.iter().filter(|pipe| !pipe.is_finished()).count();
        for pipe in pipes.drain(..) {
            pipe.abort();
        }
        open
    }

    fn stall(&self) {
        self.flowing.send_replace(false);
    }

    fn resume(&self) {
        self.flowing.send_replace(true);
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// One proxied connection. When either direction ends, both sockets close,
/// as they do when a connection drops.
async fn pipe(client: TcpStream, upstream: SocketAddr, flowing: watch::Receiver<bool>) {
    let Some(ends) = splice(client, upstream).await else {
        return;
    };
    tokio::select! {
        () = forward(ends.from_client, ends.to_server, flowing.clone()) => {}
        () = forward(ends.from_server, ends.to_client, flowing) => {}
    }
}

/// Copies `from` to `to`, waiting whenever the proxy is stalled: before each
/// read, and again before writing what was read.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if flowing.wait_for(|flowing| *flowing).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if flowing.wait_for(|flowing| *flowing).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// What the fault schedule did.
#[derive(Debug, Default)]
struct Faults {
    cuts: u32,
    connections_cut: usize,
    stalls: u32,
}

/// Injects faults until `stop` is set and at least one fault of each kind
/// has happened, or [`MAX_FAULTS`] is reached. Ends with the proxy flowing.
async fn inject_faults(proxy: Arc<Proxy>, seed: u64, stop: Arc<AtomicBool>) -> Faults {
    let mut rng = Rng::new(seed);
    let mut faults = Faults::default();
    for _ in 0..MAX_FAULTS {
        let both_kinds = faults.cuts > 0 && faults.stalls > 0;
        if stop.load(Ordering::SeqCst) && both_kinds {
            break;
        }
        tokio::time::sleep(rng.millis(BETWEEN_FAULTS_MS)).await;
        if rng.below(5) < 3 {
            faults.cuts += 1;
            faults.connections_cut += proxy.cut();
        } else {
            faults.stalls += 1;
            proxy.stall();
            tokio::time::sleep(rng.millis(STALL_MS)).await;
            proxy.resume();
        }
    }
    proxy.resume();
    faults
}

/// The `i`th merge update: deep merges into `nested`, deletions with `null`,
/// and `n` so that every update changes the state (the hub publishes no
/// update that changes nothing).
fn change(i: u64, rng: &mut Rng) -> Value {
    let key = format!("k{}", rng.below(8));
    match rng.below(10) {
        0..=5 => json!({ "n": i, key: i }),
        6..=7 => json!({ "n": i, "nested": { key: { "at": i } } }),
        8 => json!({ "n": i, key: null }),
        _ => json!({ "n": i, "nested": { key: null } }),
    }
}

/// What one resource showed, checked once the run is over.
#[derive(Debug, Default)]
struct Followed {
    name: &'static str,
    /// Every state yielded, with the resource's version right after it.
    states: Vec<(u64, Value)>,
    /// Errors by kind.
    transport: usize,
    idle: usize,
    gaps: usize,
    /// Errors of a kind a resilient resource should never yield here.
    unexpected: Vec<String>,
    /// Where the resource ended.
    version: Option<u64>,
    json: Option<Value>,
}

/// Reads `resource` until it reaches the final version, once `last` knows
/// it, recording every state and error.
async fn follow(
    name: &'static str,
    mut resource: LiveResource<Value>,
    last: Arc<AtomicU64>,
) -> Followed {
    let mut followed = Followed {
        name,
        ..Followed::default()
    };
    for _ in 0..MAX_ITEMS {
        // The final version is known before it is published, so a resource
        // that has not reached it yet still has a state to wait for.
        let last = last.load(Ordering::SeqCst);
        if resource.version() == Some(last) {
            break;
        }
        match resource.next().await {
            Some(Ok(state)) => {
                let version = resource.version().expect("the hub numbers its states");
                followed.states.push((version, state));
            }
            Some(Err(error)) => {
                if matches!(error, Error::IdleTimeout { .. }) {
                    followed.idle += 1;
                } else if error.is_transport() {
                    followed.transport += 1;
                } else if error.is_gap() {
                    followed.gaps += 1;
                } else {
                    followed.unexpected.push(format!("{error:?}"));
                }
            }
            None => panic!("{name}: a resilient resource ended"),
        }
    }
    followed.version = resource.version();
    followed.json = resource.json().map(Document::to_value);
    followed
}

fn ws_resource(client: &WsClient) -> LiveResource<Value> {
    LiveResource::connect(client.source(TOPIC)).backoff(fast_backoff())
}

fn sse_resource(base: &str) -> LiveResource<Value> {
    LiveResource::connect(SseSource::new(base, TOPIC).heartbeat(HEARTBEAT)).backoff(fast_backoff())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resources_over_ws_and_sse_converge_through_cuts_and_stalls() {
    let seed = seed();
    println!("seed = {seed:#x} (replay with LIVE_RESOURCE_FAULT_SEED={seed:#x})");
    let started = Instant::now();

    // A small replay ring: a stall during a burst outlasts it, so resuming
    // sometimes works and sometimes needs a new snapshot.
    let hub = Hub::builder().first_version(0).replay(32).build();
    let first = hub.set(TOPIC, json!({"n": 0, "nested": {}})).unwrap();
    let mut history = BTreeMap::from([(first, hub.snapshot(TOPIC).unwrap().data)]);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let app =
        live_resource::server::router_with(hub.clone(), Config::default().heartbeat(HEARTBEAT));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let proxy = Arc::new(Proxy::start(upstream).await);
    let ws_url = format!("ws://{}/live/ws", proxy.addr);
    let http_url = format!("http://{}", proxy.addr);

    let last = Arc::new(AtomicU64::new(u64::MAX));
    let spawn = |name, resource| tokio::spawn(follow(name, resource, Arc::clone(&last)));
    // Two resources on one client share its connection and its one server
    // subscription to the topic.
    let shared = WsClient::new(&ws_url).heartbeat(HEARTBEAT);
    let mut followers = vec![
        spawn("ws/every", ws_resource(&shared).every_state()),
        spawn("ws/latest", ws_resource(&shared)),
        spawn("sse/every", sse_resource(&http_url).every_state()),
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let faults = tokio::spawn(inject_faults(Arc::clone(&proxy), seed, Arc::clone(&stop)));

    // One writer, so the snapshot right after a publish is at its version.
    let mut rng = Rng::new(seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
    for i in 1..=UPDATES {
        let version = hub.merge(TOPIC, change(i, &mut rng)).unwrap();
        let snapshot = hub.snapshot(TOPIC).unwrap();
        assert_eq!(snapshot.version, Some(version));
        history.insert(version, snapshot.data);
        if i == UPDATES / 2 {
            let own = WsClient::new(&ws_url).heartbeat(HEARTBEAT);
            followers.push(spawn("ws/late", ws_resource(&own).every_state()));
            followers.push(spawn("sse/late", sse_resource(&http_url)));
        }
        // Bursts (several updates in the same instant) and pauses.
        match rng.below(10) {
            0..=4 => {}
            5..=8 => tokio::time::sleep(rng.millis((2, 12))).await,
            _ => tokio::time::sleep(rng.millis((40, 120))).await,
        }
    }
    stop.store(true, Ordering::SeqCst);
    let faults = faults.await.unwrap();

    // Heard of by every follower before it is published: see `follow`.
    let final_version = *history.keys().next_back().unwrap() + 1;
    last.store(final_version, Ordering::SeqCst);
    assert_eq!(
        hub.merge(TOPIC, json!({"done": true})).unwrap(),
        final_version
    );
    let last = hub.snapshot(TOPIC).unwrap();
    history.insert(final_version, last.data.clone());

    let deadline = tokio::time::Instant::now() + CONVERGE_WITHIN;
    let mut results = Vec::new();
    for follower in followers {
        let followed = tokio::time::timeout_at(deadline, follower)
            .await
            .unwrap_or_else(|_| panic!("every resource converges within {CONVERGE_WITHIN:?}"))
            .unwrap();
        results.push(followed);
    }

    let (mut idle, mut transport, mut gaps) = (0, 0, 0);
    for followed in &results {
        let name = followed.name;
        println!(
            "{name}: {} states, errors: {} transport, {} idle, {} gap",
            followed.states.len(),
            followed.transport,
            followed.idle,
            followed.gaps
        );
        idle += followed.idle;
        transport += followed.transport;
        gaps += followed.gaps;
        assert!(
            followed.unexpected.is_empty(),
            "{name}: errors a resilient resource should recover from silently or not meet: {:?}",
            followed.unexpected
        );
        assert_eq!(followed.version, last.version, "{name}: the final version");
        assert_eq!(
            followed.json.as_ref(),
            Some(&last.data),
            "{name}: the final state"
        );
        let mut previous = 0;
        for (version, state) in &followed.states {
            assert!(
                *version >= previous,
                "{name}: version {version} after {previous}"
            );
            previous = *version;
            assert_eq!(
                Some(state),
                history.get(version),
                "{name}: the hub's state at version {version}"
            );
        }
    }
    println!(
        "faults: {} cuts ({} connections), {} stalls; {} connections accepted; \
         errors: {transport} transport, {idle} idle, {gaps} gap; {:?}",
        faults.cuts,
        faults.connections_cut,
        faults.stalls,
        proxy.accepted(),
        started.elapsed()
    );
    assert!(faults.cuts > 0 && faults.stalls > 0, "{faults:?}");
    assert!(idle > 0, "a stall longer than three heartbeats is detected");
    server.abort();
}
