//! Three node processes on one Redis, each serving WebSocket, SSE and
//! Socket.IO clients and publishing; one is killed with SIGKILL mid-stream.
//! Its clients resume on the others (through a balancer that prefers their
//! node, as a load balancer would), and every state any client shows is the
//! topic's state at that version.
//!
//! The nodes are this test binary run again: `node_process_when_spawned`
//! serves a node when the environment says so, and does nothing otherwise.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use live_resource::client::socketio::SocketIoClient;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::redis::RedisHub;
use live_resource::server::Config;
use live_resource::source::Source;
use live_resource::{LiveResource, Update};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::redis_server::RedisServer;
use crate::support::follower::Follower;
use crate::support::rng::Rng;
use crate::support::{fast_backoff, within};

const TOPIC: &str = "orders";
const NODE_REDIS: &str = "LIVE_RESOURCE_TEST_NODE_REDIS";
const NODE_ID: &str = "LIVE_RESOURCE_TEST_NODE_ID";
const HEARTBEAT: Duration = Duration::from_millis(300);
/// Updates each node publishes.
const PER_NODE: u64 = 150;

/// A node, when run as one (see the module docs): serves the Redis hub on a
/// free port, prints `listening <port>`, publishes `PER_NODE` updates when
/// it reads `go`, prints `done`, and exits when its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_process_when_spawned() {
    let (Ok(url), Ok(id)) = (std::env::var(NODE_REDIS), std::env::var(NODE_ID)) else {
        return;
    };
    let hub = RedisHub::builder(url)
        .retain(100_000)
        .connect()
        .await
        .unwrap();
    let config = Config::default().heartbeat(HEARTBEAT);
    let (layer, _io) = live_resource::socketio::layer_with(hub.hub().clone(), config.clone());
    let app = live_resource::server::router_with(hub.hub().clone(), config).layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening {}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Ok(Some(line)) = lines.next_line().await {
        if line == "go" {
            for n in 1..=PER_NODE {
                hub.merge(TOPIC, json!({"by": {&id: n}, "last": &id}))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            println!("done");
        }
    }
    std::process::exit(0);
}

/// A node process: killed when dropped.
struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Node {
    fn spawn(redis: &RedisServer, id: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "processes::node_process_when_spawned",
                "--nocapture",
            ])
            .args(["--test-threads", "1", "--quiet"])
            .env(NODE_REDIS, redis.url())
            .env(NODE_ID, id.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut node = Self {
            child,
            stdin,
            lines,
            addr: ([127, 0, 0, 1], 0).into(),
        };
        let port = node.expect_line("listening ");
        node.addr.set_port(port.parse().unwrap());
        node
    }

    /// Waits for a line that starts with `prefix`; the rest of it.
    fn expect_line(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("the node did not say `{prefix}`"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    fn go(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "go").unwrap();
        stdin.flush().unwrap();
    }

    fn kill(&mut self) {
        // SIGKILL: nothing of the node runs after it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        drop(self.stdin.take());
        self.kill();
    }
}

/// A balancer on a free port: each connection goes to the first of
/// `backends` that accepts it.
async fn balancer(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let backends = backends.clone();
            tokio::spawn(async move {
                for backend in backends {
                    if let Ok(mut upstream) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A resource that yields every state, reconnecting fast.
fn every_state(source: impl Source + 'static) -> Follower {
    Follower::spawn(
        LiveResource::<Value>::connect(source)
            .backoff(fast_backoff())
            .every_state(),
    )
}

/// Every client of one node, over each transport.
fn clients(addr: SocketAddr) -> Vec<(String, Follower)> {
    let ws = WsClient::new(format!("ws://{addr}/live/ws")).heartbeat(HEARTBEAT);
    let sse = SseSource::new(&format!("http://{addr}"), TOPIC).heartbeat(HEARTBEAT);
    let socketio = SocketIoClient::new(format!("http://{addr}"))
        .ping(Duration::from_secs(1), Duration::from_secs(1));
    vec![
        ("ws".to_owned(), every_state(ws.source(TOPIC))),
        ("sse".to_owned(), every_state(sse)),
        ("socketio".to_owned(), every_state(socketio.topic(TOPIC))),
    ]
}

/// The topic's state at every version, from the first state and the log.
fn history(redis: &RedisServer, first: u64, initial: Value) -> BTreeMap<u64, Value> {
    let mut states = BTreeMap::from([(first, initial.clone())]);
    let mut state = initial;
    let log = redis.cli(&["--no-raw", "XRANGE", "lr:{orders}:log", "-", "+"]);
    for line in log.lines() {
        // `--no-raw` quotes each value: the updates are the lines with `seq`.
        let Some(start) = line.find("\"{") else {
            continue;
        };
        let quoted = &line[start..];
        let text: String = serde_json::from_str(quoted).unwrap();
        let update: Update = serde_json::from_str(&text).unwrap();
        update.patch.apply(&mut state).unwrap();
        states.insert(update.seq.unwrap(), state.clone());
    }
    states
}

/// Seeds run one after the other: each picks the node to kill and when.
const SEEDS: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_its_clients_nothing() {
    let base = Rng::seed_from_env(0x05ee_d0f4_ed15);
    for seed in base..base + SEEDS {
        println!("seed = {seed:#x} (replay with LIVE_RESOURCE_FAULT_SEED={seed:#x})");
        let Some(redis) = RedisServer::start() else {
            return;
        };
        kill_a_node(&redis, seed).await;
    }
}

async fn kill_a_node(redis: &RedisServer, seed: u64) {
    let mut rng = Rng::new(seed);
    let creator = RedisHub::builder(redis.url())
        .retain(100_000)
        .connect()
        .await
        .unwrap();
    let initial = json!({"by": {}, "last": null});
    let first = creator.set(TOPIC, &initial).await.unwrap();

    let mut nodes: Vec<Node> = (0..3).map(|id| Node::spawn(redis, id)).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|node| node.addr).collect();
    let mut followers = Vec::new();
    for home in 0..3 {
        let order = (0..3).map(|i| addrs[(home + i) % 3]).collect();
        for (transport, follower) in clients(balancer(order).await) {
            followers.push((format!("node {home} {transport}"), follower));
        }
    }
    for (_, follower) in &mut followers {
        let (state, version) = within(follower.next_state()).await;
        assert_eq!((state, version), (initial.clone(), Some(first)));
    }

    for node in &mut nodes {
        node.go();
    }
    let victim = rng.below(3) as usize;
    tokio::time::sleep(rng.millis((50, 400))).await;
    nodes[victim].kill();
    println!("killed node {victim}");
    for (id, node) in nodes.iter().enumerate() {
        if id != victim {
            node.expect_line("done");
        }
    }
    let last = creator.snapshot(TOPIC).await.unwrap().unwrap();
    let states = history(redis, first, initial);
    let last_version = last.version.unwrap();
    assert_eq!(
        states.keys().next_back(),
        Some(&last_version),
        "the log has every update"
    );
    assert_eq!(states[&last_version], last.data);

    for (name, follower) in &mut followers {
        let (mut previous, mut states_seen, mut errors) = (first, 0, 0);
        loop {
            let seen = within(follower.seen()).await;
            match seen.item {
                Ok(state) => {
                    let version = seen.version.unwrap();
                    assert!(
                        version >= previous,
                        "{name}: went back from {previous} to {version}"
                    );
                    assert_eq!(
                        Some(&state),
                        states.get(&version),
                        "{name}: the state at {version} is not the topic's"
                    );
                    previous = version;
                    states_seen += 1;
                    if version == last_version {
                        break;
                    }
                }
                Err(error) => {
                    assert!(!error.is_gap(), "{name}: {error}");
                    errors += 1;
                }
            }
        }
        println!("{name}: {states_seen} states, {errors} transport errors");
        assert_eq!(
            states_seen,
            states.len() - 1,
            "{name}: every state once, none lost"
        );
    }
}
