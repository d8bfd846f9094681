//! A WebSocket client that follows many topics over one connection.
//!
//! [`WsClient`] speaks the `GET /live/ws` protocol of this crate's server:
//! each topic is a [`WsSource`], a full [`Source`](crate::source::Source) for
//! [`LiveResource::connect`](crate::LiveResource::connect). Every topic of a
//! client shares one connection, opened on first use and owned by one
//! background task.
//!
//! `wss://` URLs are reached over TLS (rustls), trusting the roots of a
//! [`Tls`] ([`WsClient::tls`]; by default the ones the HTTP client trusts).
//!
//! ```no_run
//! use futures::StreamExt;
//! use live_resource::LiveResource;
//! use live_resource::client::ws::WsClient;
//! use serde_json::Value;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let client = WsClient::new("ws://127.0.0.1:8080/live/ws")
//!     .header("authorization", "Bearer s3cret");
//!
//! // Two topics, one connection.
//! let mut quotes = LiveResource::<Value>::connect(client.source("quotes"));
//! let mut jobs = LiveResource::<Value>::connect(client.source("jobs/42"));
//! loop {
//!     tokio::select! {
//!         Some(state) = quotes.next() => println!("quotes: {state:?}"),
//!         Some(state) = jobs.next() => println!("job: {state:?}"),
//!         else => break,
//!     }
//! }
//! # }
//! ```
//!
//! # Large snapshots
//!
//! A snapshot in the form this crate's servers write
//! (`{"type":"snapshot","topic":..,"version":..,"data":..}`) is checked on
//! the connection's task for its size and depth only, and handed to a
//! resource as its text ([`Event::SnapshotText`], on the streams a resource
//! opens with [`updates_paged`](UpdateSource::updates_paged)): the resource
//! reads it a page a poll, so a 20 MB table neither holds up the
//! connection's other topics while it is parsed nor stalls the consumer's
//! task. A stream opened with [`updates`](UpdateSource::updates) gets it
//! read whole, as [`Event::Snapshot`].
//!
//! # Recovery
//!
//! When the connection is lost, every topic's stream ends with an error item
//! ([`WsError::is_disconnect`]); each [`LiveResource`](crate::LiveResource)
//! then reconnects through its own [`Backoff`](crate::Backoff) and resumes
//! after its last `seq`. The first of them to come back opens the new
//! connection, and the others share it.
//!
//! A message from the server that breaks the [`Limits`] or the wire form is an
//! error item on its topic's stream ([`WsError::is_bad_message`]), and the
//! connection goes on. A message whose topic cannot be read is logged with
//! `tracing` and skipped.
//!
//! # Slow consumers
//!
//! Each subscription has a bounded queue
//! ([`WsClient::subscriber_queue`]). One that falls behind does not hold up
//! the connection nor the other topics: what does not fit is dropped, and
//! the subscriber gets an [`Event::Resync`] in its place, never a silent gap.

mod connection;
mod error;
mod frame;
mod subscription;

#[cfg(feature = "socketio-client")]
pub(crate) use connection::{is_permanent, server_of};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::client::Tls;
use crate::source::{Event, EventStream, SnapshotSource, UpdateSource};
use crate::{BoxError, Limits, Snapshot};
use connection::Handle;
pub use error::WsError;
use subscription::Command;
use subscription::Subscription;

/// The server's default heartbeat period.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// A WebSocket connection to a live-resource server, shared by any number of
/// topics.
///
/// Cloning is cheap, and clones share the connection. The connection is
/// opened on the first [`WsSource`] subscription, not by [`WsClient::new`];
/// after it is lost, the next subscription opens a new one, and concurrent
/// subscriptions wait for the same connection rather than open several.
///
/// The settings methods are meant for before first use: called on a client
/// that has clones, they return a new client, with its own connection.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use live_resource::Limits;
/// use live_resource::client::ws::WsClient;
///
/// let client = WsClient::new("ws://127.0.0.1:8080/live/ws")
///     .header("cookie", "session=abc123")
///     .heartbeat(Duration::from_secs(10))
///     .limits(Limits::default().max_message_bytes(64 * 1024));
/// let quotes = client.source("quotes");
/// assert_eq!(quotes.topic(), "quotes");
/// ```
#[derive(Clone)]
pub struct WsClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The current connection, if one was opened; the lock makes concurrent
    /// subscribers share the connection one of them opens.
    connection: Mutex<Option<Handle>>,
    next_id: AtomicU64,
}

/// A client's settings.
#[derive(Clone)]
struct Config {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Why a header given to [`WsClient::header`] was refused: every
    /// connection attempt then fails with it.
    invalid_header: Option<String>,
    limits: Limits,
    heartbeat: Duration,
    connect_timeout: Duration,
    queue: usize,
    tls: Tls,
}

impl Config {
    /// The URL without the parts that may carry credentials: user
    /// information and query.
    fn url_for_logs(&self) -> String {
        let url = self.url.split('?').next().unwrap_or_default();
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
            None => url.to_owned(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Config")
            .field("url", &self.url_for_logs())
            .field("headers", &names)
            .field("invalid_header", &self.invalid_header)
            .field("limits", &self.limits)
            .field("heartbeat", &self.heartbeat)
            .field("connect_timeout", &self.connect_timeout)
            .field("subscriber_queue", &self.queue)
            .field("tls", &self.tls)
            .finish()
    }
}

impl WsClient {
    /// A client for the server's WebSocket endpoint, such as
    /// `ws://127.0.0.1:8080/live/ws`, or `wss://example.com/live/ws` over
    /// TLS. Nothing connects yet.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_config(Config {
            url: url.into(),
            headers: Vec::new(),
            invalid_header: None,
            limits: Limits::default(),
            heartbeat: DEFAULT_HEARTBEAT,
            connect_timeout: Duration::from_secs(10),
            queue: 1024,
            tls: Tls::new(),
        })
    }

    fn with_config(config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                connection: Mutex::new(None),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => change(&mut inner.config),
            None => {
                let mut config = self.inner.config.clone();
                change(&mut config);
                self = Self::with_config(config);
            }
        }
        self
    }

    /// Sets the bounds every server message is checked against (default
    /// [`Limits::default`]): an update's size against
    /// [`max_message_bytes`](Limits::max_message_bytes), a snapshot's against
    /// [`max_snapshot_bytes`](Limits::max_snapshot_bytes), and both against
    /// [`max_depth`](Limits::max_depth).
    ///
    /// A frame larger than the snapshot bound, with a little room for its
    /// envelope, is refused by the WebSocket layer, which closes the
    /// connection; every topic then reconnects.
    pub fn limits(self, limits: Limits) -> Self {
        self.configure(|config| config.limits = limits)
    }

    /// Sets how often the server sends a heartbeat on each topic (default
    /// 15 s, the server's default). A topic that hears nothing for three of
    /// these periods reconnects, and so does a connection that hears nothing
    /// at all. `Duration::ZERO` promises nothing: no idle timeouts.
    pub fn heartbeat(self, period: Duration) -> Self {
        self.configure(|config| config.heartbeat = period)
    }

    /// Adds a header to the upgrade request, such as `authorization` or
    /// `cookie`. Its value is not shown by `Debug`.
    ///
    /// An invalid name or value makes every subscription fail with a
    /// [`Permanent`](crate::source::Permanent) error that names the header.
    pub fn header(self, name: &str, value: &str) -> Self {
        let name = name.to_owned();
        let value = value.to_owned();
        self.configure(move |config| {
            let parsed = HeaderName::try_from(name.as_str()).map_err(|error| error.to_string());
            let parsed = parsed.and_then(|name| {
                let mut value = HeaderValue::try_from(value).map_err(|error| error.to_string())?;
                value.set_sensitive(true);
                Ok((name, value))
            });
            match parsed {
                Ok(header) => config.headers.push(header),
                Err(error) => {
                    let why = format!("invalid header `{name}`: {error}");
                    config.invalid_header.get_or_insert(why);
                }
            }
        })
    }

    /// Sets how long opening the connection may take (default 10 s).
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.configure(|config| config.connect_timeout = timeout)
    }

    /// Sets how many events may wait for one subscriber (default 1024, at
    /// least 2). A subscriber that falls further behind gets an
    /// [`Event::Resync`] in place of what did not fit.
    pub fn subscriber_queue(self, events: usize) -> Self {
        self.configure(|config| config.queue = events.max(2))
    }

    /// Sets the TLS settings of `wss://` connections (default
    /// [`Tls::new`]: the roots the HTTP client trusts).
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
    /// use live_resource::client::ws::WsClient;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// // A test server's self-signed certificate.
    /// let certificate = std::fs::read("localhost.pem")?;
    /// let client = WsClient::new("wss://localhost:8443/live/ws")
    ///     .tls(Tls::new().add_root_certificate(certificate)?);
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(self, tls: Tls) -> Self {
        self.configure(|config| config.tls = tls)
    }

    /// The URL this client connects to.
    pub fn url(&self) -> &str {
        &self.inner.config.url
    }

    /// One topic of this client, as a source for
    /// [`LiveResource::connect`](crate::LiveResource::connect).
    pub fn source(&self, topic: impl Into<String>) -> WsSource {
        WsSource {
            client: self.clone(),
            topic: topic.into(),
        }
    }

    /// Subscribes to `topic` on the shared connection, opening it if needed.
    /// Snapshots come as text ([`Event::SnapshotText`]) if `pages`.
    async fn subscribe(
        &self,
        topic: &str,
        since: Option<u64>,
        pages: bool,
    ) -> Result<EventStream, BoxError> {
        // The connection may close between the look-up and the send: then
        // the next look-up opens another.
        for _ in 0..2 {
            let handle = self.connection().await?;
            let (events, receiver) = mpsc::channel(self.inner.config.queue);
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let command = Command::Subscribe {
                id,
                topic: topic.to_owned(),
                since,
                pages,
                events,
            };
            if handle.commands().send(command).is_ok() {
                let commands = handle.commands().clone();
                return Ok(Subscription::new(receiver, id, topic.to_owned(), commands).boxed());
            }
        }
        Err(WsError::disconnected("the connection closed while subscribing").into())
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> Result<Handle, BoxError> {
        let mut current = self.inner.connection.lock().await;
        if let Some(handle) = current.as_ref().filter(|handle| handle.is_open()) {
            return Ok(handle.clone());
        }
        let handle = connection::open(&self.inner.config, current.is_some()).await?;
        *current = Some(handle.clone());
        Ok(handle)
    }
}

impl fmt::Debug for WsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connected = self
            .inner
            .connection
            .try_lock()
            .ok()
            .map(|handle| handle.as_ref().is_some_and(Handle::is_open));
        f.debug_struct("WsClient")
            .field("config", &self.inner.config)
            .field("connected", &connected)
            .finish()
    }
}

/// One topic of a [`WsClient`]: a [`Source`](crate::source::Source) whose
/// streams all travel over the client's one connection. Made by
/// [`WsClient::source`].
///
/// A stream opened without `since` begins with the topic's snapshot, which
/// the server takes atomically with the subscription, so a
/// [`LiveResource`](crate::LiveResource) needs no separate fetch.
///
/// # Examples
///
/// ```no_run
/// use futures::StreamExt;
/// use live_resource::client::ws::WsClient;
/// use live_resource::source::{Event, SnapshotSource, UpdateSource};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), live_resource::BoxError> {
/// let quotes = WsClient::new("ws://127.0.0.1:8080/live/ws").source("quotes");
///
/// let snapshot = quotes.snapshot().await?;
/// println!("quotes at version {:?}: {}", snapshot.version, snapshot.data);
///
/// // Follow the updates after it by hand (`LiveResource::connect` does all this).
/// let mut events = quotes.updates(snapshot.version).await?;
/// while let Some(event) = events.next().await {
///     match event? {
///         Event::Update(update) => println!("{update:?}"),
///         Event::Resync => break, // take a new snapshot
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct WsSource {
    client: WsClient,
    topic: String,
}

impl WsSource {
    /// The topic this source follows.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The client whose connection this source uses.
    pub fn client(&self) -> &WsClient {
        &self.client
    }
}

#[async_trait]
impl UpdateSource for WsSource {
    /// Subscribes to the topic: `{"type":"subscribe","topic":..,"since":..}`.
    ///
    /// The stream yields the server's `snapshot`, `update`, `resync` and
    /// `heartbeat` messages for this topic as [`Event`]s. Dropping it sends
    /// `unsubscribe`, unless another stream of the same client still follows
    /// the topic: streams of one topic share the server's subscription, and a
    /// new one with a `since` may show the others updates they already have,
    /// which they drop by `seq`.
    ///
    /// # Errors
    ///
    /// Opening the connection can fail ([`WsError::is_connect`]; a bad URL
    /// or header, a server certificate refused
    /// ([`CertificateError`](crate::client::CertificateError)), or an
    /// upgrade refused with 401, 403 or 404, is
    /// [`Permanent`](crate::source::Permanent)). Items of the stream can be errors
    /// too: a bad message ([`WsError::is_bad_message`]; the stream goes on;
    /// an update is read lazily, see
    /// [`Limits::parse_update_lazy`](crate::Limits::parse_update_lazy), so a
    /// patch that is not JSON may fail only when it is applied),
    /// a refusal by the server ([`WsError::server_code`] `unknown_topic`,
    /// whose [`source`](std::error::Error::source) is
    /// [`Error::UnknownTopic`](crate::Error::UnknownTopic), or
    /// `too_many_subscriptions`, or a permanent `forbidden`; the stream
    /// ends), or a lost connection ([`WsError::is_disconnect`]; the stream
    /// ends).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes subscribes to nothing; a
    /// connection it was opening is closed.
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        self.client.subscribe(&self.topic, since, false).await
    }

    /// As [`updates`](UpdateSource::updates), the snapshot that begins a
    /// stream opened without `since` coming as text.
    async fn updates_paged(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        self.client.subscribe(&self.topic, since, true).await
    }

    fn includes_snapshot(&self) -> bool {
        true
    }

    fn heartbeat(&self) -> Option<Duration> {
        Some(self.client.inner.config.heartbeat).filter(|period| !period.is_zero())
    }
}

#[async_trait]
impl SnapshotSource for WsSource {
    /// Subscribes without `since` for as long as the server's snapshot takes
    /// to come.
    ///
    /// # Errors
    ///
    /// As [`updates`](UpdateSource::updates), and a [`WsError::is_timeout`]
    /// when no snapshot comes within three heartbeat periods.
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        let wait = self
            .heartbeat()
            .unwrap_or(DEFAULT_HEARTBEAT)
            .saturating_mul(3);
        let mut events = self.updates(None).await?;
        let first = tokio::time::timeout(wait, async {
            // Other streams of the topic may share the subscription: their
            // updates can come first.
            while let Some(event) = events.next().await {
                if let Event::Snapshot(snapshot) = event? {
                    return Ok(snapshot);
                }
            }
            Err(WsError::disconnected("the subscription ended before its snapshot came").into())
        });
        match first.await {
            Ok(snapshot) => snapshot,
            Err(_) => Err(WsError::timeout(&self.topic, wait).into()),
        }
    }
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): a
/// server's message read as the connection reads it; anything but an event
/// for a topic is an `Err` that shows what it was.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_for_fuzzing(text: &str, limits: &Limits) -> Result<(String, Event), String> {
    match frame::parse(text, limits) {
        frame::Inbound::Event { topic, event } => Ok((topic, event)),
        other => Err(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_and_debug_show_no_credentials() {
        let client = WsClient::new("ws://user:pw@example.com:8080/live/ws?token=abc")
            .header("authorization", "Bearer abc");
        assert_eq!(
            client.inner.config.url_for_logs(),
            "ws://example.com:8080/live/ws"
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("abc") && !debug.contains("pw"), "{debug}");
        assert!(debug.contains("authorization"), "{debug}");
        assert_eq!(
            WsClient::new("ws://h/x").inner.config.url_for_logs(),
            "ws://h/x"
        );
    }

    #[test]
    fn settings_on_a_shared_client_make_a_new_one() {
        let client = WsClient::new("ws://h/live/ws");
        let clone = client.clone();
        let other = clone.subscriber_queue(1);
        assert!(!Arc::ptr_eq(&client.inner, &other.inner));
        assert_eq!(other.inner.config.queue, 2, "at least 2");
        assert_eq!(client.inner.config.queue, 1024);
        let source = client.source("q");
        assert_eq!(source.heartbeat(), Some(DEFAULT_HEARTBEAT));
        assert!(source.includes_snapshot());
        let silent = WsClient::new("ws://h/live/ws").heartbeat(Duration::ZERO);
        assert_eq!(silent.source("q").heartbeat(), None);
    }

    #[test]
    fn clients_and_sources_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<WsClient>();
        assert_send_sync::<WsSource>();
        assert_send_sync::<WsError>();
    }
}
