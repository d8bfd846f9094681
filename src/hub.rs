//! [`Hub`]: the server side. It holds the authoritative state of each topic,
//! numbers every change, keeps a replay ring for subscribers that resume, and
//! fans each update out, serialized once, to every subscriber.

mod backplane;
mod collection;
mod frame;
mod publish;
mod source;
mod subscription;
pub(crate) mod topic;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use backplane::Backplane;
pub use collection::{Batch, Collection};
pub use frame::Frame;
pub use publish::Publish;
pub use source::HubSource;
pub use subscription::{Delivery, Subscription};
use topic::{Fanout, Topic};

use crate::limits::StateSize;

use crate::{Document, Error, Limits, Patch, Snapshot};

/// The authoritative state of many topics, and their subscribers.
///
/// A `Hub` is a cheap handle: clones share the same topics. Each change to a
/// topic increments its version by exactly 1; a change that changes nothing
/// publishes nothing. Every update is serialized once, and the bytes are
/// shared by all subscribers (see [`Frame`]).
///
/// In-process, a hub is itself a source: [`Hub::source`] gives what
/// [`LiveResource::connect`](crate::LiveResource::connect) needs, with no network.
///
/// # Addressing one consumer
///
/// Topics are cheap, so "emit to one client" is a topic of its own: give each
/// client a private topic such as `clients/{id}/notifications`, create it when
/// the client arrives, and [`remove`](Hub::remove) it when the client leaves.
/// [`Hub::topics`] counts each topic's subscribers and [`Hub::stats`] the totals.
///
/// # Versions across restarts
///
/// A hub keeps its topics in memory: it starts over when its process does,
/// and so does a topic made again after [`Hub::remove`]. So that a client
/// that resumes with a version of the old history is never replayed updates
/// of the new one that happen to carry the numbers it asks for, a new topic
/// starts at the clock's microseconds since 1970, above every version it
/// reached before ([`Builder::versions_from_clock`], the default): a stale
/// client is told to take a new snapshot. Versions then step by exactly one.
/// [`Builder::first_version`] sets a fixed start instead (for tests).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use live_resource::{Hub, LiveResource};
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Debug, Deserialize)]
/// struct Job { done: u32, total: u32 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// hub.set("jobs/42", json!({"done": 0, "total": 100}))?;
///
/// let mut job = LiveResource::<Job>::connect(hub.source("jobs/42"));
/// assert_eq!(job.next().await.unwrap()?.done, 0);
///
/// hub.merge("jobs/42", json!({"done": 40}))?;
/// let state = job.next().await.unwrap()?;
/// assert_eq!((state.done, state.total), (40, 100));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    config: Builder,
    counters: Arc<Counters>,
}

/// Running totals of a hub, shared with its subscriptions.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    published: AtomicU64,
    resyncs: AtomicU64,
    subscriptions: AtomicU64,
}

/// Configures a [`Hub`]: its bounds.
///
/// # Examples
///
/// ```
/// use live_resource::{Hub, Limits};
///
/// let hub = Hub::builder()
///     .replay(4096)
///     .subscriber_queue(512)
///     .limits(Limits::default().max_message_bytes(64 * 1024))
///     .build();
/// # let _ = hub;
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    replay: usize,
    queue: usize,
    limits: Limits,
    first_version: FirstVersion,
    /// Set for a backplane's local replica (see `backplane.rs`).
    backplane: Option<Weak<dyn Backplane>>,
}

/// The version a new topic starts at.
#[derive(Clone, Copy, Debug)]
enum FirstVersion {
    Fixed(u64),
    /// The wall clock's microseconds since 1970 when the topic is made.
    Clock,
}

impl FirstVersion {
    fn now(self) -> u64 {
        match self {
            Self::Fixed(version) => version,
            Self::Clock => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| {
                    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
                })
                .min(MAX_FIRST_VERSION),
        }
    }
}

/// The highest version a topic may start at: half of `u64`'s range stays
/// for its updates.
const MAX_FIRST_VERSION: u64 = 1 << 63;

impl Default for Builder {
    fn default() -> Self {
        Self {
            replay: 1024,
            queue: 1024,
            limits: Limits::default(),
            first_version: FirstVersion::Clock,
            backplane: None,
        }
    }
}

impl Builder {
    /// How many recent updates each topic keeps for subscribers that resume
    /// (default 1024). A subscriber that resumes from further back is told to
    /// resync.
    pub fn replay(mut self, updates: usize) -> Self {
        self.replay = updates;
        self
    }

    /// How many updates may wait for one subscriber (default 1024). A
    /// subscriber that falls further behind is told to resync; a stalled
    /// subscriber costs no more than this.
    pub fn subscriber_queue(mut self, updates: usize) -> Self {
        self.queue = updates.max(1);
        self
    }

    /// The bounds on every value and update published (default
    /// [`Limits::default`]): nesting depth and update size.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The version every new topic starts at, at most 2^63, instead of the
    /// clock's (see [`Builder::versions_from_clock`], the default).
    ///
    /// For tests, and for a hub whose versions are kept elsewhere. A hub that
    /// takes over from an earlier one (the server restarted) must start
    /// above every version the earlier one reached: a client that resumes
    /// with an old version is then told to take a new snapshot, rather than
    /// replayed updates of a different history that happen to carry the
    /// numbers it asks for (and an `ETag` of an old version could otherwise
    /// match a new one).
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::builder().first_version(1_000).build();
    /// assert_eq!(hub.set("quotes", json!({"AAPL": 189.5}))?, 1_000);
    /// assert_eq!(hub.merge("quotes", json!({"AAPL": 190.0}))?, 1_001);
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn first_version(mut self, version: u64) -> Self {
        self.first_version = FirstVersion::Fixed(version.min(MAX_FIRST_VERSION));
        self
    }

    /// Starts each new topic at the wall clock's microseconds since 1970,
    /// read when the topic is made: the default, safe for a server whose
    /// topics live in memory only.
    ///
    /// Versions still step by exactly one. A topic made again (after a
    /// restart, or [`Hub::remove`]) starts above every version it reached
    /// before, unless it published more than one update per microsecond
    /// since it was first made, or the clock went back; so a client that
    /// resumes across the restart gets a new snapshot, never a wrong replay.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let before = Hub::builder().versions_from_clock().build();
    /// let old = before.set("quotes", json!({"AAPL": 189.5}))?;
    /// before.merge("quotes", json!({"AAPL": 190.0}))?;
    ///
    /// // The server restarts: a new hub, the same topic made again.
    /// std::thread::sleep(std::time::Duration::from_millis(1));
    /// let after = Hub::builder().versions_from_clock().build();
    /// assert!(after.set("quotes", json!({"AAPL": 191.0}))? > old + 1);
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn versions_from_clock(mut self) -> Self {
        self.first_version = FirstVersion::Clock;
        self
    }

    /// Makes the hub a local replica of `backplane`'s topics.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn replica_of(mut self, backplane: Weak<dyn Backplane>) -> Self {
        self.backplane = Some(backplane);
        self
    }

    /// The hub.
    pub fn build(self) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                topics: RwLock::default(),
                config: self,
                counters: Arc::default(),
            }),
        }
    }
}

/// One topic, as listed by [`Hub::topics`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TopicInfo {
    /// The topic's name.
    pub name: String,
    /// Its current version.
    pub version: u64,
    /// How many subscriptions follow it now.
    pub subscribers: usize,
}

/// A hub's totals, as returned by [`Hub::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Topics that exist now.
    pub topics: usize,
    /// Subscriptions open now, over all topics.
    pub subscribers: usize,
    /// Subscriptions opened since the hub was made.
    pub subscriptions: u64,
    /// Updates published since the hub was made.
    pub published: u64,
    /// Times a subscriber was told to resync (it resumed from too far back,
    /// or fell behind its queue).
    pub resyncs: u64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with the default bounds (see [`Builder`]).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a hub's bounds.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, Error> {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        topics
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic {
                topic: name.to_owned(),
            })
    }

    /// Creates `topic` with `value`, or replaces its value. Subscribers get
    /// the smallest patch between the old and new value ([`Patch::diff`]).
    /// Returns the topic's version: for a new topic, 0 (or what
    /// [`Builder::first_version`] or [`Builder::versions_from_clock`] says).
    ///
    /// `value` is anything that serializes to JSON: a `#[derive(Serialize)]`
    /// type, a reference to one, or a `serde_json::Value` (which is copied
    /// once on its way in, as a typed value is serialized once).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when `value` does not serialize to JSON;
    /// [`Error::TooDeep`] when it nests deeper than the limits allow;
    /// [`Error::TooLarge`] when the update would be larger. The topic is
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// #[derive(serde::Serialize)]
    /// struct Job { done: u32, total: u32 }
    ///
    /// let hub = Hub::new();
    /// let first = hub.set("jobs/42", Job { done: 0, total: 100 })?;
    /// assert_eq!(hub.set("jobs/42", &Job { done: 10, total: 100 })?, first + 1);
    /// assert_eq!(hub.snapshot("jobs/42").unwrap().data, json!({"done": 10, "total": 100}));
    ///
    /// // A fixed first version, as tests like it.
    /// let hub = Hub::builder().first_version(0).build();
    /// assert_eq!(hub.set("quotes", json!({"AAPL": 189.5}))?, 0);
    /// assert_eq!(hub.set("quotes", json!({"AAPL": 190.0}))?, 1);
    /// assert_eq!(hub.set("quotes", json!({"AAPL": 190.0}))?, 1, "no change, no update");
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn set(&self, topic: &str, value: impl Serialize) -> Result<u64, Error> {
        self.writable(topic)?;
        let value = to_json(value)?;
        let limits = &self.inner.config.limits;
        if let Ok(existing) = self.topic(topic) {
            return existing.set(value, limits, &self.inner.counters);
        }
        if crate::limits::value_depth(&value) > limits.max_depth {
            return Err(Error::TooDeep {
                max: limits.max_depth,
            });
        }
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        match topics.get(topic) {
            // Created by another caller since we looked.
            Some(existing) => existing.set(value, limits, &self.inner.counters),
            None => {
                let config = &self.inner.config;
                let version = config.first_version.now();
                let size = StateSize::measure(&value, limits)?;
                let created =
                    Topic::new(topic, (value, size), version, config.replay, config.queue);
                topics.insert(topic.to_owned(), Arc::new(created));
                Ok(version)
            }
        }
    }

    /// Applies an RFC 7396 merge patch to `topic` and publishes it as it is.
    /// Returns the topic's version.
    ///
    /// `patch` is anything that serializes to a JSON object of the members
    /// to change: a `serde_json::Value`, or a typed patch (a struct whose
    /// fields are the members, `None` skipped with
    /// `#[serde(skip_serializing_if = "Option::is_none")]`). A `Value` is
    /// copied once on its way in; [`Hub::publish`] with a
    /// [`Patch::Merge`] takes one as it is.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::Encode`], [`Error::TooDeep`],
    /// [`Error::TooLarge`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let first = hub.set("users/7/activity", json!({"online": true, "sessions": {"web": 1}}))?;
    /// assert_eq!(hub.merge("users/7/activity", json!({"sessions": {"mobile": 1}}))?, first + 1);
    /// assert_eq!(
    ///     hub.snapshot("users/7/activity").unwrap().data,
    ///     json!({"online": true, "sessions": {"web": 1, "mobile": 1}})
    /// );
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    ///
    /// A typed patch:
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// #[derive(serde::Serialize)]
    /// struct Progress { done: u32 }
    ///
    /// let hub = Hub::new();
    /// hub.set("jobs/42", json!({"done": 0, "total": 100}))?;
    /// hub.merge("jobs/42", Progress { done: 40 })?;
    /// assert_eq!(hub.snapshot("jobs/42").unwrap().data, json!({"done": 40, "total": 100}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn merge(&self, topic: &str, patch: impl Serialize) -> Result<u64, Error> {
        self.publish(topic, Patch::Merge(to_json(patch)?.into()))
    }

    /// Applies any [`Patch`] to `topic` and publishes it as it is, unless it
    /// changes nothing. Returns the topic's version.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::TooDeep`], [`Error::TooLarge`],
    /// [`Error::Apply`] for a JSON Patch that does not apply, and
    /// [`Error::Malformed`] for a merge patch read lazily whose text is not
    /// JSON. On error the topic's value and version are unchanged and
    /// nothing is published.
    ///
    /// A merge patch still in the text it was read from (a relay forwarding
    /// what it read) is read whole by `serde_json` first, as every
    /// subscriber gets its value written out again: an object of it that
    /// names a member twice keeps the last, as a `Value` does.
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::{Hub, Patch};
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let first = hub.set("log", json!({"lines": []}))?;
    /// let append = serde_json::from_value(json!([{"op": "add", "path": "/lines/-", "value": "started"}])).unwrap();
    /// assert_eq!(hub.publish("log", Patch::Json(append))?, first + 1);
    ///
    /// let bad = serde_json::from_value(json!([{"op": "remove", "path": "/missing"}])).unwrap();
    /// assert!(hub.publish("log", Patch::Json(bad)).is_err());
    /// assert_eq!(hub.snapshot("log").unwrap().version, Some(first + 1));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn publish(&self, topic: &str, patch: Patch) -> Result<u64, Error> {
        self.writable(topic)?;
        // Subscribers get the patch written out again, from its value: a
        // patch still in its text (a relay's, read by
        // `Limits::parse_update_lazy`) is read whole first, and checked so.
        let patch = match patch {
            Patch::Merge(patch) => Patch::Merge(patch.into_held_value()?),
            patch => patch,
        };
        self.topic(topic)?
            .publish(patch, &self.inner.config.limits, &self.inner.counters)
    }

    /// Changes `topic` with a closure and publishes the difference, as
    /// [`Hub::set`] does. Publishers of the topic wait meanwhile, so no
    /// change falls in between the read and the write. The closure works on
    /// a copy of the whole value, so this costs a copy and a diff of it: to
    /// change one part of a large value, [`Hub::update_at`] copies only
    /// that part; [`Hub::merge`] copies nothing.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::TooDeep`], [`Error::TooLarge`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// hub.set("jobs/1", json!({"done": 0}))?;
    /// hub.update("jobs/1", |job| job["done"] = json!(job["done"].as_u64().unwrap() + 10))?;
    /// assert_eq!(hub.snapshot("jobs/1").unwrap().data, json!({"done": 10}));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn update(&self, topic: &str, change: impl FnOnce(&mut Value)) -> Result<u64, Error> {
        self.update_at(topic, "", change)
    }

    /// Changes the value at `pointer` (an RFC 6901 JSON Pointer: `/AAPL`,
    /// `/rows/3`, `""` for the whole value) in `topic` with a closure, and
    /// publishes the difference. Only that part is copied and compared, so
    /// the cost is the part's, not the topic's: a change to one row of a
    /// table of 100,000 rows costs what the row costs.
    ///
    /// The update is a merge patch nested under the pointer's keys where it
    /// can be (`{"AAPL":{"price":190.5}}`), so front ends that only know
    /// merge patches follow it; inside an array, or where the part becomes
    /// `null`, a JSON Patch.
    ///
    /// # Errors
    ///
    /// [`Error::Apply`] (an invalid path) when `pointer` is not a JSON
    /// Pointer or leads to nothing, and then `change` is not called;
    /// [`Error::UnknownTopic`], [`Error::TooDeep`], [`Error::TooLarge`],
    /// [`Error::StateTooLarge`]. On error nothing is published.
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::{Hub, Patch};
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// hub.set("quotes", json!({"AAPL": {"price": 189.5, "volume": 1200}, "MSFT": {"price": 410.0}}))?;
    /// let mut updates = hub.subscribe("quotes", None)?;
    ///
    /// hub.update_at("quotes", "/AAPL", |quote| {
    ///     let price = quote["price"].as_f64().unwrap();
    ///     quote["price"] = json!(price + 1.0);
    /// })?;
    /// assert_eq!(hub.read("quotes", |quotes, _| quotes["AAPL"]["price"].as_f64()), Some(Some(190.5)));
    ///
    /// // Subscribers get the one price that changed.
    /// use futures::StreamExt;
    /// let Some(live_resource::hub::Delivery::Update(frame)) = futures::executor::block_on(updates.next()) else {
    ///     panic!("an update")
    /// };
    /// assert!(matches!(&frame.update().patch, Patch::Merge(p) if *p == json!({"AAPL": {"price": 190.5}})));
    ///
    /// assert!(hub.update_at("quotes", "/GOOG", |_| unreachable!()).is_err());
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn update_at(
        &self,
        topic: &str,
        pointer: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<u64, Error> {
        self.writable(topic)?;
        self.topic(topic)?.update_at(
            pointer,
            change,
            &self.inner.config.limits,
            &self.inner.counters,
        )
    }

    /// The table on `topic`: a JSON object keyed by row id, written row by
    /// row, each change one update that carries only the rows it touches
    /// (see [`Collection`]). The first row written makes the topic.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> live_resource::Result<()> {
    /// let hub = Hub::new();
    /// hub.collection("alerts").upsert(1u64, json!({"level": "high"})).await?;
    /// assert_eq!(hub.snapshot("alerts").unwrap().data, json!({"1": {"level": "high"}}));
    /// # Ok(())
    /// # }
    /// ```
    pub fn collection(&self, topic: &str) -> Collection<'_, Hub> {
        Collection::new(self, topic)
    }

    /// Makes the row writes of `batch` as one update of `topic`, made
    /// `{}` first if there is no such topic.
    pub(crate) fn write_rows(&self, topic: &str, batch: &Batch) -> Result<u64, Error> {
        self.writable(topic)?;
        let existing = match self.topic(topic) {
            Ok(existing) => existing,
            Err(_) => self.made(topic)?,
        };
        existing.write_rows(
            &batch.writes,
            &self.inner.config.limits,
            &self.inner.counters,
        )
    }

    /// `topic`, made with the value `{}` unless another caller made it first.
    fn made(&self, topic: &str) -> Result<Arc<Topic>, Error> {
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = topics.get(topic) {
            return Ok(Arc::clone(existing));
        }
        let config = &self.inner.config;
        let empty = Value::Object(Default::default());
        let size = StateSize::measure(&empty, &config.limits)?;
        let created = Arc::new(Topic::new(
            topic,
            (empty, size),
            config.first_version.now(),
            config.replay,
            config.queue,
        ));
        topics.insert(topic.to_owned(), Arc::clone(&created));
        Ok(created)
    }

    /// [`Hub::update`], typed: reads `topic`'s value as a `T`, changes it
    /// with `change`, and publishes the difference. Publishers of the topic
    /// wait meanwhile, so no change falls in between the read and the write.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`]; [`Error::Decode`] when the value does not
    /// decode into `T` (then `change` is not called); [`Error::Encode`],
    /// [`Error::TooDeep`], [`Error::TooLarge`]. On error nothing is published.
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job { done: u32, total: u32 }
    ///
    /// let hub = Hub::new();
    /// hub.set("jobs/1", Job { done: 0, total: 100 })?;
    /// hub.update_as("jobs/1", |job: &mut Job| job.done += 10)?;
    /// assert_eq!(hub.snapshot("jobs/1").unwrap().data, json!({"done": 10, "total": 100}));
    ///
    /// let wrong = hub.update_as("jobs/1", |name: &mut String| name.push('!'));
    /// assert!(matches!(wrong, Err(live_resource::Error::Decode { .. })));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn update_as<T>(&self, topic: &str, change: impl FnOnce(&mut T)) -> Result<u64, Error>
    where
        T: Serialize + DeserializeOwned,
    {
        self.writable(topic)?;
        self.topic(topic)?
            .update_as(change, &self.inner.config.limits, &self.inner.counters)
    }

    /// The current value and version of `topic` (a clone of the value), or
    /// `None` if there is no such topic. See [`Hub::read`] to look without cloning.
    pub fn snapshot(&self, topic: &str) -> Option<Snapshot> {
        self.topic(topic).ok().map(|topic| topic.snapshot())
    }

    /// The snapshot of `topic` with its value as JSON text, or `None` if
    /// there is no such topic.
    ///
    /// The text is made once per version and shared by everyone who asks for
    /// it until the next change: a server that answers many subscribers with
    /// the same large snapshot serializes it once, and sends the same bytes to
    /// all of them. The topic keeps it until its next change.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let version = hub.set("quotes", json!({"AAPL": 189.5}))?;
    /// let snapshot = hub.snapshot_text("quotes").unwrap();
    /// assert_eq!(snapshot.version, Some(version));
    /// assert_eq!(&snapshot.data[..], br#"{"AAPL":189.5}"#);
    /// let again = hub.snapshot_text("quotes").unwrap();
    /// assert_eq!(again.data.as_ptr(), snapshot.data.as_ptr(), "the same bytes");
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn snapshot_text(&self, topic: &str) -> Option<Snapshot<Bytes>> {
        self.topic(topic).ok().map(|topic| topic.snapshot_text())
    }

    /// The current version of `topic`, or `None` if there is no such topic.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let version = hub.set("quotes", json!({"AAPL": 189.5}))?;
    /// assert_eq!(hub.version("quotes"), Some(version));
    /// assert_eq!(hub.version("nope"), None);
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn version(&self, topic: &str) -> Option<u64> {
        self.topic(topic).ok().map(|topic| topic.version())
    }

    /// Reads `topic`'s value and version without copying them, or `None` if
    /// there is no such topic. Publishers of the topic wait while `read` runs.
    /// The value is a [`Document`], which reads like a `serde_json::Value`
    /// and decodes into any `T: Deserialize` (`T::deserialize(value)`).
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// hub.set("quotes", json!({"AAPL": 189.5}))?;
    /// let price = hub.read("quotes", |value, _version| value["AAPL"].as_f64());
    /// assert_eq!(price, Some(Some(189.5)));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn read<R>(&self, topic: &str, read: impl FnOnce(&Document, u64) -> R) -> Option<R> {
        self.topic(topic).ok().map(|topic| topic.read(read))
    }

    /// Subscribes to `topic`'s updates: with `since: Some(v)`, every update
    /// after version `v` (from the replay ring), or [`Delivery::Resync`] first
    /// when `v` is older than the ring; with `since: None`, updates from now on.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`].
    pub fn subscribe(&self, topic: &str, since: Option<u64>) -> Result<Subscription, Error> {
        let topic = self.topic(topic)?;
        self.inner
            .counters
            .subscriptions
            .fetch_add(1, Ordering::Relaxed);
        Ok(topic.subscribe(since, Arc::clone(&self.inner.counters)))
    }

    /// The snapshot of `topic` and a subscription to the updates after it,
    /// taken under the same lock, so that no update falls in between.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let version = hub.set("quotes", json!({"AAPL": 189.5}))?;
    /// let (snapshot, _updates) = hub.subscribe_with_snapshot("quotes")?;
    /// assert_eq!(snapshot.version, Some(version));
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn subscribe_with_snapshot(&self, topic: &str) -> Result<(Snapshot, Subscription), Error> {
        let topic = self.topic(topic)?;
        self.inner
            .counters
            .subscriptions
            .fetch_add(1, Ordering::Relaxed);
        Ok(topic.subscribe_with_snapshot(Arc::clone(&self.inner.counters)))
    }

    /// [`Hub::subscribe_with_snapshot`], with the snapshot as the shared JSON
    /// text of [`Hub::snapshot_text`], and a subscription that delivers every
    /// update after its version.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when there is no such topic.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let version = hub.set("quotes", json!({"AAPL": 189.5}))?;
    /// let (snapshot, _updates) = hub.subscribe_with_snapshot_text("quotes")?;
    /// assert_eq!(snapshot.version, Some(version));
    /// assert_eq!(&snapshot.data[..], br#"{"AAPL":189.5}"#);
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn subscribe_with_snapshot_text(
        &self,
        topic: &str,
    ) -> Result<(Snapshot<Bytes>, Subscription), Error> {
        let (Snapshot { version, data }, subscription) = self.subscribe_with_shared_text(topic)?;
        let data = topic::JsonText::bytes(data);
        Ok((Snapshot { version, data }, subscription))
    }

    /// [`Hub::subscribe_with_snapshot_text`], the text as the hub keeps it:
    /// for a consumer in this process, with no copy.
    pub(crate) fn subscribe_with_shared_text(
        &self,
        topic: &str,
    ) -> Result<(Snapshot<Arc<str>>, Subscription), Error> {
        let topic = self.topic(topic)?;
        self.inner
            .counters
            .subscriptions
            .fetch_add(1, Ordering::Relaxed);
        Ok(topic.subscribe_with_snapshot_text(Arc::clone(&self.inner.counters)))
    }

    /// Removes `topic`. Its subscriptions end; its name may be used again,
    /// starting over at the hub's first version: by default above every
    /// version the old topic reached ([`Builder::versions_from_clock`]), so
    /// that no client of the old topic takes the new one for its history.
    /// Returns whether it existed.
    ///
    /// A backplane's replica (a `RedisHub`'s `hub()`, feature
    /// `redis`) removes nothing and returns `false`: its
    /// topics are removed through the backplane, for every process at once.
    pub fn remove(&self, topic: &str) -> bool {
        if self.is_replica() {
            return false;
        }
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        topics.remove(topic).is_some()
    }

    /// Every topic with its version and subscriber count, sorted by name.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// hub.set("b", json!(1))?;
    /// hub.set("a", json!(1))?;
    /// let _subscription = hub.subscribe("a", None)?;
    /// let topics = hub.topics();
    /// assert_eq!(topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(topics[0].subscribers, 1);
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn topics(&self) -> Vec<TopicInfo> {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<TopicInfo> = topics
            .iter()
            .map(|(name, topic)| TopicInfo {
                name: name.clone(),
                version: topic.version(),
                subscribers: topic.subscribers(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// The number of subscriptions `topic` has now (0 for an unknown topic).
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topic(topic).map_or(0, |topic| topic.subscribers())
    }

    /// The hub's totals.
    pub fn stats(&self) -> Stats {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        let counters = &self.inner.counters;
        Stats {
            topics: topics.len(),
            subscribers: topics.values().map(|topic| topic.subscribers()).sum(),
            subscriptions: counters.subscriptions.load(Ordering::Relaxed),
            published: counters.published.load(Ordering::Relaxed),
            resyncs: counters.resyncs.load(Ordering::Relaxed),
        }
    }

    /// A [`Source`](crate::source::Source) for `topic`, for
    /// [`LiveResource::connect`](crate::LiveResource::connect) in the same process.
    pub fn source(&self, topic: &str) -> HubSource {
        HubSource::new(self.clone(), topic)
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("stats", &self.stats())
            .field("config", &self.inner.config)
            .finish()
    }
}

/// `value` as JSON: a typed value serialized, a `Value` copied.
fn to_json(value: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(Error::Encode)
}
