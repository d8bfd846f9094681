//! A real browser: headless Chromium loads the dashboard page, which follows
//! every service through the crate's own browser client (`/live/client.js`),
//! and the page's state is held to the server's at the version it shows:
//! while the server publishes, across restarts of the server (the same hub,
//! then a new one), through a proxy that drops WebSocket messages, and
//! through one that blocks WebSockets (every topic on one SSE stream). The
//! records table is the example's own job (`examples/dashboard/records.rs`).
//!
//! Chromium is driven over the DevTools protocol with this crate's own
//! WebSocket dependency. Without Chromium the tests are skipped with a
//! reason; with `LIVE_RESOURCE_REQUIRE_PEERS=1` (as in CI) a missing Chromium
//! fails them. One browser runs at a time.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use live_resource::server::Config;
use live_resource::{Hub, Patch};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::support::frame_dropper;
use crate::support::served::serve_app;

/// The example's record-generation job, publishing the `records` table.
#[path = "../../examples/dashboard/records.rs"]
mod records;

const PAGE: &str = include_str!("../../examples/dashboard/page.html");

/// The topics the page follows.
const TOPICS: [&str; 7] = [
    "quotes",
    "activity",
    "jobs/report",
    "clients/alice/notifications",
    "clients/bob/notifications",
    "log",
    "records",
];

/// Chromium is heavy: one at a time, whatever the test threads.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium's path; `None` (and the reason printed) when the test is to be
/// skipped.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        let reason = "chromium is not installed (apt-get install chromium)";
        if std::env::var_os("LIVE_RESOURCE_REQUIRE_PEERS").is_some_and(|v| v == "1") {
            panic!("LIVE_RESOURCE_REQUIRE_PEERS=1 and {reason}");
        }
        eprintln!("skipped: {reason}");
    }
    found
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium with one page, driven over DevTools; killed, and its
/// profile removed, however the test ends.
struct Chromium {
    child: Child,
    devtools: Socket,
    next_id: u64,
    profile: PathBuf,
}

static PROFILES: AtomicU64 = AtomicU64::new(0);

impl Chromium {
    async fn launch(path: &PathBuf) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "live-resource-chromium-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new(path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it chose into the profile.
        let port_file = profile.join("DevToolsActivePort");
        let mut port = None;
        for _ in 0..200 {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.lines().next()?.parse::<u16>().ok());
            if port.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let port = port.expect("chromium opened its DevTools port within 20 s");
        let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let (devtools, _) =
            tokio_tungstenite::connect_async(page["webSocketDebuggerUrl"].as_str().unwrap())
                .await
                .unwrap();
        Self {
            child,
            devtools,
            next_id: 1,
            profile,
        }
    }

    /// One DevTools call: sends it and waits for its answer, skipping events.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params});
        self.devtools
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.devtools.next())
                .await
                .expect("DevTools answers in time")
                .expect("DevTools connection open")
                .unwrap();
            if let Message::Text(text) = message {
                let reply: Value = serde_json::from_str(&text).unwrap();
                if reply["id"] == id {
                    return reply;
                }
            }
        }
    }

    async fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// The value of `expression`, which evaluates to a JSON text, in the page.
    async fn eval(&mut self, expression: &str) -> Value {
        let reply = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        reply["result"]["result"]["value"]
            .as_str()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// What the page shows, topic by topic (`{version, value}`), and what its
/// client counted.
const PROBE: &str = "JSON.stringify(window.dashboard ? {
    shown: window.dashboard.shown,
    resources: Object.fromEntries(Object.entries(window.dashboard.resources).map(([topic, r]) =>
        [topic, {status: r.status, version: r.version ?? null, stats: r.stats}])),
    connection: {status: window.dashboard.connection.status,
                 reconnects: window.dashboard.connection.reconnects,
                 transport: window.dashboard.connection.transport},
} : null)";

/// A hub, and every state each of its topics had, by version: what the page
/// is held to.
#[derive(Clone)]
struct Recorded {
    hub: Hub,
    states: Arc<Mutex<HashMap<(String, u64), Value>>>,
}

impl Recorded {
    fn new(hub: Hub) -> Self {
        Self {
            hub,
            states: Arc::default(),
        }
    }

    /// A new hub whose states are recorded beside this one's: a page may
    /// show either history's (numbered apart, from the clock) until it has
    /// moved to the new one.
    fn then(&self, hub: Hub) -> Self {
        Self {
            hub,
            states: Arc::clone(&self.states),
        }
    }

    fn record(&self, topic: &str) {
        let snapshot = self.hub.snapshot(topic).unwrap();
        let version = snapshot.version.unwrap();
        self.states
            .lock()
            .unwrap()
            .insert((topic.to_owned(), version), snapshot.data);
    }

    fn set(&self, topic: &str, value: Value) {
        self.hub.set(topic, value).unwrap();
        self.record(topic);
    }

    fn merge(&self, topic: &str, patch: Value) {
        self.hub.merge(topic, patch).unwrap();
        self.record(topic);
    }

    fn patch(&self, topic: &str, operations: Value) {
        let operations = serde_json::from_value(operations).unwrap();
        self.hub.publish(topic, Patch::Json(operations)).unwrap();
        self.record(topic);
    }

    /// Records every state of `topic` from now on, folding the hub's
    /// updates: for a topic that a publisher of its own writes (the
    /// example's records job), not through these methods.
    fn record_from_now(&self, topic: &str) {
        use live_resource::hub::Delivery;
        let snapshot = self.hub.snapshot(topic).unwrap();
        let version = snapshot.version.unwrap();
        let mut state = snapshot.data;
        self.states
            .lock()
            .unwrap()
            .insert((topic.to_owned(), version), state.clone());
        let mut updates = self.hub.subscribe(topic, Some(version)).unwrap();
        let (states, topic) = (Arc::clone(&self.states), topic.to_owned());
        tokio::spawn(async move {
            while let Some(delivery) = updates.next().await {
                let Delivery::Update(frame) = delivery else {
                    panic!("the recorder of {topic} fell behind");
                };
                frame.update().patch.apply(&mut state).unwrap();
                let mut states = states.lock().unwrap();
                states.insert((topic.clone(), frame.seq()), state.clone());
            }
        });
    }

    fn state(&self, topic: &str, version: u64) -> Option<Value> {
        let states = self.states.lock().unwrap();
        states.get(&(topic.to_owned(), version)).cloned()
    }

    /// Where the page shows a state the server never had at that version.
    fn mismatches(&self, page: &Value) -> Vec<String> {
        let Some(shown) = page["shown"].as_object() else {
            return Vec::new();
        };
        let mut wrong = Vec::new();
        for (topic, shown) in shown {
            let version = shown["version"].as_u64().unwrap();
            match self.state(topic, version) {
                Some(state) if same_json(&state, &shown["value"]) => {}
                state => wrong.push(format!(
                    "{topic} v{version}: the page shows {}, the server had {state:?}",
                    shown["value"]
                )),
            }
        }
        wrong
    }

    /// Whether the page shows each of `topics` at the hub's current version.
    fn caught_up(&self, page: &Value, topics: &[&str]) -> bool {
        topics
            .iter()
            .all(|topic| page["shown"][topic]["version"].as_u64() == self.hub.version(topic))
    }
}

/// Whether two JSON values are equal as JavaScript sees them: the browser
/// writes the number `1.0` as `1`.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same_json(a, b)))
        }
        (a, b) => a == b,
    }
}

/// Samples the page until it shows `topics` at the server's current
/// versions, checking at every sample that what it shows is what the server
/// had at the version shown. At most 30 s.
async fn until_caught_up(chromium: &mut Chromium, server: &Recorded, topics: &[&str]) -> Value {
    let mut page = Value::Null;
    for _ in 0..300 {
        page = chromium.eval(PROBE).await;
        let wrong = server.mismatches(&page);
        assert!(wrong.is_empty(), "{wrong:#?}");
        if server.caught_up(&page, topics) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page did not catch up with the server in 30 s: {page:#}");
}

/// The dashboard's services, as the example publishes them.
fn publish_dashboard(server: &Recorded) {
    server.set(
        "quotes",
        json!({"AAPL": {"price": 189.5, "change": 0.0}, "MSFT": {"price": 410.0, "change": 0.0}}),
    );
    server.set(
        "activity",
        json!({"online": 0, "sessions": {"web": 0, "mobile": 0}}),
    );
    server.set(
        "jobs/report",
        json!({"generated": 0, "total": 1000, "state": "running"}),
    );
    for client in ["alice", "bob"] {
        server.set(
            &format!("clients/{client}/notifications"),
            json!({"items": []}),
        );
    }
    server.set("log", json!({"lines": []}));
    server.set("records", json!({}));
}

/// One tick of change on every service: merge patches, JSON Patch appends
/// (which a duplicate or a loss would show), rows added, changed, removed.
fn change_dashboard(server: &Recorded, tick: u64) {
    change_services(server, tick);
    change_records(server, tick);
}

/// One tick of change on every service but the records table.
fn change_services(server: &Recorded, tick: u64) {
    let price = 189.5 + (tick % 37) as f64 / 10.0;
    server.merge(
        "quotes",
        json!({"AAPL": {"price": price, "change": (tick % 7) as f64 / 10.0}}),
    );
    server.merge(
        "activity",
        json!({"online": tick % 50, "sessions": {"web": tick % 30}}),
    );
    server.merge("jobs/report", json!({"generated": tick * 10}));
    server.patch(
        "log",
        json!([{"op": "add", "path": "/lines/-", "value": format!("line {tick}")}]),
    );
    if tick % 3 == 0 {
        let client = ["alice", "bob"][(tick / 3 % 2) as usize];
        let priority = ["low", "normal", "high"][(tick % 3) as usize];
        let item = json!({"id": tick, "priority": priority, "text": format!("message {tick}")});
        server.patch(
            &format!("clients/{client}/notifications"),
            json!([{"op": "add", "path": "/items/-", "value": item}]),
        );
    }
}

/// One tick of the records table: a row added, one done, one removed.
fn change_records(server: &Recorded, tick: u64) {
    let id = format!("r{tick:06}");
    let now = 1_700_000_000_000 + tick * 1000;
    server.merge(
        "records",
        json!({&id: {"id": &id, "status": "generated", "value": tick as f64 / 4.0, "created_ms": now, "updated_ms": now}}),
    );
    if tick >= 2 {
        let id = format!("r{:06}", tick - 2);
        server.merge(
            "records",
            json!({id: {"status": "done", "updated_ms": now}}),
        );
    }
    if tick >= 5 && tick % 2 == 1 {
        server.merge("records", json!({format!("r{:06}", tick - 5): null}));
    }
}

/// The router with the dashboard page at `/`.
fn app(hub: &Hub, config: Config) -> Router {
    live_resource::server::router_with(hub.clone(), config).route("/", get(|| async { Html(PAGE) }))
}

#[tokio::test]
async fn the_page_shows_every_service_as_the_server_had_it_at_the_version_shown() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let server = Recorded::new(Hub::builder().first_version(0).build());
    publish_dashboard(&server);
    // The records table as the example publishes it: a tick each 250 ms.
    records::start(&server.hub).await.unwrap();
    server.record_from_now(records::TOPIC);
    let addr = serve_app(app(&server.hub, Config::default())).await;
    let mut chromium = Chromium::launch(&path).await;
    chromium.open(&format!("http://{addr}/")).await;
    until_caught_up(&mut chromium, &server, &TOPICS).await;

    let publisher = server.clone();
    let publishing = tokio::spawn(async move {
        for tick in 1..=60 {
            change_services(&publisher, tick);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    // Sampled while it changes: every sample is a state the server had.
    let mut prices = HashSet::new();
    for _ in 0..300 {
        let page = chromium.eval(PROBE).await;
        let wrong = server.mismatches(&page);
        assert!(wrong.is_empty(), "{wrong:#?}");
        if let Some(price) = page["shown"]["quotes"]["value"]["AAPL"]["price"].as_f64() {
            prices.insert(price.to_bits());
        }
        if publishing.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publishing.await.unwrap();
    assert!(
        prices.len() >= 3,
        "the page followed the prices as they changed"
    );
    let page = until_caught_up(&mut chromium, &server, &TOPICS).await;
    assert_eq!(page["connection"]["status"], "open");
    assert_eq!(page["connection"]["transport"], "websocket");
    for topic in TOPICS {
        assert_eq!(page["resources"][topic]["status"], "live", "{topic}");
    }

    // What the sections show is what their resources hold.
    let dom = chromium
        .eval(
            "JSON.stringify({
                price: document.querySelector('#quote-AAPL .price').textContent,
                online: document.getElementById('online').textContent,
                job: document.getElementById('job').value,
                log: document.getElementById('log').textContent,
                alice: document.querySelectorAll('#notifications-alice li').length,
                bob: document.querySelectorAll('#notifications-bob li').length,
                records: [...document.querySelectorAll('#records tr')].map(row =>
                    [...row.cells].slice(0, 3).map(cell => cell.textContent)),
                recordsVersion: window.dashboard.shown.records.version,
                recordsHidden: document.getElementById('records-section').hidden,
                status: document.getElementById('status').dataset.status,
            })",
        )
        .await;
    let state = |topic: &str| server.hub.snapshot(topic).unwrap().data;
    assert_eq!(
        dom["price"],
        format!("{:.2}", state("quotes")["AAPL"]["price"].as_f64().unwrap())
    );
    assert_eq!(dom["online"], state("activity")["online"].to_string());
    assert!(same_json(&dom["job"], &state("jobs/report")["generated"]));
    let lines: Vec<String> = (1..=60).map(|tick| format!("line {tick}")).collect();
    assert_eq!(dom["log"], lines.join("\n"), "every line once, in order");
    for client in ["alice", "bob"] {
        let items = state(&format!("clients/{client}/notifications"))["items"].clone();
        assert_eq!(dom[client], items.as_array().unwrap().len(), "{client}");
    }
    // The table at the version the page shows (the job goes on meanwhile).
    let version = dom["recordsVersion"].as_u64().unwrap();
    let records = server.state("records", version).unwrap();
    assert!(
        records.as_object().unwrap().len() >= 2,
        "the job made rows: {records}"
    );
    let mut rows: Vec<Vec<String>> = serde_json::from_value(dom["records"].clone()).unwrap();
    rows.sort();
    let mut expected: Vec<Vec<String>> = records
        .as_object()
        .unwrap()
        .values()
        .map(|row| {
            vec![
                row["id"].as_str().unwrap().to_owned(),
                row["status"].as_str().unwrap().to_owned(),
                format!("{:.2}", row["value"].as_f64().unwrap()),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(rows, expected, "the records table, row by row");
    assert_eq!(dom["recordsHidden"], false);
    assert_eq!(dom["status"], "open");
}

/// A server on `listener` that stops, dropping every connection, when told.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn run(listener: TcpListener, app: Router) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = live_resource::server::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .shutdown_timeout(Duration::ZERO);
    Running {
        stop: Some(stop),
        task: tokio::spawn(server.into_future()),
    }
}

impl Running {
    /// Kills the server: its listener closes, its connections are dropped.
    async fn kill(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// Binds `addr` again, as a restarted server does.
async fn bind_again(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr} could not be bound again in 10 s");
}

#[tokio::test]
async fn the_page_recovers_when_the_server_restarts_with_the_same_hub_or_a_new_one() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // Numbered from the clock, as a server whose topics live in memory must
    // be: a new hub's history starts above every version of the old one.
    let first = Recorded::new(Hub::builder().versions_from_clock().build());
    publish_dashboard(&first);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = run(listener, app(&first.hub, Config::default()));
    let mut chromium = Chromium::launch(&path).await;
    chromium.open(&format!("http://{addr}/")).await;
    for tick in 1..=5 {
        change_dashboard(&first, tick);
    }
    until_caught_up(&mut chromium, &first, &TOPICS).await;

    // Killed; the hub changes while no server serves it; the same hub is
    // served again at the same address: the page resumes from its versions.
    server.kill().await;
    for tick in 6..=10 {
        change_dashboard(&first, tick);
    }
    let server = run(bind_again(addr).await, app(&first.hub, Config::default()));
    let page = until_caught_up(&mut chromium, &first, &TOPICS).await;
    assert!(
        page["connection"]["reconnects"].as_u64() >= Some(1),
        "{page:#}"
    );
    for topic in TOPICS {
        let stats = &page["resources"][topic]["stats"];
        assert_eq!(
            stats["snapshots"], 1,
            "{topic} resumed, no new snapshot: {stats}"
        );
    }

    // Killed again, and a new server with a new hub, another history.
    server.kill().await;
    let second = first.then(Hub::builder().versions_from_clock().build());
    publish_dashboard(&second);
    for tick in 100..=103 {
        change_dashboard(&second, tick);
    }
    let _server = run(bind_again(addr).await, app(&second.hub, Config::default()));
    let page = until_caught_up(&mut chromium, &second, &TOPICS).await;
    for topic in TOPICS {
        let stats = &page["resources"][topic]["stats"];
        assert!(stats["resyncs"].as_u64() >= Some(1), "{topic}: {stats}");
        assert_eq!(page["resources"][topic]["status"], "live", "{topic}");
    }
    let log = chromium
        .eval("JSON.stringify(document.getElementById('log').textContent)")
        .await;
    assert_eq!(
        log, "line 100\nline 101\nline 102\nline 103",
        "the new history only"
    );
}

#[tokio::test]
async fn the_page_recovers_from_websocket_messages_dropped_on_the_way() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let server = Recorded::new(Hub::builder().first_version(0).build());
    server.set("log", json!({"lines": []}));
    server.set("quotes", json!({"AAPL": {"price": 1.0, "change": 0.0}}));
    // Heartbeats often, so that a lost last update shows soon.
    let config = Config::default().heartbeat(Duration::from_millis(300));
    let upstream = serve_app(app(&server.hub, config)).await;

    // The proxy drops the log's update 5 (a gap the next update shows) and
    // its last, 12 (which only a heartbeat shows): each once, so that the
    // replay the client asks for gets through.
    const LAST: u64 = 12;
    let to_drop = Arc::new(Mutex::new(HashSet::from([5, LAST])));
    let dropped = Arc::new(AtomicUsize::new(0));
    let rule = {
        let (to_drop, dropped) = (Arc::clone(&to_drop), Arc::clone(&dropped));
        Box::new(move |payload: &str| {
            let Ok(message) = serde_json::from_str::<Value>(payload) else {
                return false;
            };
            let seq = message["seq"].as_u64().unwrap_or_default();
            let hit = message["type"] == "update"
                && message["topic"] == "log"
                && to_drop.lock().unwrap().remove(&seq);
            if hit {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            hit
        })
    };
    let proxy = frame_dropper::start(upstream, rule).await;

    let mut chromium = Chromium::launch(&path).await;
    chromium.open(&format!("http://{proxy}/")).await;
    until_caught_up(&mut chromium, &server, &["log", "quotes"]).await;
    for line in 1..=LAST {
        server.patch(
            "log",
            json!([{"op": "add", "path": "/lines/-", "value": format!("line {line}")}]),
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(server.hub.version("log"), Some(LAST));
    let page = until_caught_up(&mut chromium, &server, &["log", "quotes"]).await;
    assert_eq!(dropped.load(Ordering::Relaxed), 2, "the proxy dropped both");
    let stats = &page["resources"]["log"]["stats"];
    assert!(
        stats["gaps"].as_u64() >= Some(2),
        "both losses were seen: {stats}"
    );
    assert_eq!(stats["snapshots"], 1, "repaired by resuming, not resyncing");
    let lines: Vec<String> = (1..=LAST).map(|line| format!("line {line}")).collect();
    assert_eq!(
        page["shown"]["log"]["value"]["lines"],
        json!(lines),
        "every line once, in order"
    );
    // The server publishes no records here: the page hides that section.
    let hidden = chromium
        .eval("JSON.stringify(document.getElementById('records-section').hidden)")
        .await;
    assert_eq!(hidden, true);
}

#[tokio::test]
async fn where_websockets_are_blocked_the_page_follows_over_server_sent_events() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    // Over HTTP/1.1 a browser opens six connections to a server at most:
    // the fallback follows all seven topics on one stream.
    let server = Recorded::new(Hub::builder().first_version(0).build());
    publish_dashboard(&server);
    let upstream = serve_app(app(&server.hub, Config::default())).await;
    let proxy = frame_dropper::start_blocking_websockets(upstream).await;
    let mut chromium = Chromium::launch(&path).await;
    chromium.open(&format!("http://{proxy}/")).await;
    until_caught_up(&mut chromium, &server, &TOPICS).await;
    for tick in 1..=20 {
        change_dashboard(&server, tick);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = until_caught_up(&mut chromium, &server, &TOPICS).await;
    assert_eq!(page["connection"]["transport"], "sse", "{page:#}");
    let lines: Vec<String> = (1..=20).map(|tick| format!("line {tick}")).collect();
    assert_eq!(page["shown"]["log"]["value"]["lines"], json!(lines));
    for topic in TOPICS {
        assert_eq!(page["resources"][topic]["status"], "live", "{topic}");
    }
}
