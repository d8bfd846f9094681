//! [`LiveResource`]: a typed stream of the current state of a resource.

mod driver;
mod once;
mod shared;
mod unknown_topic;
mod watched;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt, TryFutureExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use crate::replica::Replica;
use crate::source::Source;
use crate::{Backoff, BoxError, Document, Error, Limits, Snapshot, Status, Update};
use driver::{Driver, Policy};
pub use shared::{SharedResource, Subscriber};
pub use unknown_topic::UnknownTopic;

/// What a resource is made of, for the other ways to consume it (a table).
pub(crate) struct Parts {
    pub(crate) driver: Driver,
    pub(crate) replica: Option<Replica>,
    pub(crate) status: watch::Receiver<Status>,
    pub(crate) limits: Limits,
}

/// How many changes one poll applies before it emits, so that a source that is
/// always ready cannot keep the consumer from ever seeing a state.
const CHANGES_PER_POLL: usize = 1024;

/// A typed live resource: a snapshot kept current by a stream of updates,
/// consumed as a [`Stream`] of states.
///
/// Each item is the whole current state, decoded into `T`, or an error. The
/// first item is the snapshot (with every update that arrived while it was
/// fetched already applied); each later one follows at least one update.
///
/// # The handoff
///
/// From its first poll the resource polls the update stream *while* the
/// snapshot is pending and holds what arrives (at most
/// [`Limits::max_buffered_updates`]). When the snapshot at version `v` comes,
/// held updates with `seq <= v` are dropped, the rest apply in `seq` order,
/// and from then on:
///
/// - `seq == current + 1` applies;
/// - `seq <= current` is a duplicate and is dropped;
/// - `seq > current + 1` is a gap: some updates were lost ([`Error::Gap`]);
/// - an update without `seq` applies in arrival order (legacy sources).
///
/// # Conflation
///
/// A consumer that polls slower than updates arrive gets the *latest* state at
/// each poll, never a stale one: every update that is ready is applied, then
/// one state is decoded and emitted. `T` is decoded only for the states that
/// are emitted. Where every intermediate state matters (an audit log, a
/// chart of each tick), call [`LiveResource::every_state`] and one state is
/// emitted per update.
///
/// # Errors
///
/// Errors are items of the stream. A state that does not decode into `T`
/// yields [`Error::Decode`]; the JSON state stays current and the stream goes
/// on, emitting again once a later update makes it decode. A message refused
/// by the [`Limits`] yields its error and is not applied. An error from the
/// update stream is passed on and the stream goes on with its next item.
///
/// A patch that a transport read lazily and that turns out not to be JSON
/// when it is applied yields [`Error::Malformed`] and is treated as a message
/// refused when read: the state is untouched and the stream goes on.
///
/// A resource made by [`LiveResource::new`] cannot fetch again, so a gap, a
/// patch that does not apply, a failed snapshot or a buffer overflow yields
/// the error and then ends the stream. The state is never half-applied.
///
/// # Examples
///
/// ```
/// use futures::{StreamExt, stream};
/// use live_resource::{LiveResource, Snapshot, Update};
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Debug, Deserialize, PartialEq)]
/// struct Job { done: u32, total: u32 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(1, json!({"done": 0, "total": 3}))) };
/// let updates = stream::iter([
///     Ok::<_, std::io::Error>(Update::merge(1, json!({"done": 0}))), // already in the snapshot
///     Ok(Update::merge(2, json!({"done": 1}))),
///     Ok(Update::merge(3, json!({"done": 3}))),
/// ]);
///
/// let job = LiveResource::<Job>::new(snapshot, updates).every_state();
/// let states: Vec<Job> = job.map(Result::unwrap).collect().await;
/// assert_eq!(states, [
///     Job { done: 0, total: 3 },
///     Job { done: 1, total: 3 },
///     Job { done: 3, total: 3 },
/// ]);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct LiveResource<T = Value> {
    driver: Driver,
    replica: Option<Replica>,
    status: watch::Receiver<Status>,
    limits: Limits,
    conflate: bool,
    /// The state changed since it was last emitted.
    changed: bool,
    /// An error to report right after the state that preceded it.
    deferred: Option<Error>,
    finished: bool,
    decode: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> LiveResource<T> {
    /// A resource from one snapshot and one update stream.
    ///
    /// `snapshot` is usually an HTTP GET, `updates` a socket subscription that
    /// was opened at the same time; the two may fail with different error
    /// types. Nothing happens until the resource is first polled.
    ///
    /// This resource is one-shot: it has no way to fetch again, so a gap ends
    /// it (see [`Error::Gap`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::{StreamExt, stream};
    /// use live_resource::{LiveResource, Snapshot, Update};
    /// use serde_json::{Value, json};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(5, json!({"AAPL": 189.5}))) };
    /// let updates = stream::iter([Ok::<_, std::io::Error>(Update::merge(6, json!({"MSFT": 410.0})))]);
    ///
    /// let mut quotes = LiveResource::<Value>::new(snapshot, updates);
    /// let latest = quotes.next().await.unwrap().unwrap();
    /// assert_eq!(latest, json!({"AAPL": 189.5, "MSFT": 410.0}), "both were ready: conflated");
    /// assert_eq!(quotes.version(), Some(6));
    /// assert!(quotes.next().await.is_none(), "the update stream ended");
    /// # }
    /// ```
    pub fn new<S, U, E1, E2>(snapshot: S, updates: U) -> Self
    where
        S: Future<Output = Result<Snapshot, E1>> + Send + 'static,
        U: Stream<Item = Result<Update, E2>> + Send + 'static,
        E1: Into<BoxError> + 'static,
        E2: Into<BoxError> + 'static,
    {
        let snapshot = snapshot.map_err(Into::into).boxed();
        let updates = updates.map_err(Into::into).boxed();
        Self::drive(Arc::new(once::Once::new(snapshot, updates)), Policy::Once)
    }

    /// A resilient resource that follows `source`, recovering from every
    /// failure it can.
    ///
    /// It opens the update stream, then takes a snapshot and hands off as
    /// [`LiveResource::new`] does. After that:
    ///
    /// - on a gap, it resubscribes from its current version; when the source
    ///   cannot replay from there ([`Event::Resync`](crate::source::Event::Resync)),
    ///   it takes a new snapshot and swaps it in whole;
    /// - on a transport error, or when the stream ends, it reconnects after a
    ///   [`Backoff`] delay and resumes after its last version;
    /// - when the source promises heartbeats and falls silent for three of
    ///   their periods, it takes the connection for dead and reconnects;
    /// - a patch that does not apply leaves the state as it was and triggers a
    ///   new snapshot.
    ///
    /// # Recovery
    ///
    /// Every error it recovers from is still yielded as an item, so it can be
    /// seen and logged; the stream goes on after it. Stop on errors only where
    /// that is wanted: `while let Some(Ok(state))` ends at the first
    /// reconnect. [`LiveResource::status`] shows where the connection stands.
    /// The stream ends only when the source fails with a
    /// [`Permanent`](crate::source::Permanent) error (its last item), when
    /// the topic does not exist and the resource was told to end then
    /// ([`UnknownTopic::End`], its last item is that error), or when the
    /// [`Backoff`]'s attempts run out (its last item is then
    /// [`Error::GaveUp`]); the status is then [`Status::Failed`].
    ///
    /// Retries are spaced by the [`Backoff`], reset only after a sustained
    /// healthy period, so resync loops and reconnect storms are throttled.
    ///
    /// Which errors end it, with this crate's sources:
    ///
    /// | the server says | the resource |
    /// | --- | --- |
    /// | 401 or 403, `forbidden`, a refused Socket.IO namespace, a bad URL or header, a server certificate refused (untrusted, not valid for the name, expired) | ends: the error is [`Permanent`](crate::source::Permanent) |
    /// | 404, `unknown_topic`, a [`Hub`](crate::Hub) without the topic: the topic may be made later, or was removed ([`Error::is_unknown_topic`]) | by default ([`UnknownTopic::Retry`]) retries, each retry an error item, until the topic comes or the [`Backoff`]'s `max_attempts` run out; with [`UnknownTopic::End`] ends, the error its last item |
    /// | a dropped connection, a timeout, 5xx, `too_many_subscriptions` | retries |
    ///
    /// Each error item says which it is: [`Error::is_final`] when the stream
    /// ends after it, and otherwise ("reconnecting, nothing to do")
    /// [`Error::is_transport`], [`Error::is_gap`] or
    /// [`Error::is_bad_message`] say what happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use live_resource::{Hub, LiveResource, Status};
    /// use serde_json::{Value, json};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> live_resource::Result<()> {
    /// let hub = Hub::new();
    /// hub.set("quotes", json!({"AAPL": 189.5}))?;
    ///
    /// let mut quotes = LiveResource::<Value>::connect(hub.source("quotes"));
    /// let status = quotes.status();
    /// assert_eq!(quotes.next().await.unwrap()?, json!({"AAPL": 189.5}));
    /// assert_eq!(*status.borrow(), Status::Live);
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(source: impl Source + 'static) -> Self {
        Self::drive(Arc::new(source), Policy::resilient())
    }

    fn drive(source: Arc<dyn Source>, policy: Policy) -> Self {
        let (driver, status) = Driver::new(source, policy);
        Self {
            driver,
            replica: None,
            status,
            limits: Limits::default(),
            conflate: true,
            changed: false,
            deferred: None,
            finished: false,
            decode: PhantomData,
        }
    }

    /// Sets the bounds checked on every update (default [`Limits::default`]).
    ///
    /// ```
    /// # use live_resource::{Limits, LiveResource, Snapshot, Update};
    /// # use futures::stream;
    /// let resource = LiveResource::<serde_json::Value>::new(
    ///     async { Ok::<_, std::io::Error>(Snapshot::new(0, serde_json::json!({}))) },
    ///     stream::empty::<Result<Update, std::io::Error>>(),
    /// )
    /// .limits(Limits::default().max_depth(8).max_buffered_updates(100));
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Emits one state per applied update instead of conflating to the latest.
    ///
    /// Every state the resource goes through is then decoded and emitted, in
    /// order; updates wait in the source's own queue until the consumer polls.
    /// See the type's example.
    pub fn every_state(mut self) -> Self {
        self.conflate = false;
        self
    }

    /// The version of the current state, if the source numbers its states.
    ///
    /// `None` before the snapshot has arrived, or for unversioned sources.
    pub fn version(&self) -> Option<u64> {
        self.replica.as_ref().and_then(Replica::version)
    }

    /// The current JSON state, without decoding or cloning it; `None` before
    /// the snapshot has arrived.
    ///
    /// This is the state as the source sent it, including updates whose
    /// result did not decode into `T`. It is a [`Document`]: it reads like a
    /// `serde_json::Value` (index it, compare it with one, or copy it out with
    /// [`Document::to_value`]), and keeps objects indexed so that an update
    /// costs what its patch touches, not the size of the state.
    ///
    /// ```
    /// use futures::{StreamExt, stream};
    /// use live_resource::{LiveResource, Snapshot, Update};
    /// use serde_json::{Value, json};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(1, json!({"n": 1, "tags": ["a"]}))) };
    /// let updates = stream::iter([Ok::<_, std::io::Error>(Update::merge(2, json!({"n": 2})))]);
    /// let mut resource = LiveResource::<Value>::new(snapshot, updates);
    /// while resource.next().await.is_some() {}
    ///
    /// let state = resource.json().unwrap();
    /// assert_eq!(state["n"], json!(2));
    /// assert_eq!(state["tags"][0].as_str(), Some("a"));
    /// assert_eq!(*state, json!({"n": 2, "tags": ["a"]}));
    /// # }
    /// ```
    pub fn json(&self) -> Option<&Document> {
        self.replica.as_ref().map(Replica::state)
    }

    /// The connection state, as a watch that can be awaited for changes.
    ///
    /// The status moves as the resource is polled: it says what the last
    /// poll found.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Sets how reconnects and resyncs are spaced (default [`Backoff::default`]).
    /// A resource made by [`LiveResource::new`] never retries.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.driver.set_backoff(backoff);
        self
    }

    /// Sets what the resource does when its topic does not exist (or no
    /// longer does): retry until it comes ([`UnknownTopic::Retry`], the
    /// default), or end ([`UnknownTopic::End`]). See the table under
    /// [`LiveResource::connect`]. A resource made by [`LiveResource::new`]
    /// ends anyway: it cannot fetch again.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use live_resource::{Hub, LiveResource, UnknownTopic};
    /// use serde_json::Value;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hub = Hub::new();
    /// let mut job = LiveResource::<Value>::connect(hub.source("jobs/42"))
    ///     .unknown_topic(UnknownTopic::End);
    /// let error = job.next().await.unwrap().unwrap_err();
    /// assert!(error.is_unknown_topic() && error.is_final());
    /// assert!(job.next().await.is_none(), "it ended");
    /// # }
    /// ```
    pub fn unknown_topic(mut self, unknown_topic: UnknownTopic) -> Self {
        self.driver.set_unknown_topic(unknown_topic);
        self
    }

    /// Sets how long the source may stay silent before the connection is
    /// taken for dead (default: three of the source's
    /// [`heartbeat`](crate::source::UpdateSource::heartbeat) periods, or no
    /// timeout when it promises none). `None` turns the timeout off.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.driver.set_idle_timeout(timeout);
        self
    }

    /// What the resource is made of, for the other ways to consume it (a
    /// table: [`LiveResource::collection`]).
    pub(crate) fn into_parts(self) -> Parts {
        Parts {
            driver: self.driver,
            replica: self.replica,
            status: self.status,
            limits: self.limits,
        }
    }

    /// Runs this resource in a background task and shares it: any number of
    /// consumers can [`subscribe`](SharedResource::subscribe), and one that
    /// joins late gets the current state at once.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn shared(self) -> SharedResource<T>
    where
        T: Send + 'static,
    {
        SharedResource::spawn(self.driver, self.replica, self.status, self.limits)
    }

    /// Applies every change that is ready, up to [`CHANGES_PER_POLL`], and
    /// says whether the feed has ended.
    fn absorb(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..CHANGES_PER_POLL {
            match self
                .driver
                .poll_change(cx, &self.limits, &mut self.replica, &|_| {})
            {
                Poll::Ready(Some(Ok(()))) => {
                    self.changed = true;
                    if !self.conflate {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    self.deferred = Some(error);
                    return Poll::Ready(());
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    fn decode(&self) -> Result<T, Error> {
        let replica = self
            .replica
            .as_ref()
            .expect("a change always leaves a state behind");
        replica.decode()
    }
}

impl<T: DeserializeOwned> Stream for LiveResource<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let absorbing = !this.finished && this.deferred.is_none();
        if absorbing && this.absorb(cx).is_pending() && !this.changed {
            return Poll::Pending;
        }
        // A state comes before the error that followed it.
        if std::mem::take(&mut this.changed) {
            return Poll::Ready(Some(this.decode()));
        }
        if let Some(error) = this.deferred.take() {
            return Poll::Ready(Some(Err(error)));
        }
        debug_assert!(
            this.finished,
            "absorb returns Ready only with a change, an error or the end"
        );
        Poll::Ready(None)
    }
}

impl<T> fmt::Debug for LiveResource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let replica = self.replica.as_ref();
        f.debug_struct("LiveResource")
            .field("type", &std::any::type_name::<T>())
            .field("version", &replica.and_then(Replica::version))
            .field("has_state", &replica.is_some())
            .field("limits", &self.limits)
            .field("conflate", &self.conflate)
            .field("status", &*self.status.borrow())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
