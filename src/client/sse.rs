//! Server-Sent Events: [`SseSource`], a whole [`Source`](crate::source::Source)
//! for the crate's own server, its updates over
//! `GET /live/{topic}/events` and its snapshots over `GET /live/{topic}`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt, TryStreamExt};
use pin_project_lite::pin_project;
use reqwest::Url;
use reqwest::header::{self, HeaderName, HeaderValue};
use serde::Deserialize;

use super::http::{HttpError, HttpSnapshot};
use crate::source::{Event, EventStream, Fetched, Permanent, SnapshotSource, UpdateSource};
use crate::{BoxError, Error, Limits, Snapshot};

/// The heartbeat period of the crate's server, by default.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// Room, past [`Limits::max_message_bytes`], for the lines of one event around
/// its data: `event: update`, `id: 18`, the `data: ` prefix.
const FIELD_ROOM: usize = 1024;

/// A [`Source`](crate::source::Source) over Server-Sent Events, for the
/// crate's own server (the `server` feature, or any server that speaks its
/// protocol).
///
/// Updates come from `GET {base}/live/{topic}/events`; a stream that resumes
/// after version `v` sends `Last-Event-ID: v` and `?since=v`. Each event
/// becomes an [`Event`]:
///
/// | SSE event | [`Event`] |
/// | --- | --- |
/// | `update`, data `{"seq":18,"merge":{..}}` | [`Event::Update`], checked by the [`Limits`] |
/// | `resync` | [`Event::Resync`] |
/// | `heartbeat`, data `{"seq":17}` | [`Event::Heartbeat`] |
/// | a comment only (`: ping`, the usual keep-alive) | [`Event::Heartbeat`] with no `seq`: a sign of life |
/// | any other | nothing |
///
/// The `id` and `retry` fields are not used: the `seq` in the data is the
/// version, and the resource's [`Backoff`](crate::Backoff) spaces reconnects.
///
/// Snapshots come from `GET {base}/live/{topic}`, as [`HttpSnapshot::live`]
/// fetches them, with the same client, headers and limits.
///
/// # Errors
///
/// [`updates`](UpdateSource::updates) fails with an
/// [`HttpError`] when the server cannot be reached, answers with an error
/// status (wrapped in [`Permanent`] for `401` and
/// `403`, as is a server certificate the client refuses) or with something
/// other than an event stream.
///
/// On the stream, an update whose data is malformed or breaks the [`Limits`]
/// is an `Err` item ([`Error::Malformed`], [`Error::TooDeep`],
/// [`Error::TooLarge`]) and the stream goes on. Updates are read with
/// [`Limits::parse_update_lazy`]: a numbered `merge` update is read as far
/// as its patch, and a patch that turns out not to be JSON is found when it
/// is applied: [`Error::Malformed`] then, reported as if found when read. An event too large to hold,
/// bytes that are not UTF-8, or a broken connection are an `Err` item that
/// ends the stream. The end of the response body ends the stream: a
/// resilient [`LiveResource`](crate::LiveResource) reconnects and resumes.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use futures::StreamExt;
/// use live_resource::LiveResource;
/// use live_resource::client::sse::SseSource;
/// use serde_json::Value;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = SseSource::new("https://example.com", "quotes")
///     .header("authorization", "Bearer 8f2c1e")
///     .heartbeat(Duration::from_secs(15));
/// let mut quotes = LiveResource::<Value>::connect(source);
/// while let Some(state) = quotes.next().await {
///     match state {
///         Ok(state) => println!("{state}"),
///         Err(error) => eprintln!("{error}"), // the resource recovers on its own
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct SseSource {
    snapshot: HttpSnapshot,
    events: Result<Url, String>,
    heartbeat: Duration,
}

impl SseSource {
    /// The source of `topic` on the crate's server at `base_url`.
    ///
    /// `base_url` may carry a path; each `/`-separated part of `topic` is one
    /// path segment, percent-encoded. An invalid URL fails every request with
    /// a [`Permanent`] error.
    pub fn new(base_url: &str, topic: &str) -> Self {
        Self {
            snapshot: HttpSnapshot::live(base_url, topic),
            events: super::http::topic_url(base_url, topic, Some("events")),
            heartbeat: DEFAULT_HEARTBEAT,
        }
    }

    /// Sends requests with this client instead of a new one of its own.
    ///
    /// The client must not have a time-out of its own
    /// ([`ClientBuilder::timeout`](reqwest::ClientBuilder::timeout)): it
    /// would cut every event stream when it runs out. Use
    /// [`SseSource::timeout`] instead.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.snapshot = self.snapshot.client(client);
        self
    }

    /// Sets the TLS settings of `https://` requests, the snapshots' and the
    /// event streams'. See [`HttpSnapshot::tls`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use live_resource::client::Tls;
    /// use live_resource::client::sse::SseSource;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let tls = Tls::new().add_root_certificate(std::fs::read("company-ca.pem")?)?;
    /// let quotes = SseSource::new("https://live.internal:8443", "quotes").tls(tls);
    /// # let _ = quotes;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(mut self, tls: crate::client::Tls) -> Self {
        self.snapshot = self.snapshot.tls(tls);
        self
    }

    /// Adds a header to every request, the snapshots' and the event
    /// streams': credentials, a cookie. See [`HttpSnapshot::header`].
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        self.snapshot = self.snapshot.header(name, value);
        self
    }

    /// Sets the bounds (default [`Limits::default`]): each update is
    /// checked against [`Limits::max_message_bytes`] and
    /// [`Limits::max_depth`], each snapshot against
    /// [`Limits::max_snapshot_bytes`] and [`Limits::max_depth`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.snapshot = self.snapshot.limits(limits);
        self
    }

    /// Sets how long a snapshot request may take, and how long opening an
    /// event stream may wait for the response (default 30 s). A stream
    /// once open has no time-out: its [`heartbeat`](SseSource::heartbeat)
    /// keeps watch.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.snapshot = self.snapshot.timeout(timeout);
        self
    }

    /// Sets the heartbeat period the server keeps (default 15 s, the
    /// server's default). A resource that hears nothing for three periods
    /// takes the connection for dead and reconnects.
    ///
    /// This method hides the trait's getter of the same name: read the
    /// period back with `UpdateSource::heartbeat(&source)`.
    pub fn heartbeat(mut self, period: Duration) -> Self {
        self.heartbeat = period;
        self
    }

    fn events_url(&self, since: Option<u64>) -> Result<Url, BoxError> {
        let mut url = self.events.clone().map_err(Permanent::new)?;
        if let Some(since) = since {
            url.query_pairs_mut()
                .append_pair("since", &since.to_string());
        }
        Ok(url)
    }
}

#[async_trait]
impl SnapshotSource for SseSource {
    /// GETs the snapshot, as [`HttpSnapshot::live`] does.
    ///
    /// # Errors
    ///
    /// See [`HttpSnapshot`].
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        self.snapshot.snapshot().await
    }

    /// GETs the snapshot as text, as [`HttpSnapshot`]'s `snapshot_paged`
    /// does, for a resource to read a page a poll.
    ///
    /// # Errors
    ///
    /// See [`HttpSnapshot`].
    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        self.snapshot.snapshot_paged().await
    }
}

#[async_trait]
impl UpdateSource for SseSource {
    /// Opens the event stream, after version `since` when given.
    ///
    /// # Errors
    ///
    /// An [`HttpError`]; see [`SseSource`].
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        let url = self.events_url(since)?;
        let http = &self.snapshot.http;
        let mut request = http
            .get(&url)?
            .header(header::ACCEPT, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache");
        if let Some(since) = since {
            request = request.header("last-event-id", since);
        }
        let response = tokio::time::timeout(http.timeout, http.send(request, &url))
            .await
            .map_err(|_| HttpError::timed_out(&url, http.timeout))??;
        if let Some(kind) = response.headers().get(header::CONTENT_TYPE) {
            let essence = kind.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if !essence.trim().eq_ignore_ascii_case("text/event-stream") {
                let kind = String::from_utf8_lossy(kind.as_bytes());
                let message = format!("expected an event stream, got `{kind}`");
                return Err(HttpError::protocol(&url, message).into());
            }
        }
        let body = response
            .bytes_stream()
            .map_err(move |error| BoxError::from(HttpError::request(&url, error)));
        let limits = http.limits.clone();
        let events = EventChunks::new(body, &limits).eventsource();
        Ok(Events {
            events,
            limits,
            ended: false,
        }
        .boxed())
    }

    fn heartbeat(&self) -> Option<Duration> {
        Some(self.heartbeat)
    }
}

impl fmt::Debug for SseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SseSource");
        match &self.events {
            Ok(url) => debug.field("events", &url.as_str()),
            Err(error) => debug.field("events", error),
        };
        debug
            .field("snapshot", &self.snapshot)
            .field("heartbeat", &self.heartbeat)
            .finish()
    }
}

pin_project! {
    /// The events of one stream, as [`Event`]s.
    #[must_use = "streams do nothing unless polled"]
    struct Events<S> {
        #[pin]
        events: S,
        limits: Limits,
        // A broken stream was reported: nothing more comes.
        ended: bool,
    }
}

impl<S> Stream for Events<S>
where
    S: Stream<Item = Result<eventsource_stream::Event, EventStreamError<BoxError>>>,
{
    type Item = Result<Event, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.ended {
                return Poll::Ready(None);
            }
            let event = match ready!(this.events.as_mut().poll_next(cx)) {
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    *this.ended = true;
                    return Poll::Ready(Some(Err(match error {
                        EventStreamError::Transport(error) => error,
                        // `EventChunks` passes only whole UTF-8 text, and every
                        // line of text is an SSE line: this cannot happen.
                        error => format!("the event stream is broken: {error}").into(),
                    })));
                }
                None => return Poll::Ready(None),
            };
            let item = match event.event.as_str() {
                "update" => this
                    .limits
                    .parse_update_lazy(&event.data)
                    .map(Event::Update)
                    .map_err(BoxError::from),
                "resync" => Ok(Event::Resync),
                "heartbeat" => serde_json::from_str::<Heartbeat>(&event.data)
                    .map(|heartbeat| Event::Heartbeat(heartbeat.seq))
                    .map_err(|error| Error::Malformed(error).into()),
                _ => continue,
            };
            return Poll::Ready(Some(item));
        }
    }
}

/// The data of a `heartbeat` event: `{"seq":17}`, or `{"seq":null}`.
#[derive(Deserialize)]
struct Heartbeat {
    #[serde(default)]
    seq: Option<u64>,
}

pin_project! {
    /// The body of an event stream, cut into whole events for the SSE parser.
    ///
    /// `eventsource-stream` holds an unfinished event in memory without a
    /// bound, holds on to bytes that are not UTF-8 for ever, and shifts its
    /// buffer once per line: this hands it one event at a time, as text,
    /// and refuses an event larger than the limit or bytes that are not
    /// UTF-8, each with an error that ends the stream.
    #[must_use = "streams do nothing unless polled"]
    struct EventChunks<S> {
        #[pin]
        body: S,
        // Received and checked, not yet passed on.
        pending: Bytes,
        // The start of a character cut at the end of the last chunk.
        partial: Vec<u8>,
        scan: Scan,
        // The event just passed on was comments only.
        keep_alive: bool,
        failed: bool,
    }
}

impl<S> EventChunks<S> {
    fn new(body: S, limits: &Limits) -> Self {
        Self {
            body,
            pending: Bytes::new(),
            partial: Vec::new(),
            scan: Scan {
                max: limits.max_message_bytes.saturating_add(FIELD_ROOM),
                limit: limits.max_message_bytes,
                line: 0,
                event: 0,
                comment: false,
                commented: false,
                after_cr: false,
            },
            keep_alive: false,
            failed: false,
        }
    }
}

impl<S> Stream for EventChunks<S>
where
    S: Stream<Item = Result<Bytes, BoxError>>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.failed {
                return Poll::Ready(None);
            }
            if std::mem::take(this.keep_alive) {
                // The usual keep-alive of an event stream (`: ping`), which
                // the parser drops: followed by a heartbeat with no `seq`,
                // so that it counts as a sign of life. (Its own bytes went
                // first: the parser may hold the start of it already.)
                return Poll::Ready(Some(Ok(Bytes::from_static(
                    b"event: heartbeat\ndata: {}\n\n",
                ))));
            }
            if !this.pending.is_empty() {
                let item = match this.scan.event_end(this.pending) {
                    Ok(Some((end, comments_only))) => {
                        *this.keep_alive = comments_only;
                        Ok(this.pending.split_to(end))
                    }
                    Ok(None) => Ok(std::mem::take(this.pending)),
                    Err(error) => {
                        *this.failed = true;
                        Err(error.into())
                    }
                };
                return Poll::Ready(Some(item));
            }
            let chunk = match ready!(this.body.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => chunk,
                Some(Err(error)) => {
                    *this.failed = true;
                    return Poll::Ready(Some(Err(error)));
                }
                None if this.partial.is_empty() => return Poll::Ready(None),
                None => {
                    *this.failed = true;
                    return Poll::Ready(Some(Err(not_utf8())));
                }
            };
            let chunk = if this.partial.is_empty() {
                chunk
            } else {
                let mut joined = std::mem::take(this.partial);
                joined.extend_from_slice(&chunk);
                Bytes::from(joined)
            };
            match std::str::from_utf8(&chunk) {
                Ok(_) => *this.pending = chunk,
                // Only the last character is unfinished: it waits for the next chunk.
                Err(error) if error.error_len().is_none() => {
                    let whole = error.valid_up_to();
                    this.partial.extend_from_slice(&chunk[whole..]);
                    *this.pending = chunk.slice(..whole);
                }
                Err(_) => {
                    *this.failed = true;
                    return Poll::Ready(Some(Err(not_utf8())));
                }
            }
        }
    }
}

fn not_utf8() -> BoxError {
    "the event stream is not valid UTF-8".into()
}

/// Where the events of a stream end, found one byte at a time across chunks,
/// with the lengths of the current line and event.
#[derive(Debug)]
struct Scan {
    /// The most bytes one line, or the non-comment lines of one event, may hold.
    max: usize,
    /// The message limit, to report.
    limit: usize,
    /// Bytes in the current line.
    line: usize,
    /// Bytes in the non-comment lines of the current event.
    event: usize,
    /// The current line is a comment: it is dropped by the parser as soon as
    /// it ends, so it does not count towards the event.
    comment: bool,
    /// The current event has had a comment line.
    commented: bool,
    /// The last byte was a CR, so an LF now ends no line of its own.
    after_cr: bool,
}

impl Scan {
    /// The offset just past the first event that ends in `bytes`, if one
    /// does, and whether that event was comments only.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] when a line or an event is longer than allowed.
    fn event_end(&mut self, bytes: &[u8]) -> Result<Option<(usize, bool)>, Error> {
        for (at, &byte) in bytes.iter().enumerate() {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    self.comment = false;
                    if std::mem::take(&mut self.line) == 0 {
                        // A blank line: the event is complete.
                        let comments_only = std::mem::take(&mut self.event) == 0 && self.commented;
                        self.commented = false;
                        let mut end = at + 1;
                        if self.after_cr && bytes.get(end) == Some(&b'\n') {
                            // The LF of this CRLF goes with the event it ends.
                            self.after_cr = false;
                            end += 1;
                        }
                        return Ok(Some((end, comments_only)));
                    }
                }
                _ => {
                    self.after_cr = false;
                    if self.line == 0 {
                        self.comment = byte == b':';
                        self.commented |= self.comment;
                    }
                    self.line += 1;
                    if !self.comment {
                        self.event += 1;
                    }
                    let size = self.line.max(self.event);
                    if size > self.max {
                        return Err(Error::TooLarge {
                            size,
                            max: self.limit,
                        });
                    }
                }
            }
        }
        Ok(None)
    }
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): the
/// events an event stream whose body comes in `chunks` gives, read as
/// [`SseSource`] reads them, errors as text.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_for_fuzzing(chunks: Vec<Bytes>, limits: &Limits) -> Vec<Result<Event, String>> {
    let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, BoxError>));
    let events = Events {
        events: EventChunks::new(body, limits).eventsource(),
        limits: limits.clone(),
        ended: false,
    };
    futures::executor::block_on(
        events
            .map(|item| item.map_err(|error| error.to_string()))
            .collect(),
    )
}
