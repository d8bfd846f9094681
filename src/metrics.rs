//! Metrics (feature `metrics`): what the hub and the server do, recorded
//! through the [`metrics`](https://docs.rs/metrics) facade, so that any of
//! its exporters (Prometheus, OpenTelemetry, StatsD) shows them. Without a
//! recorder installed, recording costs a check and nothing else; without the
//! feature, nothing at all.
//!
//! | metric | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `live_resource_connections_open` | gauge | `transport` | live connections open now (SSE streams, WebSocket and Socket.IO clients); for `http`, snapshot requests being answered |
//! | `live_resource_connections_opened_total` | counter | `transport` | connections opened (for `http`, snapshot requests received) |
//! | `live_resource_subscriptions_open` | gauge | `transport` | subscriptions open now: topics followed, over every connection (an SSE stream is one) |
//! | `live_resource_subscriptions_opened_total` | counter | `transport` | subscriptions granted |
//! | `live_resource_updates_published_total` | counter | | updates a [`Hub`](crate::Hub) published: new versions, each once however many follow it; a node of a `RedisHub` counts those its replica applies, from whichever node made them |
//! | `live_resource_updates_delivered_total` | counter | `transport` | updates sent to clients: one for each client that follows the topic |
//! | `live_resource_resyncs_total` | counter | `transport` | `resync`s sent: a client told to take a new snapshot (it fell behind, or asked to resume from where the hub cannot replay) |
//! | `live_resource_refused_total` | counter | `transport`, `reason` | requests refused: messages, subscriptions, snapshot requests; `reason` is the [`ErrorCode`] the client is told (`unknown_topic`, `forbidden`, `too_many_subscriptions`, `bad_message`, `too_large`, `too_deep`, `unavailable`), also for the HTTP status that says the same (403, 404, 400, 503) |
//! | `live_resource_write_timeouts_total` | counter | `transport` | connections ended because the client took in nothing for too long: `ws` by the WebSocket route's stall limit, `serve` by [`server::serve`](crate::server::serve)'s write timeout (on any connection it serves) |
//! | `live_resource_sent_bytes_total` | counter | `transport` | bytes of messages sent to clients: the JSON text of each snapshot, update, resync, heartbeat and error, without the transport's framing (HTTP headers, SSE field names, WebSocket and Socket.IO frame headers) |
//!
//! `transport` is one of `http` (snapshots, `GET /live/{topic}`), `sse`,
//! `ws` and `socketio` (and `serve` for write timeouts). Names follow
//! Prometheus' conventions: a counter ends in `_total`, a unit is in the
//! name. [`describe`] gives each its help text and unit.
//!
//! # Per topic
//!
//! No metric has a `topic` label. Topic names are the application's and may
//! be unbounded (`users/{id}/notifications`, `jobs/{id}`): a label per topic
//! makes a time series per topic in every exporter, which is how metrics
//! stores run out of memory. An application that knows its topics are few
//! records them itself where it publishes (`metrics::counter!("...",
//! "topic" => name)`), and reads a topic's followers and version from
//! [`Hub::topics`](crate::Hub::topics) or `GET /live`.
//!
//! # Cost
//!
//! Each event looks its metric up in the installed recorder (for the
//! Prometheus exporter, a hash of the name and labels and a shared map):
//! tens of nanoseconds, once per update sent to a client, beside the
//! microseconds of writing it.
//!
//! # Examples
//!
//! Serving them at `/metrics` beside the live routes, with
//! `metrics-exporter-prometheus` (the `metrics` example runs this):
//!
//! ```no_run
//! use axum::routing::get;
//! use live_resource::Hub;
//! use metrics_exporter_prometheus::PrometheusBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let prometheus = PrometheusBuilder::new().install_recorder()?;
//! live_resource::metrics::describe();
//!
//! let hub = Hub::new();
//! let app = live_resource::server::router(hub.clone())
//!     .route("/metrics", get(move || async move { prometheus.render() }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! live_resource::server::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

use ::metrics::{Counter, Gauge, Unit, counter, describe_counter, describe_gauge, gauge};

use crate::protocol::ErrorCode;

const CONNECTIONS_OPEN: &str = "live_resource_connections_open";
const CONNECTIONS_OPENED: &str = "live_resource_connections_opened_total";
const SUBSCRIPTIONS_OPEN: &str = "live_resource_subscriptions_open";
const SUBSCRIPTIONS_OPENED: &str = "live_resource_subscriptions_opened_total";
const PUBLISHED: &str = "live_resource_updates_published_total";
const DELIVERED: &str = "live_resource_updates_delivered_total";
const RESYNCS: &str = "live_resource_resyncs_total";
const REFUSED: &str = "live_resource_refused_total";
const WRITE_TIMEOUTS: &str = "live_resource_write_timeouts_total";
const SENT_BYTES: &str = "live_resource_sent_bytes_total";

/// Gives every metric of this crate its help text and unit in the installed
/// recorder (the `# HELP` lines of a Prometheus scrape). Call it once, after
/// installing the recorder; recording works without it.
///
/// # Examples
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || {
///     live_resource::metrics::describe();
///     let hub = live_resource::Hub::new();
///     hub.set("quotes", 1).unwrap();
///     hub.set("quotes", 2).unwrap();
/// });
/// let (key, unit, help, value) = snapshotter.snapshot().into_vec().pop().unwrap();
/// assert_eq!(key.key().name(), "live_resource_updates_published_total");
/// assert_eq!(help.as_deref(), Some("Updates published by a hub."));
/// assert_eq!(unit, Some(metrics::Unit::Count));
/// # let _ = value;
/// ```
pub fn describe() {
    let gauges = [
        (CONNECTIONS_OPEN, "Live connections open now, by transport."),
        (SUBSCRIPTIONS_OPEN, "Subscriptions open now, by transport."),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, Unit::Count, help);
    }
    let counters = [
        (CONNECTIONS_OPENED, "Connections opened, by transport."),
        (SUBSCRIPTIONS_OPENED, "Subscriptions granted, by transport."),
        (PUBLISHED, "Updates published by a hub."),
        (DELIVERED, "Updates sent to clients, by transport."),
        (RESYNCS, "Resyncs sent to clients, by transport."),
        (REFUSED, "Requests refused, by transport and reason."),
        (
            WRITE_TIMEOUTS,
            "Connections ended because the client took in nothing for too long.",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, Unit::Count, help);
    }
    describe_counter!(
        SENT_BYTES,
        Unit::Bytes,
        "Bytes of messages sent to clients, without framing, by transport."
    );
}

/// The way a client reached the server: the `transport` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "socketio"), allow(dead_code))]
pub(crate) enum Transport {
    /// Snapshots, `GET /live/{topic}`.
    Http,
    Sse,
    Ws,
    SocketIo,
    /// `server::serve`, for any connection it serves.
    Serve,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Sse => "sse",
            Self::Ws => "ws",
            Self::SocketIo => "socketio",
            Self::Serve => "serve",
        }
    }
}

/// What an [`Open`] counts while it lives.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) enum Kind {
    Connection,
    Subscription,
}

/// One open connection or subscription, counted in its gauge until dropped.
#[derive(Debug)]
pub(crate) struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Counts a connection or subscription opened, and open while the guard lives.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn open(kind: Kind, transport: Transport) -> Open {
    let (open, opened) = match kind {
        Kind::Connection => (CONNECTIONS_OPEN, CONNECTIONS_OPENED),
        Kind::Subscription => (SUBSCRIPTIONS_OPEN, SUBSCRIPTIONS_OPENED),
    };
    let transport = transport.as_str();
    counter!(opened, "transport" => transport).increment(1);
    let gauge = gauge!(open, "transport" => transport);
    gauge.increment(1.0);
    Open(gauge)
}

/// A hub published an update.
pub(crate) fn published() {
    counter!(PUBLISHED).increment(1);
}

fn by_transport(name: &'static str, transport: Transport) -> Counter {
    counter!(name, "transport" => transport.as_str())
}

/// An update was sent to a client.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn delivered(transport: Transport) {
    by_transport(DELIVERED, transport).increment(1);
}

/// A client was told to resync.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn resync(transport: Transport) {
    by_transport(RESYNCS, transport).increment(1);
}

/// A client's request was refused with `code`.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn refused(transport: Transport, code: ErrorCode) {
    counter!(REFUSED, "transport" => transport.as_str(), "reason" => code.as_str()).increment(1);
}

/// A connection ended because its client took in nothing for too long.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn write_timeout(transport: Transport) {
    by_transport(WRITE_TIMEOUTS, transport).increment(1);
}

/// `bytes` of messages were sent to a client.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn sent(transport: Transport, bytes: usize) {
    by_transport(SENT_BYTES, transport).increment(u64::try_from(bytes).unwrap_or(u64::MAX));
}

/// The JSON text of `data` was sent to a client: its length is counted
/// without keeping the text.
#[cfg(feature = "socketio")]
pub(crate) fn sent_json<T: ?Sized + serde::Serialize>(transport: Transport, data: &T) {
    /// Counts what is written to it.
    struct Length(usize);
    impl std::io::Write for Length {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut length = Length(0);
    if serde_json::to_writer(&mut length, data).is_ok() {
        sent(transport, length.0);
    }
}
