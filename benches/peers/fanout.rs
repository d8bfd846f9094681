//! Our side of the side-by-side benchmarks in `benches/peers/` (run them all
//! with `bash benches/peers/run.sh`): merge timings, a WebSocket server and a
//! load generator that drives it, or the Node.js Socket.IO peer, the same way.
//!
//! ```text
//! fanout merge DIR
//!     writes the 1 KB / 100 KB / 1 MB dashboards, their two single-price
//!     patches and the same patches as update text into DIR (the Node side
//!     reads them), then times our merges (into a `Document`, the state a
//!     `LiveResource` keeps, and into a `Value`) and json_patch::merge on them; one
//!     JSON line per measurement: the median of many batches, in ns per patch.
//! fanout serve [BYTES] [--socketio]
//!     a Hub whose topic `quotes` is the dashboard of BYTES (default 1 KB), behind
//!     `live_resource::server::router` (WebSocket at /live/ws), on 127.0.0.1
//!     port 0, plus `GET /bench/publish?count=M&pace_us=P`, which publishes M
//!     single-price updates with a timestamp. With `--socketio`, the router
//!     also has `live_resource::socketio::layer` (Socket.IO at /socket.io/),
//!     which `load --proto socketio` then drives. With `--socketioxide`,
//!     socketioxide alone instead, as Node's peer server does it: a
//!     `subscribe` event joins the topic's room and gets the snapshot, and
//!     each update is one room broadcast (encoded once, no per-socket
//!     queue of ours, no resync for a slow socket): what socketioxide itself
//!     costs. Prints {"port":..,"pid":..,"server":..}; exits after 15
//!     minutes at most.
//! fanout load --proto ours|socketio --subscribers K --updates M
//!             --paced P --pace-ms X [--state-bytes B] -- SERVER COMMAND..
//!     starts the server command, connects K WebSocket subscribers to topic
//!     `quotes` (our protocol, or Socket.IO 4 over Engine.IO's websocket
//!     transport), measures the server's resident memory per idle subscriber,
//!     then a burst of M updates (deliveries per second) and P updates one
//!     every X ms (publish-to-receipt latency), with the server's CPU time for
//!     each. Every client parses every message as JSON (into the same small
//!     borrowed struct for both protocols); each message's latency is taken
//!     when it is read, before it is parsed. The clients run on one thread.
//!     One JSON line.
//! fanout cluster --proto ours|socketio --subscribers K --updates M
//!                --paced P --pace-ms X --kill-updates N --kill-pace-ms Y
//!                -- NODE COMMAND..
//!     the same across two nodes on one Redis: starts a `redis-server` of
//!     its own and the node command twice (`REDIS_URL`, `NODE_INDEX` 0 and
//!     1 in its environment), half the subscribers on each, publishes on
//!     node 0; then a burst, a paced run (latency of the clients on node 1,
//!     across Redis, and on node 0), and N updates Y ms apart during which
//!     node 1 is killed (`kill -9`): its clients resume on node 0, and each
//!     client's lost and duplicated updates are counted (`cluster.rs`).
//!     One JSON line.
//! ```

#[path = "../support/mod.rs"]
mod support;

/// `fanout cluster`: two nodes on one Redis.
mod cluster;

use std::borrow::Cow;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use live_resource::{Document, Hub, Limits};
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// The dashboard sizes, as (label, approximate bytes of compact JSON).
const SIZES: [(&str, usize); 3] = [("1KB", 1 << 10), ("100KB", 100 << 10), ("1MB", 1 << 20)];
/// Patches applied per timed batch, and batches per measurement.
const BATCH: usize = 1000;
const SAMPLES: usize = 301;
const WARMUP_SAMPLES: usize = 30;
/// The topic the fan-out runs on, and the size of its state by default.
const TOPIC: &str = "quotes";
const STATE_BYTES: usize = 1 << 10;
/// How long `fanout serve` lives at most.
const SERVER_LIFETIME: Duration = Duration::from_secs(15 * 60);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("merge") => merge(args.get(1).ok_or("usage: fanout merge DIR")?),
        Some("serve") => {
            let mode = if args[1..].iter().any(|arg| arg == "--socketio") {
                Mode::Layer
            } else if args[1..].iter().any(|arg| arg == "--socketioxide") {
                Mode::Bare
            } else {
                Mode::Native
            };
            let bytes = args[1..]
                .iter()
                .find(|arg| !arg.starts_with("--"))
                .map_or(Ok(STATE_BYTES), |bytes| bytes.parse())?;
            runtime()?.block_on(serve(bytes, mode))
        }
        Some("cluster") => {
            let options = cluster::Options::parse(&args[1..])?;
            let report = loader_runtime()?.block_on(cluster::run(options))?;
            println!("{report}");
            Ok(())
        }
        Some("load") => {
            let options = LoadOptions::parse(&args[1..])?;
            let report = loader_runtime()?.block_on(load(options))?;
            println!("{report}");
            Ok(())
        }
        _ => Err(
            "usage: fanout merge DIR | fanout serve | fanout load .. -- SERVER COMMAND \
                 | fanout cluster .. -- NODE COMMAND"
                .into(),
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The load generator's runtime: one thread. Its tasks then never wake
/// each other across threads (no work stealing, no idle workers spinning
/// for work), so each message costs less, and it takes at most one of the
/// cores it shares with the server under test: as much as a one-threaded
/// Node.js server keeps for itself.
fn loader_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Wall-clock microseconds: both sides of a fan-out stamp and read them, and
/// both processes share the machine's clock.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

// ---------------------------------------------------------------- merge

/// The dashboard of about `bytes`, and the patches that set its middle
/// symbol's price to two alternating values, so that every merge writes.
fn fixture(bytes: usize) -> (Value, String, [Value; 2]) {
    let doc = support::dashboard(bytes);
    let middle = support::symbol(doc.as_object().map_or(0, |board| board.len() / 2));
    let patches = [1.23, 4.56].map(|price| support::price_patch(&middle, price));
    (doc, middle, patches)
}

/// The three shapes of patch of `benches/merge.rs`'s `wire/shapes`, on
/// `symbol` of `doc`, read from update text and applied each way: their
/// texts go to `DIR/updates-{shape}-{size}.json` for Node, and one JSON line
/// each (`"bench":"merge_shapes"`) says what ours and serde_json's cost.
fn merge_shapes(dir: &str, label: &str, doc: &Value, symbol: &str) -> Result<()> {
    let doc_bytes = serde_json::to_string(doc)?.len();
    for shape in support::SHAPES {
        let texts = [17, 18].map(|seq| {
            let patch = support::shape_patch(shape, symbol, usize::from(seq == 18));
            format!(r#"{{"seq":{seq},"merge":{patch}}}"#)
        });
        std::fs::write(
            format!("{dir}/updates-{shape}-{label}.json"),
            json!(texts).to_string(),
        )?;
        let report = |name: &str, [median, p10, p90]: [f64; 3]| {
            let line = json!({
                "bench": "merge_shapes", "side": "rust", "impl": name, "shape": shape,
                "size": label, "doc_bytes": doc_bytes,
                "ns_median": median, "ns_p10": p10, "ns_p90": p90,
            });
            println!("{line}");
        };
        let [lazy, strict, baseline] = time_wire(doc, &texts);
        report("lazy", lazy);
        report("strict", strict);
        report("baseline", baseline);
    }
    Ok(())
}

/// Times reading `texts` in turn from wire text and applying them to `doc`,
/// each way: lazily (as the transports read) and strictly
/// (`Update::from_slice`) into a `Document`, and `serde_json::from_slice` +
/// `json_patch::merge` into a `Value`, in that order.
fn time_wire(doc: &Value, texts: &[String; 2]) -> [[f64; 3]; 3] {
    let limits = Limits::default();
    let mut document = Document::from(doc);
    let lazy = measure(
        || (),
        |()| {
            for turn in 0..BATCH {
                let text = black_box(texts[turn & 1].as_str());
                let update = limits.parse_update_lazy(text).expect("a valid update");
                black_box(&mut document)
                    .apply_owned(update.patch)
                    .expect("a merge applies");
            }
        },
    );
    let mut document = Document::from(doc);
    let strict = measure(
        || (),
        |()| {
            for turn in 0..BATCH {
                let text = black_box(texts[turn & 1].as_bytes());
                let update = live_resource::Update::from_slice(text).expect("a valid update");
                black_box(&mut document)
                    .apply_owned(update.patch)
                    .expect("a merge applies");
            }
        },
    );
    let mut target = doc.clone();
    let baseline = measure(
        || (),
        |()| {
            for turn in 0..BATCH {
                let text = black_box(texts[turn & 1].as_bytes());
                let message: Value = serde_json::from_slice(text).expect("valid JSON");
                json_patch::merge(black_box(&mut target), &message["merge"]);
            }
        },
    );
    [lazy, strict, baseline]
}

/// Times `SAMPLES` batches of `BATCH` patches, after a warm-up: `prepare`
/// makes each batch's input untimed, `run` applies it timed. The median,
/// 10th and 90th percentiles in ns per patch.
fn measure<I>(mut prepare: impl FnMut() -> I, mut run: impl FnMut(I)) -> [f64; 3] {
    let mut samples: Vec<f64> = (0..WARMUP_SAMPLES + SAMPLES)
        .map(|_| {
            let input = prepare();
            let started = Instant::now();
            run(input);
            started.elapsed().as_nanos() as f64 / BATCH as f64
        })
        .skip(WARMUP_SAMPLES)
        .collect();
    samples.sort_by(f64::total_cmp);
    [50, 10, 90].map(|p| samples[(samples.len() - 1) * p / 100])
}

fn merge(dir: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (label, bytes) in SIZES {
        let (doc, middle, patches) = fixture(bytes);
        merge_shapes(dir, label, &doc, &middle)?;
        let texts = [(17, &patches[0]), (18, &patches[1])]
            .map(|(seq, patch)| format!(r#"{{"seq":{seq},"merge":{patch}}}"#));
        let doc_text = serde_json::to_string(&doc)?;
        std::fs::write(format!("{dir}/dashboard-{label}.json"), &doc_text)?;
        std::fs::write(
            format!("{dir}/patches-{label}.json"),
            json!(patches).to_string(),
        )?;
        std::fs::write(
            format!("{dir}/updates-{label}.json"),
            json!(texts).to_string(),
        )?;

        let report = |name: &str, input: &str, [median, p10, p90]: [f64; 3]| {
            let line = json!({
                "bench": "merge", "side": "rust", "impl": name, "input": input,
                "size": label, "doc_bytes": doc_text.len(),
                "ns_median": median, "ns_p10": p10, "ns_p90": p90,
            });
            println!("{line}");
        };
        let batch_of = |make: &dyn Fn(usize) -> Value| (0..BATCH).map(make).collect::<Vec<_>>();

        let mut target = doc.clone();
        let timing = measure(
            || (),
            |()| {
                for turn in 0..BATCH {
                    live_resource::patch::merge(black_box(&mut target), &patches[turn & 1]);
                }
            },
        );
        report("live_resource::patch::merge", "value", timing);

        let mut target = doc.clone();
        let timing = measure(
            || batch_of(&|turn| patches[turn & 1].clone()),
            |batch| {
                for patch in batch {
                    live_resource::patch::merge_owned(black_box(&mut target), patch);
                }
            },
        );
        report("live_resource::patch::merge_owned", "value", timing);

        // The state a LiveResource keeps: objects found by hash.
        let mut document = Document::from(&doc);
        let timing = measure(
            || (),
            |()| {
                for turn in 0..BATCH {
                    black_box(&mut document).merge(&patches[turn & 1]);
                }
            },
        );
        report("live_resource::Document::merge", "value", timing);

        let mut target = doc.clone();
        let timing = measure(
            || (),
            |()| {
                for turn in 0..BATCH {
                    json_patch::merge(black_box(&mut target), &patches[turn & 1]);
                }
            },
        );
        report("json_patch::merge", "value", timing);

        // From wire text: as a LiveResource reads an update (read as far as
        // the patch, then merged into its Document while the patch is read),
        // with every byte checked before anything is applied, and the peer.
        let [lazy, strict, baseline] = time_wire(&doc, &texts);
        report(
            "Limits::parse_update_lazy + Document::apply_owned",
            "wire",
            lazy,
        );
        report(
            "Limits::parse_update + Document::apply_owned",
            "wire",
            strict,
        );
        report(
            "serde_json::from_slice + json_patch::merge",
            "wire",
            baseline,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- serve

#[derive(serde::Deserialize)]
struct Publish {
    count: u64,
    #[serde(default)]
    pace_us: u64,
}

/// What `fanout serve` serves the hub's topic with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Our WebSocket protocol only.
    Native,
    /// Our protocol, and our Socket.IO layer.
    Layer,
    /// Our protocol, and socketioxide alone with one room per topic.
    Bare,
}

async fn serve(state_bytes: usize, mode: Mode) -> Result<()> {
    let board = support::dashboard(state_bytes);
    let symbol = support::symbol(board.as_object().map_or(0, |board| board.len() / 2));
    // Versions from 0, as the load generator counts them (update n is seq
    // n): a hub's versions start at the clock's microseconds by default.
    let hub = Hub::builder().first_version(0).build();
    hub.set(TOPIC, board)?;

    let publisher = hub.clone();
    let publish = move |axum::extract::Query(publish): axum::extract::Query<Publish>| async move {
        let started = tokio::time::Instant::now();
        let pace = Duration::from_micros(publish.pace_us);
        for n in 0..publish.count {
            if !pace.is_zero() {
                tokio::time::sleep_until(started + pace * n as u32).await;
            }
            let price = 100.0 + (n % 100) as f64 / 100.0;
            let patch = json!({ &symbol: { "price": price, "ts": now_us() } });
            if let Err(error) = publisher.merge(TOPIC, patch) {
                return format!("publish failed: {error}");
            }
        }
        format!("published {}", publish.count)
    };
    let app = live_resource::server::router(hub.clone())
        .route("/bench/publish", axum::routing::get(publish));
    // The same hub over Socket.IO too: the layer answers at /socket.io/ and
    // passes everything else to the router.
    let (app, server) = match mode {
        Mode::Native => (app, "live-resource"),
        Mode::Layer => {
            let (layer, _io) = live_resource::socketio::layer(hub);
            (app.layer(layer), "live-resource socket.io")
        }
        Mode::Bare => (app.layer(bare_socketio(hub)?), "socketioxide"),
    };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // No Nagle delay, as Node.js's http server and `ws` have by default.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let hello = json!({"port": port, "pid": std::process::id(), "server": server});
    println!("{hello}");
    // Bounded even if the load generator dies without killing it.
    let lifetime = tokio::time::sleep(SERVER_LIFETIME);
    tokio::select! {
        served = axum::serve(listener, app).into_future() => served?,
        () = lifetime => eprintln!("fanout serve: lifetime of {SERVER_LIFETIME:?} is over"),
    }
    Ok(())
}

/// socketioxide with no layer of ours: `subscribe` joins the topic's room
/// and answers with its snapshot; each update of the hub is broadcast to the
/// room as it comes, its envelope encoded once.
fn bare_socketio(hub: Hub) -> Result<live_resource::socketio::socketioxide::layer::SocketIoLayer> {
    use live_resource::hub::Delivery;
    use live_resource::socketio::socketioxide::SocketIo;
    use live_resource::socketio::socketioxide::extract::SocketRef;
    use live_resource::socketio::socketioxide::handler::ConnectHandler;
    use serde_json::value::RawValue;

    let raw = |bytes: &[u8]| -> Box<RawValue> {
        serde_json::from_slice(bytes).expect("the hub writes JSON")
    };
    // socketioxide drops a broadcast packet for a socket whose queue (128
    // packets by default) is full, and says only how many: room enough for
    // the longest burst, so that what is measured is its cost, not its drops.
    let (layer, io) = SocketIo::builder().max_buffer_size(4096).build_layer();
    let joins = hub.clone();
    // In a middleware, which runs before the client hears it is connected:
    // a `subscribe` sent at once is then never missed.
    let handlers = move |socket: SocketRef| {
        let hub = joins.clone();
        async move {
            socket.on("subscribe", move |socket: SocketRef| async move {
                socket.join(TOPIC);
                if let Some(snapshot) = hub.snapshot_text(TOPIC) {
                    let data = raw(&snapshot.data);
                    let reply = json!({"type": "snapshot", "topic": TOPIC, "version": snapshot.version, "data": data});
                    let _ = socket.emit("snapshot", &reply);
                }
            });
            Ok::<(), std::convert::Infallible>(())
        }
    };
    io.ns("/", (async |_: SocketRef| {}).with(handlers));
    let mut updates = hub.subscribe(TOPIC, None)?;
    tokio::spawn(async move {
        while let Some(delivery) = updates.next().await {
            if let Delivery::Update(frame) = delivery {
                let envelope = raw(frame.envelope());
                if let Err(error) = io.to(TOPIC).emit("update", &*envelope).await {
                    eprintln!("fanout serve: broadcast: {error}");
                }
            }
        }
    });
    Ok(layer)
}

// ---------------------------------------------------------------- load

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    /// live-resource's WebSocket protocol at `/live/ws`.
    Ours,
    /// Socket.IO 4 (Engine.IO 4, websocket transport only).
    SocketIo,
}

#[derive(Debug)]
struct LoadOptions {
    proto: Proto,
    subscribers: usize,
    updates: u64,
    paced: u64,
    pace: Duration,
    /// The size of the topic's state, as the server command was told: only
    /// reported.
    state_bytes: u64,
    server: Vec<String>,
}

impl LoadOptions {
    fn parse(args: &[String]) -> Result<Self> {
        let split = args.iter().position(|arg| arg == "--");
        let (flags, server) = match split {
            Some(at) => (&args[..at], args[at + 1..].to_vec()),
            None => return Err("fanout load: give the server command after `--`".into()),
        };
        let mut values = HashMap::new();
        for pair in flags.chunks(2) {
            let [flag, value] = pair else {
                return Err(format!("fanout load: {pair:?} has no value").into());
            };
            values.insert(flag.trim_start_matches("--").to_owned(), value.clone());
        }
        let number = |name: &str, default: u64| -> Result<u64> {
            values
                .get(name)
                .map_or(Ok(default), |value| value.parse().map_err(Error::from))
        };
        let proto = match values.get("proto").map(String::as_str) {
            Some("ours") | None => Proto::Ours,
            Some("socketio") => Proto::SocketIo,
            Some(other) => return Err(format!("fanout load: unknown proto {other}").into()),
        };
        Ok(Self {
            proto,
            subscribers: number("subscribers", 100)? as usize,
            updates: number("updates", 100)?,
            paced: number("paced", 50)?,
            pace: Duration::from_millis(number("pace-ms", 5)?),
            state_bytes: number("state-bytes", STATE_BYTES as u64)?,
            server,
        })
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The server under test, killed when dropped.
struct Server {
    /// Killed on drop (`kill_on_drop`).
    _child: tokio::process::Child,
    port: u16,
    pid: u32,
    /// What the server says it is (`fanout serve` does), if it says.
    name: Option<String>,
}

async fn start(command: &[String]) -> Result<Server> {
    start_with(command, &[]).await
}

/// `start`, with these variables added to the server's environment.
async fn start_with(command: &[String], env: &[(&str, String)]) -> Result<Server> {
    let (program, args) = command.split_first().ok_or("no server command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    // The first JSON line; a wrapper (a profiler) may print other lines first.
    let hello = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            match serde_json::from_str::<Value>(&line) {
                Ok(hello) if hello.get("port").is_some() => return Ok(hello),
                _ => eprintln!("server: {line}"),
            }
        }
        Err(Error::from("the server exited before it printed its port"))
    })
    .await
    .map_err(|_| "the server printed no port within 30 s")??;
    let port = hello["port"].as_u64().ok_or("no port")? as u16;
    let pid = hello["pid"].as_u64().ok_or("no pid")? as u32;
    let name = hello["server"].as_str().map(str::to_owned);
    eprintln!("server {command:?}: pid {pid}, port {port}");
    // Whatever else it prints goes to our stderr.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("server: {line}");
        }
    });
    Ok(Server {
        _child: child,
        port,
        pid,
        name,
    })
}

/// utime + stime of `pid`, all its threads, in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .ok_or("odd /proc/PID/stat")?
        .1
        .split_whitespace()
        .collect();
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    Ok((utime + stime) / ticks_per_second)
}

/// CPU time the whole machine spent busy (all but idle and iowait in
/// `/proc/stat`), in seconds: what other processes took during a phase is
/// this minus the server's and the load generator's own.
fn machine_busy_seconds(ticks_per_second: f64) -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().ok_or("empty /proc/stat")?;
    let jiffies: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = jiffies[..] else {
        return Err("odd /proc/stat".into());
    };
    Ok((user + nice + system + irq + softirq + steal) / ticks_per_second)
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("odd VmRSS")?.parse()?)
}

fn clock_ticks() -> Result<f64> {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// `GET path` on the server, with plain HTTP/1.1: the response's body.
async fn get(port: u16, path: &str) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    if !response.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {response}").into());
    }
    Ok(response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned())
}

/// Reads the next text message, answering Engine.IO pings on the way. The
/// text is the frame's own buffer, not a copy.
async fn next_text(socket: &mut Socket, proto: Proto) -> Result<Option<Utf8Bytes>> {
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        if proto == Proto::SocketIo && text.as_str() == "2" {
            socket.send(Message::text("3")).await?;
            continue;
        }
        return Ok(Some(text));
    }
    Ok(None)
}

/// What the load generator reads of a message: its type, its `seq` and the
/// publish time in its merge patch. The whole text is still parsed and
/// checked as JSON (serde reads every other field as `IgnoredAny`); only no
/// tree is built for it, for either protocol.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    seq: u64,
    /// A snapshot's (`fanout cluster` reads it).
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    merge: Option<Stamp>,
}

/// The publish time of a patch `{"SYM…":{"price":..,"ts":µs}}`: the first
/// `ts` among its symbols.
struct Stamp(Option<u64>);

#[derive(serde::Deserialize)]
struct Quote {
    ts: Option<u64>,
}

impl<'de> serde::Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Symbols;
        impl<'de> serde::de::Visitor<'de> for Symbols {
            type Value = Stamp;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a merge patch of quotes")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Stamp, A::Error> {
                let mut ts = None;
                while let Some((IgnoredAny, quote)) = map.next_entry::<IgnoredAny, Quote>()? {
                    ts = ts.or(quote.ts);
                }
                Ok(Stamp(ts))
            }
        }
        deserializer.deserialize_map(Symbols)
    }
}

/// A protocol message: ours is the whole frame; a Socket.IO event
/// `42["name",{..}]` is parsed whole, and its payload is the same envelope.
fn parse(proto: Proto, text: &str) -> Option<Envelope<'_>> {
    match proto {
        Proto::Ours => serde_json::from_str(text).ok(),
        Proto::SocketIo => {
            let (_name, payload): (IgnoredAny, Envelope<'_>) =
                serde_json::from_str(text.strip_prefix("42")?).ok()?;
            Some(payload)
        }
    }
}

/// One subscriber, connected and subscribed: its snapshot has arrived.
async fn subscriber(port: u16, proto: Proto) -> Result<Socket> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let url = match proto {
        Proto::Ours => format!("ws://127.0.0.1:{port}/live/ws"),
        Proto::SocketIo => format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
    };
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    if proto == Proto::SocketIo {
        let open = next_text(&mut socket, proto).await?.ok_or("closed")?;
        if !open.starts_with('0') {
            return Err(format!("expected an Engine.IO open packet, got {open}").into());
        }
        socket.send(Message::text("40")).await?;
        let connected = next_text(&mut socket, proto).await?.ok_or("closed")?;
        if !connected.starts_with("40") {
            return Err(format!("expected a Socket.IO connect packet, got {connected}").into());
        }
        let subscribe = json!(["subscribe", {"topic": TOPIC}]);
        socket.send(Message::text(format!("42{subscribe}"))).await?;
    } else {
        let subscribe = json!({"type": "subscribe", "topic": TOPIC});
        socket.send(Message::text(subscribe.to_string())).await?;
    }
    loop {
        let text = next_text(&mut socket, proto).await?.ok_or("closed")?;
        if parse(proto, &text).is_some_and(|message| message.kind == "snapshot") {
            return Ok(socket);
        }
    }
}

/// What one subscriber saw of the updates.
#[derive(Default)]
struct Log {
    /// Publish-to-receipt latency in µs of each update, by seq (from 1).
    latency_us: Vec<u32>,
    /// When the last update of the burst arrived (wall clock µs).
    burst_done_us: u64,
    /// When the first update was published (its timestamp).
    first_ts_us: u64,
    resyncs: u64,
}

/// Counts the subscribers that have reached a point of the run, and wakes
/// the one task that waits for all of them: one atomic add per subscriber,
/// not one per message shared by every connection.
struct Milestone {
    reached: AtomicUsize,
    of: usize,
    all: Notify,
}

impl Milestone {
    fn new(of: usize) -> Self {
        Self {
            reached: AtomicUsize::new(0),
            of,
            all: Notify::new(),
        }
    }

    fn reach(&self) {
        if self.reached.fetch_add(1, Ordering::AcqRel) + 1 == self.of {
            // Stores a permit if the waiter is not waiting yet.
            self.all.notify_one();
        }
    }

    /// Whether every subscriber reached it within `limit`.
    async fn wait(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.all.notified())
            .await
            .is_ok()
    }
}

/// The two points of a run each subscriber reports.
struct Progress {
    burst: Milestone,
    done: Milestone,
}

/// Reads updates until `last` arrives, the socket closes, or nothing comes
/// for 60 s; returns what it saw and the socket, still open.
async fn follow(
    mut socket: Socket,
    proto: Proto,
    burst: u64,
    last: u64,
    progress: Arc<Progress>,
) -> (Log, Socket) {
    let mut log = Log {
        latency_us: Vec::with_capacity(last as usize),
        ..Log::default()
    };
    let idle_us = 60_000_000;
    // One timer for the whole run, pushed back only when it fires: a timeout
    // per message would insert and remove a timer entry for each.
    let mut heard_us = now_us();
    let watchdog = tokio::time::sleep(Duration::from_micros(idle_us));
    tokio::pin!(watchdog);
    let mut burst_reached = false;
    loop {
        let text = tokio::select! {
            biased;
            text = next_text(&mut socket, proto) => match text {
                Ok(Some(text)) => text,
                _ => break,
            },
            () = &mut watchdog => {
                let quiet_us = now_us().saturating_sub(heard_us);
                if quiet_us >= idle_us {
                    break;
                }
                let wake = tokio::time::Instant::now() + Duration::from_micros(idle_us - quiet_us);
                watchdog.as_mut().reset(wake);
                continue;
            }
        };
        // At receipt, before parsing: parsing is the client's work, not the
        // server's latency.
        let received = now_us();
        heard_us = received;
        let Some(message) = parse(proto, &text) else {
            continue;
        };
        match &*message.kind {
            "update" => {}
            "resync" => {
                log.resyncs += 1;
                continue;
            }
            _ => continue,
        }
        let seq = message.seq;
        let sent = message.merge.and_then(|Stamp(ts)| ts).unwrap_or(received);
        if seq == 1 {
            log.first_ts_us = sent;
        }
        if seq == burst {
            log.burst_done_us = received;
        }
        log.latency_us
            .push(received.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
        if seq >= burst && !burst_reached {
            burst_reached = true;
            progress.burst.reach();
        }
        if seq >= last {
            break;
        }
    }
    // A subscriber that stopped early still reports, so that nobody waits
    // for it; what it missed shows in `received` and `complete`.
    if !burst_reached {
        progress.burst.reach();
    }
    progress.done.reach();
    // Not closed here: the server would handle this close while it still
    // fans the last update out to the others, and that update's latency
    // would include the teardown of the subscribers that got it first.
    (log, socket)
}

/// The `p`th percentile of sorted `values`.
fn percentile(values: &[u32], p: f64) -> u32 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((values.len() as f64) * p / 100.0).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

async fn load(options: LoadOptions) -> Result<Value> {
    let ticks = clock_ticks()?;
    let server = start(&options.server).await?;
    let (port, pid, proto, k) = (server.port, server.pid, options.proto, options.subscribers);
    // Node's Socket.IO server says nothing of itself.
    let name = server.name.clone().unwrap_or_else(|| match proto {
        Proto::Ours => "live-resource".to_owned(),
        Proto::SocketIo => "socket.io".to_owned(),
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid)?;

    let connecting = Instant::now();
    let sockets: Vec<Socket> = futures::stream::iter(0..k)
        .map(|_| async move {
            tokio::time::timeout(Duration::from_secs(60), subscriber(port, proto))
                .await
                .map_err(|_| Error::from("a subscriber took over 60 s to subscribe"))?
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let connect_s = connecting.elapsed().as_secs_f64();
    // Let the server settle (allocator, timers) before reading its size.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid)?;

    let burst = options.updates;
    let last = burst + options.paced;
    let progress = Arc::new(Progress {
        burst: Milestone::new(k),
        done: Milestone::new(k),
    });
    let followers: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(follow(socket, proto, burst, last, Arc::clone(&progress))))
        .collect();

    let limit = Duration::from_secs(120);
    let me = std::process::id();
    let machine_start = machine_busy_seconds(ticks)?;
    let loader_start = cpu_seconds(me, ticks)?;
    let cpu_start = cpu_seconds(pid, ticks)?;
    get(port, &format!("/bench/publish?count={burst}&pace_us=0")).await?;
    let burst_complete = progress.burst.wait(limit).await;
    let cpu_burst = cpu_seconds(pid, ticks)? - cpu_start;
    let loader_burst = cpu_seconds(me, ticks)? - loader_start;
    let others_burst = machine_busy_seconds(ticks)? - machine_start - cpu_burst - loader_burst;
    let rss_burst = rss_kib(pid)?;

    let pace_us = options.pace.as_micros();
    let machine_start = machine_busy_seconds(ticks)?;
    let loader_start = cpu_seconds(me, ticks)?;
    let cpu_start = cpu_seconds(pid, ticks)?;
    get(
        port,
        &format!("/bench/publish?count={}&pace_us={pace_us}", options.paced),
    )
    .await?;
    let paced_complete = progress.done.wait(limit).await;
    let cpu_paced = cpu_seconds(pid, ticks)? - cpu_start;
    let loader_paced = cpu_seconds(me, ticks)? - loader_start;
    let others_paced = machine_busy_seconds(ticks)? - machine_start - cpu_paced - loader_paced;

    let mut logs = Vec::with_capacity(k);
    let mut sockets = Vec::with_capacity(k);
    for follower in followers {
        let (log, socket) = follower.await?;
        logs.push(log);
        sockets.push(socket);
    }
    futures::future::join_all(sockets.iter_mut().map(|socket| socket.close(None))).await;
    drop(server);

    let first_ts = logs
        .iter()
        .map(|log| log.first_ts_us)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(0);
    let burst_done = logs.iter().map(|log| log.burst_done_us).max().unwrap_or(0);
    let burst_s = burst_done.saturating_sub(first_ts) as f64 / 1e6;
    let split = |log: &Log, paced: bool| -> Vec<u32> {
        let at = (burst as usize).min(log.latency_us.len());
        let part = if paced {
            &log.latency_us[at..]
        } else {
            &log.latency_us[..at]
        };
        part.to_vec()
    };
    let mut burst_latency: Vec<u32> = logs.iter().flat_map(|log| split(log, false)).collect();
    let mut paced_latency: Vec<u32> = logs.iter().flat_map(|log| split(log, true)).collect();
    burst_latency.sort_unstable();
    paced_latency.sort_unstable();
    let received: usize = logs.iter().map(|log| log.latency_us.len()).sum();
    let expected = k as u64 * last;

    Ok(json!({
        "bench": "fanout",
        "loader": "rust",
        "server": name,
        "proto": match proto { Proto::Ours => "ours", Proto::SocketIo => "socketio" },
        "subscribers": k,
        "updates": burst,
        "paced": options.paced,
        "pace_ms": options.pace.as_millis() as u64,
        "state_bytes": options.state_bytes,
        "connect_s": connect_s,
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "rss_after_burst_kib": rss_burst,
        "bytes_per_subscriber": (rss_idle.saturating_sub(rss_before) * 1024) as f64 / k as f64,
        "burst_s": burst_s,
        "deliveries_per_s": (k as u64 * burst) as f64 / burst_s,
        "burst_p50_us": percentile(&burst_latency, 50.0),
        "burst_p99_us": percentile(&burst_latency, 99.0),
        "p50_us": percentile(&paced_latency, 50.0),
        "p99_us": percentile(&paced_latency, 99.0),
        "cpu_burst_s": cpu_burst,
        "cpu_paced_s": cpu_paced,
        "loader_cpu_burst_s": loader_burst,
        "loader_cpu_paced_s": loader_paced,
        // Other processes on the machine during each phase (clock-tick
        // resolution): a disturbed run shows here.
        "others_cpu_burst_s": others_burst.max(0.0),
        "others_cpu_paced_s": others_paced.max(0.0),
        "received": received,
        "expected": expected,
        "complete": burst_complete && paced_complete && received as u64 == expected,
        "resyncs": logs.iter().map(|log| log.resyncs).sum::<u64>(),
    }))
}
