//! A Socket.IO client source: follow a Socket.IO server's events as a
//! [`LiveResource`](crate::LiveResource).
//!
//! [`SocketIoClient`] speaks Engine.IO v4 and Socket.IO v5 (the protocol of
//! the `socket.io` 4 server and of socketioxide) over WebSocket only, on
//! tokio-tungstenite: no long-polling, no OpenSSL. `https://` and `wss://`
//! servers are reached over TLS (rustls), trusting the roots of a
//! [`Tls`] ([`SocketIoClient::tls`]). Two modes:
//!
//! - **Envelopes** ([`SocketIoClient::topic`]): a server that speaks this
//!   crate's protocol as Socket.IO events, such as
//!   [`socketio::layer`](crate::socketio::layer): the source emits
//!   `subscribe` with `{"topic":..,"since":..}` and reads `snapshot`,
//!   `update`, `resync`, `heartbeat` and `error` events. Updates carry `seq`:
//!   after a reconnect the resource resumes after its version and loses
//!   nothing the server can replay.
//! - **Legacy partials** ([`SocketIoClient::event`]): an existing gateway
//!   whose events of one name each carry a bare partial object, with no
//!   `seq`. Each is applied as a merge patch in arrival order. The snapshot
//!   comes from elsewhere, usually the gateway's REST endpoint:
//!   [`WithSnapshot`] joins the two.
//!
//! ```no_run
//! use futures::StreamExt;
//! use live_resource::LiveResource;
//! use live_resource::client::http::HttpSnapshot;
//! use live_resource::client::socketio::SocketIoClient;
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! struct Activity { online: u32, sessions: std::collections::HashMap<String, u32> }
//!
//! # #[tokio::main]
//! # async fn main() {
//! let gateway = SocketIoClient::new("http://127.0.0.1:3000").header("cookie", "session=abc");
//! // Each `activity` event is a partial object; GET /api/activity is the whole.
//! let source = gateway
//!     .event("activity")
//!     .with_snapshot(HttpSnapshot::rest("http://127.0.0.1:3000/api/activity"));
//! let mut activity = LiveResource::<Activity>::connect(source);
//! while let Some(state) = activity.next().await {
//!     println!("{state:?}");
//! }
//! # }
//! ```
//!
//! # Recovery
//!
//! Each stream has a connection of its own. When it is lost (closed, or
//! silent past the server's ping interval and ping timeout), the stream ends
//! with an error item ([`SocketIoError::is_disconnect`]), and the
//! [`LiveResource`](crate::LiveResource) reconnects through its
//! [`Backoff`](crate::Backoff):
//!
//! - in envelope mode it subscribes with `since` and the server replays what
//!   was missed, or sends `resync` and a new snapshot is taken;
//! - in legacy mode nothing can be replayed, since partials carry no `seq`:
//!   every reconnect fetches the snapshot again (the source answers a resume
//!   with [`Event::Resync`]), and the partials that arrive while it is
//!   fetched are applied on top of it. Merge patches are idempotent, so one
//!   already in the snapshot does no harm, and the state converges to the
//!   gateway's; a partial the gateway sends while no connection is open is
//!   lost, and only the new snapshot brings its effect.
//!
//! A message that breaks the [`Limits`] or the wire form is an error item
//! (a [`crate::Error`]) and the stream goes on. Updates are read with
//! [`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy): a numbered
//! `merge` update is read as far as its patch, and a patch that turns out
//! not to be JSON is found when it is applied: [`crate::Error::Malformed`]
//! then, reported as if found when read.
//!
//! # Slow consumers
//!
//! The connection's task answers pings whatever the consumer does, and
//! queues at most [`SocketIoClient::subscriber_queue`] events. What does not
//! fit is dropped, and the consumer gets an [`Event::Resync`] in its place,
//! never a silent gap.

mod connection;
mod error;
mod packet;
mod with_snapshot;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::client::Tls;
use crate::source::{Event, EventStream, SnapshotSource, UpdateSource};
use crate::{BoxError, Limits, Snapshot};
use connection::Mode;
pub use error::SocketIoError;
pub use with_snapshot::WithSnapshot;

/// The ping interval and timeout of a `socket.io` 4 server, by default.
const DEFAULT_PING: (Duration, Duration) = (Duration::from_secs(25), Duration::from_secs(20));

/// The Engine.IO path of a `socket.io` server, by default.
const DEFAULT_PATH: &str = "/socket.io/";

/// A Socket.IO server to follow: its address and the settings of every
/// connection made to it.
///
/// Nothing connects until a source's stream is opened, and each stream
/// opens a connection of its own. Cloning is cheap.
///
/// The URL is read the way `socket.io-client`'s `io(url)` reads it: its path
/// is the namespace (`http://host:3000/admin` is namespace `/admin`) and its
/// query goes with the handshake. `http`, `https`, `ws` and `wss` schemes
/// are accepted; `https` and `wss` connect over TLS.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use live_resource::Limits;
/// use live_resource::client::socketio::SocketIoClient;
///
/// let server = SocketIoClient::new("http://127.0.0.1:3000/live?tenant=7")
///     .path("/realtime/")
///     .auth(serde_json::json!({"token": "s3cret"}))
///     .ping(Duration::from_secs(10), Duration::from_secs(5))
///     .limits(Limits::default().max_message_bytes(64 * 1024));
/// # let _ = &server;
/// let quotes = server.topic("quotes");
/// assert_eq!(quotes.topic(), "quotes");
/// ```
#[derive(Clone)]
pub struct SocketIoClient {
    config: Arc<Config>,
}

/// A client's settings.
#[derive(Clone)]
pub(crate) struct Config {
    url: String,
    path: String,
    namespace: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Why a setting was refused: every connection attempt fails with it.
    invalid: Option<String>,
    auth: Option<Value>,
    limits: Limits,
    ping: (Duration, Duration),
    connect_timeout: Duration,
    queue: usize,
    tls: Tls,
}

/// A URL taken apart: `scheme://authority/path?query`.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    Some(Parts {
        scheme,
        authority,
        path,
        query,
    })
}

impl Config {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The WebSocket URL of the Engine.IO handshake.
    fn handshake_url(&self) -> Result<String, SocketIoError> {
        let invalid = || SocketIoError::config(format!("invalid url `{}`", self.url_for_logs()));
        let parts = split(&self.url).ok_or_else(invalid)?;
        let scheme = match parts.scheme {
            "http" | "ws" => "ws",
            "https" | "wss" => "wss",
            _ => return Err(invalid()),
        };
        let query = parts
            .query
            .map(|query| format!("{query}&"))
            .unwrap_or_default();
        Ok(format!(
            "{scheme}://{}{}?{query}EIO=4&transport=websocket",
            parts.authority, self.path
        ))
    }

    /// The URL without the parts that may carry credentials: user
    /// information and query.
    fn url_for_logs(&self) -> String {
        let Some(parts) = split(&self.url) else {
            return self.url.split('?').next().unwrap_or_default().to_owned();
        };
        let host = parts
            .authority
            .rsplit_once('@')
            .map_or(parts.authority, |(_, host)| host);
        format!("{}://{host}{}", parts.scheme, parts.path)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Config")
            .field("url", &self.url_for_logs())
            .field("path", &self.path)
            .field("namespace", &self.namespace)
            .field("headers", &names)
            .field("auth", &self.auth.as_ref().map(|_| "<hidden>"))
            .field("invalid", &self.invalid)
            .field("limits", &self.limits)
            .field("ping", &self.ping)
            .field("connect_timeout", &self.connect_timeout)
            .field("subscriber_queue", &self.queue)
            .field("tls", &self.tls)
            .finish()
    }
}

impl SocketIoClient {
    /// A client of the Socket.IO server at `url`, such as
    /// `http://127.0.0.1:3000` or `http://127.0.0.1:3000/admin` for the
    /// namespace `/admin`. Nothing connects yet.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        let namespace = split(&url)
            .map(|parts| parts.path.trim_end_matches('/'))
            .filter(|path| !path.is_empty())
            .unwrap_or("/")
            .to_owned();
        Self {
            config: Arc::new(Config {
                url,
                path: DEFAULT_PATH.to_owned(),
                namespace,
                headers: Vec::new(),
                invalid: None,
                auth: None,
                limits: Limits::default(),
                ping: DEFAULT_PING,
                connect_timeout: Duration::from_secs(10),
                queue: 1024,
                tls: Tls::new(),
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// Sets the Engine.IO path (default `/socket.io/`), as `socket.io-client`'s
    /// `path` option does.
    pub fn path(self, path: &str) -> Self {
        let path = format!("/{}/", path.trim_matches('/')).replace("//", "/");
        self.configure(|config| config.path = path)
    }

    /// Connects to `namespace` instead of the one the URL names (its path,
    /// or `/`).
    pub fn namespace(self, namespace: &str) -> Self {
        let namespace = format!("/{}", namespace.trim_start_matches('/'));
        self.configure(|config| config.namespace = namespace)
    }

    /// Adds a header to the WebSocket upgrade request, such as `cookie` or
    /// `authorization`. Its value is not shown by `Debug`.
    ///
    /// An invalid name or value makes every connection fail with a
    /// [`Permanent`](crate::source::Permanent) error that names the header.
    pub fn header(self, name: &str, value: &str) -> Self {
        let parsed = HeaderName::try_from(name)
            .map_err(|error| error.to_string())
            .and_then(|header| {
                let mut value = HeaderValue::try_from(value).map_err(|error| error.to_string())?;
                value.set_sensitive(true);
                Ok((header, value))
            });
        self.configure(|config| match parsed {
            Ok(header) => config.headers.push(header),
            Err(error) => {
                let why = format!("invalid header `{name}`: {error}");
                config.invalid.get_or_insert(why);
            }
        })
    }

    /// Sets the payload of the namespace connect, as `socket.io-client`'s
    /// `auth` option does (a token, for the server's middleware). It is not
    /// shown by `Debug`.
    pub fn auth(self, auth: Value) -> Self {
        self.configure(|config| config.auth = Some(auth))
    }

    /// Sets the bounds every event is checked against (default
    /// [`Limits::default`]): an update or partial against
    /// [`max_message_bytes`](Limits::max_message_bytes), a snapshot against
    /// [`max_snapshot_bytes`](Limits::max_snapshot_bytes), both against
    /// [`max_depth`](Limits::max_depth). A WebSocket message larger than the
    /// snapshot bound, with a little room, closes the connection.
    pub fn limits(self, limits: Limits) -> Self {
        self.configure(|config| config.limits = limits)
    }

    /// Sets the ping interval and timeout the server is expected to use
    /// (default `socket.io`'s 25 s and 20 s), for
    /// [`UpdateSource::heartbeat`]: a resource that hears nothing for three
    /// times their sum reconnects. Each connection also takes itself for dead
    /// when no ping comes within the interval and timeout the server
    /// announced in its handshake.
    pub fn ping(self, interval: Duration, timeout: Duration) -> Self {
        self.configure(|config| config.ping = (interval, timeout))
    }

    /// Sets how long opening a connection may take, handshake included
    /// (default 10 s).
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.configure(|config| config.connect_timeout = timeout)
    }

    /// Sets how many events may wait for one stream's consumer (default
    /// 1024, at least 2). A consumer that falls further behind gets an
    /// [`Event::Resync`] in place of what did not fit.
    pub fn subscriber_queue(self, events: usize) -> Self {
        self.configure(|config| config.queue = events.max(2))
    }

    /// Sets the TLS settings of `https://` and `wss://` connections (default
    /// [`Tls::new`]: the roots the HTTP client trusts). Give the same
    /// [`Tls`] to the [`HttpSnapshot`](crate::client::http::HttpSnapshot) of
    /// a legacy gateway's REST endpoint.
    ///
    /// A certificate the client refuses (untrusted, not valid for the
    /// server's name, expired) fails the connection with a
    /// [`Permanent`](crate::source::Permanent) error whose cause is a
    /// [`CertificateError`](crate::client::CertificateError).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use live_resource::client::Tls;
    /// use live_resource::client::http::HttpSnapshot;
    /// use live_resource::client::socketio::SocketIoClient;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let tls = Tls::new().add_root_certificate(std::fs::read("company-ca.pem")?)?;
    /// let gateway = SocketIoClient::new("https://gateway.internal:3000").tls(tls.clone());
    /// let activity = gateway
    ///     .event("activity")
    ///     .with_snapshot(HttpSnapshot::rest("https://gateway.internal:3000/api/activity").tls(tls));
    /// # let _ = activity;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(self, tls: Tls) -> Self {
        self.configure(|config| config.tls = tls)
    }

    /// One topic of a server that speaks this crate's protocol over
    /// Socket.IO (envelope mode).
    pub fn topic(&self, topic: impl Into<String>) -> SocketIoSource {
        SocketIoSource {
            client: self.clone(),
            topic: topic.into(),
        }
    }

    /// The partial objects a legacy server emits as events named `event`
    /// (legacy mode).
    pub fn event(&self, event: impl Into<String>) -> SocketIoEvents {
        SocketIoEvents {
            client: self.clone(),
            event: event.into(),
            emits: Vec::new(),
        }
    }

    fn heartbeat(&self) -> Option<Duration> {
        let (interval, timeout) = self.config.ping;
        Some(interval.saturating_add(timeout)).filter(|period| !period.is_zero())
    }
}

impl fmt::Debug for SocketIoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoClient")
            .field("config", &self.config)
            .finish()
    }
}

/// One topic of a server that speaks this crate's protocol over Socket.IO,
/// such as [`socketio::layer`](crate::socketio::layer): a whole
/// [`Source`](crate::source::Source). Made by [`SocketIoClient::topic`].
///
/// A stream opened without `since` begins with the topic's snapshot, which
/// the server takes atomically with the subscription, so a
/// [`LiveResource`](crate::LiveResource) needs no separate fetch.
///
/// # Examples
///
/// ```no_run
/// use futures::StreamExt;
/// use live_resource::LiveResource;
/// use live_resource::client::socketio::SocketIoClient;
/// use serde_json::Value;
///
/// # #[tokio::main]
/// # async fn main() {
/// let quotes = SocketIoClient::new("http://127.0.0.1:8080").topic("quotes");
/// let mut quotes = LiveResource::<Value>::connect(quotes);
/// while let Some(state) = quotes.next().await {
///     println!("{state:?}");
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SocketIoSource {
    client: SocketIoClient,
    topic: String,
}

/// The payload of `subscribe`.
#[derive(Serialize)]
struct Subscribe<'a> {
    topic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<u64>,
}

impl SocketIoSource {
    /// The topic this source follows.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The client whose settings this source uses.
    pub fn client(&self) -> &SocketIoClient {
        &self.client
    }
}

#[async_trait]
impl UpdateSource for SocketIoSource {
    /// Connects and emits `subscribe` with `{"topic":..,"since":..}`.
    ///
    /// The stream yields the server's `snapshot`, `update`, `resync` and
    /// `heartbeat` events for this topic, and each Engine.IO ping as an
    /// [`Event::Heartbeat`] without a version. Dropping it leaves the
    /// namespace and closes the connection.
    ///
    /// # Errors
    ///
    /// Connecting can fail ([`SocketIoError::is_connect`], or
    /// [`SocketIoError::is_refused`] for a `connect_error`, which is
    /// [`Permanent`](crate::source::Permanent), as is a server certificate
    /// refused, whose cause is a
    /// [`CertificateError`](crate::client::CertificateError)). Items of the stream can be
    /// errors too: a bad message (a [`crate::Error`]; the stream goes on), a
    /// refusal by the server ([`SocketIoError::server_code`]
    /// `unknown_topic`, whose [`source`](std::error::Error::source) is
    /// [`Error::UnknownTopic`](crate::Error::UnknownTopic),
    /// `too_many_subscriptions`, or a permanent `forbidden`; the stream
    /// ends), or a lost connection ([`SocketIoError::is_disconnect`];
    /// the stream ends).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes subscribes to nothing.
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        let config = &self.client.config;
        let subscribe = Subscribe {
            topic: &self.topic,
            since,
        };
        let emits = vec![packet::event(config.namespace(), "subscribe", &subscribe)];
        let mode = Mode::Envelope {
            topic: self.topic.clone(),
        };
        connection::open(config, mode, emits).await
    }

    fn includes_snapshot(&self) -> bool {
        true
    }

    fn heartbeat(&self) -> Option<Duration> {
        self.client.heartbeat()
    }
}

#[async_trait]
impl SnapshotSource for SocketIoSource {
    /// Subscribes without `since` for as long as the server's snapshot takes
    /// to come.
    ///
    /// # Errors
    ///
    /// As [`updates`](UpdateSource::updates), and a
    /// [`SocketIoError::is_timeout`] when no snapshot comes within the
    /// connect timeout.
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        let wait = self.client.config.connect_timeout;
        let mut events = self.updates(None).await?;
        let first = tokio::time::timeout(wait, async {
            while let Some(event) = events.next().await {
                if let Event::Snapshot(snapshot) = event? {
                    return Ok(snapshot);
                }
            }
            Err(SocketIoError::disconnected("the stream ended before the snapshot came").into())
        });
        match first.await {
            Ok(snapshot) => snapshot,
            Err(_) => {
                Err(SocketIoError::timeout(format!("the snapshot of `{}`", self.topic)).into())
            }
        }
    }
}

/// The events of one name from a legacy Socket.IO server, each a bare
/// partial object with no `seq`: an [`UpdateSource`] whose updates are
/// [`Update::unsequenced`](crate::Update::unsequenced) merge patches. Made by
/// [`SocketIoClient::event`].
///
/// It has no snapshot of its own: give it one with
/// [`with_snapshot`](SocketIoEvents::with_snapshot), usually the gateway's
/// REST endpoint.
///
/// # Examples
///
/// ```
/// use live_resource::client::http::HttpSnapshot;
/// use live_resource::client::socketio::SocketIoClient;
/// use live_resource::source::UpdateSource;
/// use serde_json::json;
///
/// let jobs = SocketIoClient::new("http://127.0.0.1:3000/jobs")
///     .event("progress")
///     // Some gateways send only to the sockets that asked.
///     .emit_on_connect("join", json!({"job": 42}))
///     .with_snapshot(HttpSnapshot::rest("http://127.0.0.1:3000/api/jobs/42"));
/// assert!(!jobs.includes_snapshot());
/// ```
#[derive(Clone, Debug)]
pub struct SocketIoEvents {
    client: SocketIoClient,
    event: String,
    emits: Vec<(String, Value)>,
}

impl SocketIoEvents {
    /// The name of the events followed.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Emits `event` with `payload` each time a connection is made, before
    /// anything is read: a gateway that sends only to the sockets that joined
    /// a room, or asked, needs it.
    pub fn emit_on_connect(mut self, event: impl Into<String>, payload: Value) -> Self {
        self.emits.push((event.into(), payload));
        self
    }

    /// This source, with its snapshots from `snapshot`.
    pub fn with_snapshot<S: SnapshotSource>(self, snapshot: S) -> WithSnapshot<Self, S> {
        WithSnapshot::new(self, snapshot)
    }
}

#[async_trait]
impl UpdateSource for SocketIoEvents {
    /// Connects, emits what [`emit_on_connect`](SocketIoEvents::emit_on_connect)
    /// asks, and yields each event named [`event`](SocketIoEvents::event) as an
    /// unsequenced merge patch, and each Engine.IO ping as an
    /// [`Event::Heartbeat`].
    ///
    /// With `since: Some(_)`, a resume, the stream is only
    /// [`Event::Resync`] and no connection is made: partials cannot be
    /// replayed, so the resource must fetch its snapshot again, and it
    /// reconnects with `since: None` to do so.
    ///
    /// # Errors
    ///
    /// As [`SocketIoSource`]'s, without the refusals of topics.
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        if since.is_some() {
            return Ok(futures::stream::iter([Ok(Event::Resync)]).boxed());
        }
        let config = &self.client.config;
        let emits = self
            .emits
            .iter()
            .map(|(event, payload)| packet::event(config.namespace(), event, payload))
            .collect();
        let mode = Mode::Legacy {
            event: self.event.clone(),
        };
        connection::open(config, mode, emits).await
    }

    fn heartbeat(&self) -> Option<Duration> {
        self.client.heartbeat()
    }
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): a
/// server's text message read as the connection reads it, and for an event
/// its name and first argument; `Ok(None)` for any other packet.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_for_fuzzing(text: &str) -> Result<Option<(String, Option<String>)>, String> {
    use packet::{Engine, Kind, Packet};
    let json = match packet::parse(text).map_err(|why| why.to_string())? {
        Engine::Message(Packet {
            kind: Kind::Event(json),
            ..
        }) => json,
        _ => return Ok(None),
    };
    let arguments = packet::arguments(json).map_err(|error| error.to_string())?;
    let first = arguments.first.map(|raw| raw.get().to_owned());
    Ok(Some((arguments.name.into_owned(), first)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_socketio_client_reads_them() {
        let client = SocketIoClient::new("http://user:pw@example.com:3000/admin?token=abc");
        assert_eq!(client.config.namespace(), "/admin");
        assert_eq!(
            client.config.handshake_url().unwrap(),
            "ws://user:pw@example.com:3000/socket.io/?token=abc&EIO=4&transport=websocket"
        );
        assert_eq!(
            client.config.url_for_logs(),
            "http://example.com:3000/admin"
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("abc") && !debug.contains("pw"), "{debug}");

        let client = SocketIoClient::new("https://example.com/").path("realtime");
        assert_eq!(client.config.namespace(), "/");
        assert_eq!(
            client.config.handshake_url().unwrap(),
            "wss://example.com/realtime/?EIO=4&transport=websocket"
        );
        let client = SocketIoClient::new("ws://h:1").namespace("live");
        assert_eq!(client.config.namespace(), "/live");
        assert!(SocketIoClient::new("h:1").config.handshake_url().is_err());
        assert!(
            SocketIoClient::new("ftp://h")
                .config
                .handshake_url()
                .is_err()
        );
    }

    #[test]
    fn the_heartbeat_is_the_ping_interval_and_timeout() {
        let client = SocketIoClient::new("http://h");
        assert_eq!(client.topic("q").heartbeat(), Some(Duration::from_secs(45)));
        let client = client.ping(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(client.event("e").heartbeat(), Some(Duration::from_secs(3)));
        assert!(client.topic("q").includes_snapshot());
        assert!(!client.event("e").includes_snapshot());
    }

    #[tokio::test]
    async fn a_legacy_resume_asks_for_a_new_snapshot_without_connecting() {
        let events = SocketIoClient::new("http://127.0.0.1:9").event("stats");
        let resumed: Vec<Event> = events
            .updates(Some(7))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(resumed, [Event::Resync]);
    }

    #[test]
    fn sources_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<SocketIoClient>();
        assert_send_sync::<SocketIoSource>();
        assert_send_sync::<SocketIoEvents>();
        assert_send_sync::<SocketIoError>();
    }
}
