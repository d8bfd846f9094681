//! `fanout cluster`: the fan-out of `fanout load` across two nodes on one
//! Redis, and what each system loses when one node is killed.
//!
//! The run, for either system, with the same node command started twice:
//!
//! 1. a `redis-server` of its own on a free loopback port, keeping nothing on
//!    disk; node 0, then node 1 (`REDIS_URL` and `NODE_INDEX` in their
//!    environment); node 0 makes the topic.
//! 2. K subscribers, even ones on node 0, odd ones on node 1, each with its
//!    snapshot: its version is where the client's count of updates starts.
//! 3. A burst of M updates published on node 0: deliveries per second, over
//!    every client of both nodes.
//! 4. P updates X ms apart: publish-to-receipt latency, on node 1 (the update
//!    crossed Redis) and on node 0 (it went through Redis to be numbered or
//!    stored, and back).
//! 5. N updates Y ms apart; a third of the way in, node 1 is killed with
//!    SIGKILL. Its clients reconnect to node 0 (spread over
//!    `RECONNECT_SPREAD`) and resume: ours with `since` = the last version
//!    they hold; Socket.IO with its session id and last offset (connection
//!    state recovery), and where that fails, as an app must, by subscribing
//!    again (a new snapshot). With `--kill-mode close`, the control, node 1
//!    stays up and its clients hang up instead.
//!
//! Every client keeps, per update number, whether and when it arrived. At the
//! end each counts the updates it never received (`lost`), those among them
//! that no later snapshot covered either (`lost_uncovered`: the state it
//! shows is missing them), and the updates it received more than once
//! (`duplicated`).

use super::*;

/// How long a phase may take before the run reports it incomplete.
const PHASE_LIMIT: Duration = Duration::from_secs(60);
/// How long a client keeps trying to reach the surviving node.
const RECONNECT_LIMIT: Duration = Duration::from_secs(30);
/// How long one attempt to connect and subscribe may take.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);
/// The clients of a lost node spread their first attempt over this much
/// time (by their number, the same spread for both systems), as clients
/// with jittered backoff do: socket.io-client waits 0.5 to 1.5 s by
/// default, live-resource's client 0 to 0.5 s. Thousands of clients at
/// the same instant would overflow the survivor's listen backlog, and the
/// run would measure the kernel's SYN retransmissions (1, 3, 7, 15 s).
const RECONNECT_SPREAD: Duration = Duration::from_millis(500);
/// No update received yet, in a client's table.
const NONE: u32 = u32::MAX;
/// With `--kill-mode close`: how long a client waits after closing before
/// it resumes (socket.io-client waits 0.5 to 1.5 s by default), so that
/// the node has saved its session.
const CLOSE_DELAY: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub(super) struct Options {
    proto: Proto,
    subscribers: usize,
    updates: u64,
    paced: u64,
    pace: Duration,
    kill_updates: u64,
    kill_pace: Duration,
    kill_mode: KillMode,
    node: Vec<String>,
}

/// How node 1's clients lose it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KillMode {
    /// `kill -9` of the node (SIGKILL).
    Kill,
    /// The control: the node stays up, and each of its clients closes its
    /// own connection (a network change, a laptop lid), waits
    /// `CLOSE_DELAY` and resumes on node 0. Socket.IO's server saves the
    /// session of a socket it sees close, so this is the case its
    /// connection state recovery is made for.
    Close,
}

impl Options {
    pub(super) fn parse(args: &[String]) -> Result<Self> {
        let split = args.iter().position(|arg| arg == "--");
        let (flags, node) = match split {
            Some(at) => (&args[..at], args[at + 1..].to_vec()),
            None => return Err("fanout cluster: give the node command after `--`".into()),
        };
        let mut values = HashMap::new();
        for pair in flags.chunks(2) {
            let [flag, value] = pair else {
                return Err(format!("fanout cluster: {pair:?} has no value").into());
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
            Some(other) => return Err(format!("fanout cluster: unknown proto {other}").into()),
        };
        Ok(Self {
            proto,
            subscribers: number("subscribers", 1000)? as usize,
            updates: number("updates", 200)?,
            paced: number("paced", 50)?,
            pace: Duration::from_millis(number("pace-ms", 50)?),
            kill_updates: number("kill-updates", 200)?,
            kill_pace: Duration::from_millis(number("kill-pace-ms", 10)?),
            kill_mode: match values.get("kill-mode").map(String::as_str) {
                Some("kill") | None => KillMode::Kill,
                Some("close") => KillMode::Close,
                Some(other) => return Err(format!("fanout cluster: kill-mode {other}?").into()),
            },
            node,
        })
    }
}

// ---------------------------------------------------------------- redis-server

/// A `redis-server` of the run's own, killed when dropped.
struct Redis {
    _child: tokio::process::Child,
    port: u16,
    pid: u32,
}

async fn redis_server() -> Result<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("redis-server: {error}"))?;
    let pid = child.id().ok_or("redis-server exited")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("redis-server did not start within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("redis-server: pid {pid}, port {port}");
    Ok(Redis {
        _child: child,
        port,
        pid,
    })
}

// ---------------------------------------------------------------- clients

/// Where a client is, to resume from.
#[derive(Default)]
struct Position {
    /// Socket.IO: the session id the server gave (`pid`).
    pid: Option<String>,
    /// Socket.IO: the last message that carried an offset (its text is the
    /// frame's own buffer: the offset is read back from it only to resume).
    last_offset_text: Option<Utf8Bytes>,
}

/// A Socket.IO event, `["name", payload, offset?]`: the offset the Redis
/// adapter adds when connection state recovery is on.
struct SioEvent<'a> {
    envelope: Envelope<'a>,
    offset: Option<&'a str>,
}

impl<'de> serde::Deserialize<'de> for SioEvent<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Event;
        impl<'de> serde::de::Visitor<'de> for Event {
            type Value = SioEvent<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#"["name", payload, offset?]"#)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SioEvent<'de>, A::Error> {
                use serde::de::Error as _;
                seq.next_element::<IgnoredAny>()?
                    .ok_or_else(|| A::Error::custom("no event name"))?;
                let envelope = seq
                    .next_element::<Envelope<'de>>()?
                    .ok_or_else(|| A::Error::custom("no payload"))?;
                let offset = seq.next_element::<&'de str>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SioEvent { envelope, offset })
            }
        }
        deserializer.deserialize_seq(Event)
    }
}

/// A message: its envelope, and for Socket.IO the offset it carries.
fn parse_event(proto: Proto, text: &str) -> Option<(Envelope<'_>, Option<&str>)> {
    match proto {
        Proto::Ours => serde_json::from_str(text)
            .ok()
            .map(|envelope| (envelope, None)),
        Proto::SocketIo => {
            let event: SioEvent<'_> = serde_json::from_str(text.strip_prefix("42")?).ok()?;
            Some((event.envelope, event.offset))
        }
    }
}

/// The `pid` of a Socket.IO CONNECT packet, `40{"sid":..,"pid":..}`.
fn connect_pid(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Connected {
        pid: Option<String>,
    }
    let connected: Connected = serde_json::from_str(text.strip_prefix("40")?).ok()?;
    connected.pid
}

/// How a connection began.
enum Joined {
    /// A new subscription: its snapshot's version.
    Snapshot(u64),
    /// A resume: ours sent `since`; Socket.IO's answer says whether the
    /// session was recovered (if not, the client subscribed again and its
    /// snapshot comes with the stream). A recovering Socket.IO server sends
    /// the missed events before its CONNECT packet: they are in `early`,
    /// to be read first (socket.io-client buffers them the same way).
    Resumed {
        recovered: bool,
        early: Vec<Utf8Bytes>,
    },
}

/// Connects to `port` and subscribes: anew (waiting for the snapshot), or
/// resuming from `since` / the Socket.IO session in `position`.
async fn connect(
    port: u16,
    proto: Proto,
    since: Option<u64>,
    position: &mut Position,
) -> Result<(Socket, Joined)> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let url = match proto {
        Proto::Ours => format!("ws://127.0.0.1:{port}/live/ws"),
        Proto::SocketIo => format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
    };
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    match proto {
        Proto::Ours => {
            let request = match since {
                Some(since) => json!({"type": "subscribe", "topic": TOPIC, "since": since}),
                None => json!({"type": "subscribe", "topic": TOPIC}),
            };
            socket.send(Message::text(request.to_string())).await?;
            if since.is_some() {
                return Ok((
                    socket,
                    Joined::Resumed {
                        recovered: false,
                        early: Vec::new(),
                    },
                ));
            }
        }
        Proto::SocketIo => {
            let open = next_text(&mut socket, proto).await?.ok_or("closed")?;
            if !open.starts_with('0') {
                return Err(format!("expected an Engine.IO open packet, got {open}").into());
            }
            // What socket.io-client sends to recover: its session id and the
            // offset of the last packet it got.
            let offset = position
                .last_offset_text
                .as_ref()
                .and_then(|text| parse_event(proto, text).and_then(|(_, offset)| offset));
            let auth = match (&position.pid, offset) {
                (Some(pid), Some(offset)) if since.is_some() => {
                    json!({"pid": pid, "offset": offset}).to_string()
                }
                _ => String::new(),
            };
            let asked = !auth.is_empty();
            socket.send(Message::text(format!("40{auth}"))).await?;
            let mut early = Vec::new();
            let connected = loop {
                let text = next_text(&mut socket, proto).await?.ok_or("closed")?;
                if text.starts_with("40") {
                    break text;
                }
                if !text.starts_with("42") {
                    return Err(format!("expected a Socket.IO connect packet, got {text}").into());
                }
                early.push(text);
            };
            let pid = connect_pid(&connected);
            let recovered = asked && pid.is_some() && pid == position.pid;
            position.pid = pid;
            if recovered {
                return Ok((
                    socket,
                    Joined::Resumed {
                        recovered: true,
                        early,
                    },
                ));
            }
            let subscribe = json!(["subscribe", {"topic": TOPIC}]);
            socket.send(Message::text(format!("42{subscribe}"))).await?;
            if since.is_some() {
                return Ok((
                    socket,
                    Joined::Resumed {
                        recovered: false,
                        early,
                    },
                ));
            }
        }
    }
    loop {
        let text = next_text(&mut socket, proto).await?.ok_or("closed")?;
        let snapshot = parse_event(proto, &text)
            .filter(|(message, _)| message.kind == "snapshot")
            .map(|(message, _)| message.seq_or_version());
        if let Some(version) = snapshot {
            return Ok((socket, Joined::Snapshot(version)));
        }
    }
}

impl Envelope<'_> {
    /// A snapshot's version (`Envelope` reads `seq`; a snapshot has
    /// `version`).
    fn seq_or_version(&self) -> u64 {
        self.version.unwrap_or(self.seq)
    }
}

/// The run's points that each client reports reaching.
struct Points {
    burst: Milestone,
    paced: Milestone,
    end: Milestone,
}

/// What one client saw.
struct Log {
    /// The node it started on.
    home: usize,
    /// Per update number (1 = the first after its snapshot): the latency
    /// in µs of its first receipt, or `NONE`.
    latency_us: Vec<u32>,
    /// The publish time of update 1, and when update M (the burst's last)
    /// arrived.
    first_ts_us: u64,
    burst_done_us: u64,
    duplicated: u64,
    /// Updates numbered outside the run (a bug on either side).
    strays: u64,
    /// The highest update number a snapshot taken after the start covers.
    covered: u64,
    resyncs: u64,
    /// Reconnections, and how many of them Socket.IO recovered.
    reconnects: u64,
    recovered: u64,
    /// From the socket's close to the first update or snapshot on the new
    /// node, µs (with the jitter before the first attempt)...
    outage_us: Option<u64>,
    /// ...and from the first attempt to reconnect.
    resume_us: Option<u64>,
    /// Why it gave up, if it did.
    failed: Option<String>,
    /// Updates that came after it subscribed again and before its
    /// snapshot. (With connection state recovery on, Socket.IO sends a
    /// socket's own events through the adapter too, to number and store
    /// them: the snapshot waits for its XADD, while an update broadcast a
    /// moment earlier reaches the socket, just joined, first.)
    before_snapshot: u64,
}

/// Follows one client for the whole run: counts every update, and when its
/// socket closes, resumes on `survivor`.
#[allow(clippy::too_many_arguments)]
async fn follow(
    mut socket: Socket,
    proto: Proto,
    (index, home): (usize, usize),
    base: u64,
    mut position: Position,
    survivor: u16,
    [burst, paced, total]: [u64; 3],
    points: Arc<Points>,
    hang_up: Option<Arc<Notify>>,
) -> (Log, Socket) {
    let mut log = Log {
        home,
        latency_us: vec![NONE; total as usize],
        first_ts_us: 0,
        burst_done_us: 0,
        duplicated: 0,
        strays: 0,
        covered: 0,
        resyncs: 0,
        reconnects: 0,
        recovered: 0,
        outage_us: None,
        resume_us: None,
        failed: None,
        before_snapshot: 0,
    };
    // Subscribed again: the run is not over for it before its snapshot.
    let mut awaiting_snapshot = false;
    let mut attempt_at: Option<u64> = None;
    // The highest update number held (received, or covered by a snapshot).
    let mut at = 0u64;
    let mut reached = 0u8;
    let mut closed_at: Option<u64> = None;
    let reach = |at: u64, reached: &mut u8| {
        let marks = [burst, paced, total];
        while usize::from(*reached) < marks.len() && at >= marks[usize::from(*reached)] {
            match *reached {
                0 => points.burst.reach(),
                1 => points.paced.reach(),
                _ => points.end.reach(),
            }
            *reached += 1;
        }
    };
    // `--kill-mode close`: told to hang up, once.
    let signal = hang_up.unwrap_or_default();
    let mut armed = home == 1;
    let hung_up = signal.notified();
    tokio::pin!(hung_up);
    hung_up.as_mut().enable();
    let mut early: std::collections::VecDeque<Utf8Bytes> = Default::default();
    while reached < 3 {
        let next = if let Some(text) = early.pop_front() {
            Ok(Some(text))
        } else {
            tokio::select! {
            biased;
            text = next_text(&mut socket, proto) => text,
            () = &mut hung_up, if armed => {
                armed = false;
                closed_at = Some(now_us());
                let _ = socket.close(None).await;
                tokio::time::sleep(CLOSE_DELAY).await;
                Ok(None)
            }
            }
        };
        let text = match next {
            Ok(Some(text)) => text,
            _ => {
                // The node is gone: resume on the survivor.
                let closed = now_us();
                closed_at.get_or_insert(closed);
                let spread = RECONNECT_SPREAD.as_micros() as u64;
                let jitter = (index as u64).wrapping_mul(7919) % spread;
                tokio::time::sleep(Duration::from_micros(jitter)).await;
                attempt_at.get_or_insert(now_us());
                let started = Instant::now();
                let resumed = loop {
                    let attempt = tokio::time::timeout(
                        ATTEMPT_LIMIT,
                        connect(survivor, proto, Some(base + at), &mut position),
                    );
                    match attempt.await.unwrap_or_else(|_| Err("timed out".into())) {
                        Ok(resumed) => break Some(resumed),
                        Err(_) if started.elapsed() < RECONNECT_LIMIT => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(error) => {
                            log.failed = Some(format!("cannot resume: {error}"));
                            break None;
                        }
                    }
                };
                let Some((resumed, joined)) = resumed else {
                    break;
                };
                socket = resumed;
                log.reconnects += 1;
                if let Joined::Resumed {
                    recovered,
                    early: sent,
                } = joined
                {
                    log.recovered += u64::from(recovered);
                    awaiting_snapshot = proto == Proto::SocketIo && !recovered;
                    early.extend(sent);
                }
                continue;
            }
        };
        let received = now_us();
        let Some((message, offset)) = parse_event(proto, &text) else {
            continue;
        };
        match &*message.kind {
            "update" => {
                let seq = message.seq;
                let sent = message
                    .merge
                    .as_ref()
                    .and_then(|Stamp(ts)| *ts)
                    .unwrap_or(received);
                let n = seq.wrapping_sub(base);
                if n == 0 || n > total {
                    log.strays += 1;
                    continue;
                }
                log.before_snapshot += u64::from(awaiting_snapshot);
                if let Some(closed) = closed_at.take() {
                    log.outage_us = Some(received.saturating_sub(closed));
                    log.resume_us = attempt_at.take().map(|at| received.saturating_sub(at));
                }
                let slot = &mut log.latency_us[n as usize - 1];
                if *slot == NONE {
                    *slot = received.saturating_sub(sent).min(u64::from(NONE - 1)) as u32;
                } else {
                    log.duplicated += 1;
                }
                if n == 1 {
                    log.first_ts_us = sent;
                }
                if n == burst {
                    log.burst_done_us = received;
                }
                at = at.max(n);
                let has_offset = offset.is_some();
                drop(message);
                if has_offset {
                    position.last_offset_text = Some(text);
                }
            }
            "snapshot" => {
                let n = message.seq_or_version().saturating_sub(base);
                if let Some(closed) = closed_at.take() {
                    log.outage_us = Some(received.saturating_sub(closed));
                    log.resume_us = attempt_at.take().map(|at| received.saturating_sub(at));
                }
                log.covered = log.covered.max(n);
                at = at.max(n);
                awaiting_snapshot = false;
            }
            "resync" => {
                // Our protocol: the node cannot replay from there; subscribe
                // again for a new snapshot, as the client library does.
                log.resyncs += 1;
                awaiting_snapshot = true;
                let again = json!({"type": "subscribe", "topic": TOPIC});
                if socket.send(Message::text(again.to_string())).await.is_err() {
                    continue;
                }
            }
            _ => {}
        }
        if !awaiting_snapshot {
            reach(at, &mut reached);
        }
    }
    // A client that gave up still reports, so that nobody waits for it.
    while reached < 3 {
        reach(u64::MAX, &mut reached);
    }
    (log, socket)
}

/// Starts node `index` on `redis`.
async fn start_node(command: &[String], redis: &Redis, index: usize) -> Result<Server> {
    let env = [
        ("REDIS_URL", format!("redis://127.0.0.1:{}", redis.port)),
        ("NODE_INDEX", index.to_string()),
    ];
    start_with(command, &env).await
}

/// CPU seconds of these processes (a dead one counts nothing).
fn cpu_of(pids: &[u32], ticks: f64) -> f64 {
    pids.iter()
        .map(|&pid| cpu_seconds(pid, ticks).unwrap_or(0.0))
        .sum()
}

/// The 50th and 99th percentiles of `values` (sorted here), in µs.
fn p50_p99(mut values: Vec<u32>) -> (u32, u32) {
    values.sort_unstable();
    (percentile(&values, 50.0), percentile(&values, 99.0))
}

pub(super) async fn run(options: Options) -> Result<Value> {
    let ticks = clock_ticks()?;
    let proto = options.proto;
    let k = options.subscribers;
    let redis = redis_server().await?;
    let mut nodes = vec![start_node(&options.node, &redis, 0).await?];
    nodes.push(start_node(&options.node, &redis, 1).await?);
    let ports = [nodes[0].port, nodes[1].port];
    let pids = [nodes[0].pid, nodes[1].pid];
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = [rss_kib(pids[0])?, rss_kib(pids[1])?];

    let connecting = Instant::now();
    let clients: Vec<(Socket, u64, Position)> = futures::stream::iter(0..k)
        .map(|index| async move {
            let mut position = Position::default();
            let port = ports[index % 2];
            let (socket, joined) = tokio::time::timeout(
                Duration::from_secs(60),
                connect(port, proto, None, &mut position),
            )
            .await
            .map_err(|_| Error::from("a subscriber took over 60 s to subscribe"))??;
            let Joined::Snapshot(version) = joined else {
                return Err(Error::from("no snapshot"));
            };
            Ok((socket, version, position))
        })
        .buffered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let connect_s = connecting.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = [rss_kib(pids[0])?, rss_kib(pids[1])?];

    let burst = options.updates;
    let paced = burst + options.paced;
    let total = paced + options.kill_updates;
    let points = Arc::new(Points {
        burst: Milestone::new(k),
        paced: Milestone::new(k),
        end: Milestone::new(k),
    });
    let hang_up = Arc::new(Notify::new());
    let followers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, (socket, base, position))| {
            tokio::spawn(follow(
                socket,
                proto,
                (index, index % 2),
                base,
                position,
                ports[0],
                [burst, paced, total],
                Arc::clone(&points),
                (options.kill_mode == KillMode::Close).then(|| Arc::clone(&hang_up)),
            ))
        })
        .collect();

    let me = std::process::id();
    // Each phase: the nodes', Redis's, the load generator's and everyone
    // else's CPU seconds.
    let sample = || -> Result<[f64; 4]> {
        Ok([
            cpu_of(&pids, ticks),
            cpu_seconds(redis.pid, ticks)?,
            cpu_seconds(me, ticks)?,
            machine_busy_seconds(ticks)?,
        ])
    };
    let spent = |before: [f64; 4], after: [f64; 4]| -> [f64; 4] {
        let [nodes, redis, loader, machine] = [0, 1, 2, 3].map(|i| after[i] - before[i]);
        [
            nodes,
            redis,
            loader,
            (machine - nodes - redis - loader).max(0.0),
        ]
    };

    let before = sample()?;
    get(ports[0], &format!("/bench/publish?count={burst}&pace_us=0")).await?;
    let burst_complete = points.burst.wait(PHASE_LIMIT).await;
    let cpu_burst = spent(before, sample()?);

    let before = sample()?;
    let pace_us = options.pace.as_micros();
    get(
        ports[0],
        &format!("/bench/publish?count={}&pace_us={pace_us}", options.paced),
    )
    .await?;
    let paced_complete = points.paced.wait(PHASE_LIMIT).await;
    let cpu_paced = spent(before, sample()?);

    // The kill: node 1 dies a third of the way through N paced updates.
    let kill_pace_us = options.kill_pace.as_micros();
    let path = format!(
        "/bench/publish?count={}&pace_us={kill_pace_us}",
        options.kill_updates
    );
    let stream = tokio::spawn(async move { get(ports[0], &path).await });
    tokio::time::sleep(options.kill_pace * (options.kill_updates / 3) as u32).await;
    match options.kill_mode {
        KillMode::Kill => {
            let killed = nodes.pop().ok_or("no node 1")?;
            let mut child = killed._child;
            child.start_kill()?;
            let _ = child.wait().await;
            eprintln!("node 1 (pid {}) killed with SIGKILL", pids[1]);
        }
        KillMode::Close => {
            hang_up.notify_waiters();
            eprintln!("node 1's clients hang up");
        }
    }
    let published = stream.await?;
    let end_complete = points.end.wait(PHASE_LIMIT).await;

    let mut logs = Vec::with_capacity(k);
    let mut sockets = Vec::with_capacity(k);
    for follower in followers {
        let (log, socket) = follower.await?;
        logs.push(log);
        sockets.push(socket);
    }
    futures::future::join_all(sockets.iter_mut().map(|socket| socket.close(None))).await;
    drop(nodes);
    drop(redis);

    // Deliveries per second of the burst, over every client of both nodes.
    let first_ts = logs
        .iter()
        .map(|log| log.first_ts_us)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(0);
    let burst_done = logs.iter().map(|log| log.burst_done_us).max().unwrap_or(0);
    let burst_s = burst_done.saturating_sub(first_ts) as f64 / 1e6;
    let latencies = |home: usize, range: std::ops::Range<u64>| -> Vec<u32> {
        logs.iter()
            .filter(|log| log.home == home)
            .flat_map(|log| log.latency_us[range.start as usize..range.end as usize].iter())
            .copied()
            .filter(|&latency| latency != NONE)
            .collect()
    };
    let (burst_remote_p50, burst_remote_p99) = p50_p99(latencies(1, 0..burst));
    let (burst_local_p50, burst_local_p99) = p50_p99(latencies(0, 0..burst));
    let (remote_p50, remote_p99) = p50_p99(latencies(1, burst..paced));
    let (local_p50, local_p99) = p50_p99(latencies(0, burst..paced));
    let (kill_p50, kill_p99) = p50_p99(latencies(0, paced..total));
    let (moved_p50, moved_p99) = p50_p99(latencies(1, paced..total));

    // What each client lost, in the whole run.
    let lost_of = |log: &Log| log.latency_us.iter().filter(|&&l| l == NONE).count() as u64;
    let uncovered_of = |log: &Log| {
        log.latency_us
            .iter()
            .enumerate()
            .filter(|&(n, &l)| l == NONE && n as u64 + 1 > log.covered)
            .count() as u64
    };
    let per_node = |home: usize, of: &dyn Fn(&Log) -> u64| -> u64 {
        logs.iter().filter(|log| log.home == home).map(of).sum()
    };
    let clients_with = |of: &dyn Fn(&Log) -> u64| logs.iter().filter(|log| of(log) > 0).count();
    let sorted = |of: &dyn Fn(&Log) -> Option<u64>| -> Vec<u32> {
        let mut values: Vec<u32> = logs
            .iter()
            .filter_map(of)
            .map(|us| us.min(u64::from(NONE - 1)) as u32)
            .collect();
        values.sort_unstable();
        values
    };
    let outages = sorted(&|log| log.outage_us);
    let resumes = sorted(&|log| log.resume_us);
    let failures: Vec<&String> = logs.iter().filter_map(|log| log.failed.as_ref()).collect();
    if let Some(failure) = failures.first() {
        eprintln!("{} clients failed; the first: {failure}", failures.len());
    }
    let moved = logs.iter().filter(|log| log.home == 1).count();

    let kill = json!({
        "published": published.map_or_else(|error| error.to_string(), |body| body.trim().to_owned()),
        "moved_clients": moved,
        "reconnects": logs.iter().map(|log| log.reconnects).sum::<u64>(),
        "recovered": logs.iter().map(|log| log.recovered).sum::<u64>(),
        "resyncs": logs.iter().map(|log| log.resyncs).sum::<u64>(),
        "snapshots_after_start": logs.iter().filter(|log| log.covered > 0).count(),
        "failed_clients": failures.len(),
        "lost": {"moved": per_node(1, &lost_of), "stayed": per_node(0, &lost_of)},
        "lost_uncovered": {"moved": per_node(1, &uncovered_of), "stayed": per_node(0, &uncovered_of)},
        "duplicated": {"moved": per_node(1, &|log| log.duplicated), "stayed": per_node(0, &|log| log.duplicated)},
        "clients_that_lost": clients_with(&lost_of),
        "clients_with_duplicates": clients_with(&|log| log.duplicated),
        "strays": logs.iter().map(|log| log.strays).sum::<u64>(),
        "outage_p50_us": percentile(&outages, 50.0),
        "outage_p99_us": percentile(&outages, 99.0),
        "outage_max_us": outages.last().copied().unwrap_or(0),
        "resume_p50_us": percentile(&resumes, 50.0),
        "resume_p99_us": percentile(&resumes, 99.0),
        "resume_max_us": resumes.last().copied().unwrap_or(0),
        "clients_reconnected_twice": logs.iter().filter(|log| log.reconnects > 1).count(),
        "updates_before_snapshot": logs.iter().map(|log| log.before_snapshot).sum::<u64>(),
        "clients_with_updates_before_snapshot": logs.iter().filter(|log| log.before_snapshot > 0).count(),
        "moved_without_snapshot_or_recovery": logs
            .iter()
            .filter(|log| log.home == 1 && log.covered == 0 && log.recovered == 0)
            .count(),
        "reconnect_spread_ms": RECONNECT_SPREAD.as_millis() as u64,
    });
    let cpu = |[nodes, redis, loader, others]: [f64; 4]| json!({"nodes": nodes, "redis": redis, "loader": loader, "others": others});
    Ok(json!({
        "bench": "cluster",
        "loader": "rust",
        "server": match proto { Proto::Ours => "live-resource", Proto::SocketIo => "socket.io" },
        "nodes": 2,
        "subscribers": k,
        "updates": burst,
        "paced": options.paced,
        "pace_ms": options.pace.as_millis() as u64,
        "kill_updates": options.kill_updates,
        "kill_pace_ms": options.kill_pace.as_millis() as u64,
        "kill_mode": match options.kill_mode { KillMode::Kill => "kill -9", KillMode::Close => "clients close" },
        "connect_s": connect_s,
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "burst_s": burst_s,
        "deliveries_per_s": (k as u64 * burst) as f64 / burst_s,
        "burst_remote_p50_us": burst_remote_p50,
        "burst_remote_p99_us": burst_remote_p99,
        "burst_local_p50_us": burst_local_p50,
        "burst_local_p99_us": burst_local_p99,
        "remote_p50_us": remote_p50,
        "remote_p99_us": remote_p99,
        "local_p50_us": local_p50,
        "local_p99_us": local_p99,
        "kill_stayed_p50_us": kill_p50,
        "kill_stayed_p99_us": kill_p99,
        "kill_moved_p50_us": moved_p50,
        "kill_moved_p99_us": moved_p99,
        "cpu_burst_s": cpu(cpu_burst),
        "cpu_paced_s": cpu(cpu_paced),
        "complete": burst_complete && paced_complete && end_complete && failures.is_empty(),
        "kill": kill,
    }))
}
