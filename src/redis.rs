//! [`RedisHub`]: a hub whose topics live in Redis, shared by every server
//! process that connects to it (feature `redis`).
//!
//! A [`Hub`] keeps its topics in one process: two replicas of a server behind
//! a load balancer would number the same topic twice, and a client that
//! reconnects to the other one would resume into the wrong history. A
//! `RedisHub` gives every process one history per topic:
//!
//! - **One numbering.** Every change, from any process, is numbered by one
//!   Lua script in Redis that appends it to the topic's log (a stream) and
//!   announces it. Changes that depend on the state (`set`'s difference,
//!   `update`, a JSON Patch) are made against the version they read and sent
//!   with a compare-and-set on it: a change that lost the race is made
//!   again on the newer state, never applied to a stale one.
//! - **A local replica per process.** Each process keeps the topics its
//!   clients follow in a local [`Hub`] ([`RedisHub::hub`]), which serves
//!   them as any hub does: [`server::router`](crate::server::router), the
//!   Socket.IO layer and every client work on it unchanged. A topic is
//!   loaded when a client first asks for it and dropped a while after its
//!   last client left ([`Builder::unfollow_after`]).
//! - **No gap reaches a client.** An announcement a process missed (its
//!   connection to Redis dropped) is read back from the log; a process that
//!   fell further behind than the log reaches loads the topic again, and its
//!   clients take a new snapshot. No client is disconnected for it.
//! - **Resume anywhere.** A client resumes on any process with its version:
//!   from that process's ring, or a new snapshot when the version is older
//!   than what it keeps. No session is stored anywhere, so a process killed
//!   with `kill -9` loses nothing its clients need.
//! - **Histories never share a version.** A topic is made at the clock's
//!   microseconds, above every version an earlier history reached (as
//!   [`Builder::versions_from_clock`](crate::hub::Builder::versions_from_clock)
//!   does): when Redis loses its data, the topic starts again higher up, and
//!   every client takes a new snapshot. A process that still holds such a
//!   topic makes it again from its own state. When a failover loses changes
//!   Redis had acknowledged, the first process to see a version come twice
//!   with different contents starts the topic again above every version it
//!   saw.
//!
//! # In Redis
//!
//! Each topic has three keys and a channel, all in the hash slot of its name
//! (`{topic}`): `lr:{topic}:meta` (a hash: the version, and the snapshot's),
//! `lr:{topic}:log` (a stream of updates, each under the id `<version>-1`),
//! `lr:{topic}:snapshot` (the state's JSON text at the snapshot's version),
//! and the channel `lr:{topic}`. The prefix `lr` is [`Builder::prefix`].
//!
//! **What it holds, bounded.** The log keeps the last
//! [`Builder::retain`] updates (for clients that resume) and every update
//! since the snapshot (for processes that load the topic). A process writes
//! a new snapshot, then trims the log, whenever the updates since the last
//! one add up to more bytes than the snapshot itself (or 64 KiB, whichever
//! is more) or to more than `retain` updates: so a large state is written
//! once per that many bytes of changes, never on every change, and a topic
//! costs Redis at most about twice its state plus `2 × retain` updates.
//! Topics no one changes for [`Builder::expire_after`] disappear (by
//! default they stay).
//!
//! **Past one Redis.** [`RedisHub::cluster`] spreads topics over a Redis
//! Cluster's masters (a topic's keys share its slot) and announces changes
//! by sharded pub/sub, so a node hears only the shards of the topics its
//! clients follow.
//!
//! # When things go wrong
//!
//! | what happens | what a change does | what clients see |
//! | --- | --- | --- |
//! | Redis cannot be reached | fails with [`Error::Backplane`]: nothing was published | for up to [`Builder::timeout`], nothing; past it their node may hold stale states, so they resync and are refused with `unavailable`, which their clients retry with backoff, keeping their state, status `Reconnecting`; once Redis is back, they take the current state |
//! | a node's announcements connection drops | unaffected | nothing: the node reads what it missed from the log |
//! | a node falls behind what the log keeps | unaffected | a resync: a new snapshot from their node |
//! | a node is killed | unaffected | they reconnect to another node and resume from their version |
//! | Redis restarts empty (or a topic expires) | a node that still holds the topic makes it again from its state, at a higher version | a resync to the same state under the new version |
//! | a failover loses acknowledged changes | the first node to see a version twice starts a new history above every version it saw | a resync; no version ever means two states |
//! | a client asks a node that cannot reach Redis for a topic it does not hold | — | `unavailable` (HTTP 503), retried with backoff |
//!
//! Two limits. A failover that loses changes is found by a node that served
//! them; should every such node die with the failover, a client that still
//! holds a lost version could resume into the new history under the same
//! number (no node is left to tell). And versions are exact up to 2^53 (Lua's
//! numbers), which the clock's microseconds reach in the year 2255.
//!
//! # Example
//!
//! ```no_run
//! use live_resource::redis::RedisHub;
//! use serde_json::json;
//!
//! # async fn run() -> live_resource::Result<()> {
//! let hub = RedisHub::connect("redis://127.0.0.1:6379").await?;
//! let version = hub.set("jobs/42", json!({"done": 0, "total": 100})).await?;
//! hub.merge("jobs/42", json!({"done": 40})).await?;
//! hub.update("jobs/42", |job| job["done"] = json!(50)).await?;
//!
//! // Every process serves the same numbered history.
//! let app = live_resource::server::router(hub.hub().clone());
//! # let _ = (version, app);
//! # Ok(())
//! # }
//! ```

mod announce;
mod channels;
mod connection;
mod follower;
mod keys;
mod scripts;
mod settings;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::AbortHandle;

use self::connection::{Connection, Target};
use self::follower::{Follower, backplane};
use self::keys::Keys;
use self::scripts::Published;
use self::settings::Settings;
use crate::hub::Backplane;
use crate::patch::diff;
use crate::{Document, Error, Hub, Patch, Snapshot, Update};

/// Why a replica serves no one for a while.
const UNREACHABLE: &str = "Redis cannot be reached: what this node holds may not be current";

/// What Redis pushes to a node.
type Pushes = tokio::sync::mpsc::UnboundedSender<redis::PushInfo>;

/// How many times a change that depends on the state is made again after
/// another process changed the topic first.
const ATTEMPTS: u32 = 64;

/// A hub whose topics live in Redis: every process that connects to the
/// same Redis serves one numbered history per topic (see the [module
/// docs](self)).
///
/// Its change methods are those of [`Hub`], asynchronous, because Redis
/// numbers each change: a method returns once the change is numbered, with
/// its version, and fails with [`Error::Backplane`] when Redis cannot be
/// reached (the change was not made). A clone is a handle to the same
/// connections and replica.
///
/// # Examples
///
/// ```no_run
/// use live_resource::redis::RedisHub;
/// use serde_json::json;
///
/// # async fn run() -> live_resource::Result<()> {
/// let hub = RedisHub::builder("redis://127.0.0.1:6379")
///     .retain(4096)
///     .connect()
///     .await?;
/// hub.set("quotes", json!({"AAPL": 189.5})).await?;
/// hub.merge("quotes", json!({"AAPL": 190.0})).await?;
/// assert_eq!(hub.snapshot("quotes").await?.unwrap().data, json!({"AAPL": 190.0}));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisHub {
    shared: Arc<Shared>,
}

/// What a `RedisHub`'s handles and tasks share.
struct Shared {
    /// The local replica, served to clients.
    hub: Hub,
    settings: Settings,
    /// Scripts and reads.
    commands: Connection,
    /// The connection that subscribes to the channels of followed topics
    /// (RESP3 pushes): pinged to learn it is back after a drop.
    announcements: Connection,
    /// Its subscribe and unsubscribe requests, sent in order.
    channels: tokio::sync::mpsc::UnboundedSender<channels::Request>,
    followers: Mutex<HashMap<String, Followed>>,
    /// The dispatcher, the channels task and the sweeper.
    tasks: Vec<AbortHandle>,
    started: Instant,
    /// Set while the announcements connection has been down for longer than
    /// the command timeout: what the replica holds may no longer be
    /// current, so it serves no one until Redis is back.
    unreachable: AtomicBool,
    /// This, weakly: the hub calls `follow` on a `&Shared`, which starts a
    /// task that needs it strongly.
    me: Weak<Shared>,
}

/// A followed topic and its task.
struct Followed {
    follower: Arc<Follower>,
    task: Option<AbortHandle>,
}

/// Configures a [`RedisHub`]: where Redis is, the local replica's bounds,
/// and what Redis keeps.
///
/// ```no_run
/// use std::time::Duration;
/// use live_resource::Hub;
/// use live_resource::redis::RedisHub;
///
/// # async fn run() -> live_resource::Result<()> {
/// let hub = RedisHub::builder("redis://127.0.0.1:6379")
///     .local(Hub::builder().replay(4096))
///     .retain(4096)
///     .expire_after(Duration::from_secs(24 * 3600))
///     .connect()
///     .await?;
/// # let _ = hub;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect`"]
pub struct Builder {
    target: Target,
    local: crate::hub::Builder,
    settings: Settings,
}

impl Builder {
    /// The local replica's bounds: its ring, subscriber queues and
    /// [`Limits`](crate::Limits) (default [`Hub::builder`]'s). Its first
    /// version is not used: Redis numbers every topic.
    pub fn local(mut self, hub: crate::hub::Builder) -> Self {
        self.local = hub;
        self
    }

    /// How many recent updates Redis keeps per topic for clients that
    /// resume (default 1024, at least 1). A client that resumes from
    /// further back than both this and its process's ring takes a new
    /// snapshot.
    pub fn retain(mut self, updates: usize) -> Self {
        self.settings.retain = updates.max(1);
        self
    }

    /// Topics no one changes for `idle` are removed from Redis (default:
    /// never). A process that still follows such a topic makes it again
    /// from its state (at a new version, so its clients take a new
    /// snapshot).
    pub fn expire_after(mut self, idle: Duration) -> Self {
        self.settings.expiry = Some(idle);
        self
    }

    /// How long a process keeps a topic in its replica after its last
    /// client left (default 60 s): following a topic costs an announcement
    /// per change.
    pub fn unfollow_after(mut self, idle: Duration) -> Self {
        self.settings.unfollow_after = idle;
        self
    }

    /// The first part of every key and channel (default `lr`): several
    /// independent sets of topics can share one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// The longest a Redis command may take, connecting included (default
    /// 2 s): past it, a change fails with [`Error::Backplane`]. It is also how
    /// long a node keeps serving its clients while it cannot reach Redis:
    /// past it, what the node holds may be stale, and its clients are sent
    /// away with `unavailable` until Redis is back.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Connects to Redis.
    ///
    /// # Errors
    ///
    /// [`Error::Backplane`] when the URL is not a Redis URL, or Redis cannot
    /// be reached.
    pub async fn connect(self) -> Result<RedisHub, Error> {
        let timeout = self.settings.timeout;
        let commands = Connection::open(&self.target, timeout, None::<Pushes>)
            .await
            .map_err(backplane)?;
        let (pushes, pushed) = tokio::sync::mpsc::unbounded_channel();
        let announcements = Connection::open(&self.target, timeout, Some(pushes))
            .await
            .map_err(backplane)?;
        let mut settings = self.settings;
        settings.announce = Connection::announce_command(&self.target);
        let local = self.local;
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let backplane: Weak<dyn Backplane> = weak.clone();
            let dispatcher = tokio::spawn(announce::dispatch(weak.clone(), pushed));
            let (requests, requested) = tokio::sync::mpsc::unbounded_channel();
            let subscriber = tokio::spawn(channels::run(
                weak.clone(),
                announcements.clone(),
                requested,
            ));
            let sweeper = tokio::spawn(sweep(weak.clone(), settings.unfollow_after));
            Shared {
                hub: local.replica_of(backplane).build(),
                settings,
                commands,
                announcements,
                channels: requests,
                followers: Mutex::default(),
                tasks: vec![
                    dispatcher.abort_handle(),
                    subscriber.abort_handle(),
                    sweeper.abort_handle(),
                ],
                started: Instant::now(),
                unreachable: AtomicBool::new(false),
                me: weak.clone(),
            }
        });
        Ok(RedisHub { shared })
    }
}

impl RedisHub {
    /// Connects to the Redis at `url` (`redis://host:port/db`), with the
    /// default settings (see [`Builder`]).
    ///
    /// # Errors
    ///
    /// [`Error::Backplane`] when Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url).connect().await
    }

    /// Configures a hub on the Redis at `url`.
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder {
            target: Target::Single(url.into()),
            local: Hub::builder(),
            settings: Settings::default(),
        }
    }

    /// Configures a hub on a Redis Cluster, given the URLs of some of its
    /// nodes (`redis://host:port`): the rest are found from them.
    ///
    /// Each topic's keys and channel share one hash slot, so a cluster
    /// spreads topics over its masters; announcements travel by sharded
    /// pub/sub (`SPUBLISH`, Redis 7), so a node hears only the shards of the
    /// topics its clients follow.
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # async fn run() -> live_resource::Result<()> {
    /// let hub = RedisHub::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
    ///     .connect()
    ///     .await?;
    /// # let _ = hub;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Builder {
        Builder {
            target: Target::Cluster(nodes.into_iter().map(Into::into).collect()),
            local: Hub::builder(),
            settings: Settings::default(),
        }
    }

    /// The local replica: what this process serves its clients from
    /// ([`server::router`](crate::server::router), the Socket.IO layer,
    /// [`Hub::source`]). It loads a topic when a client asks for it. Its own
    /// change methods refuse ([`Error::ReadOnly`]): change topics through
    /// the `RedisHub`.
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # async fn run() -> live_resource::Result<()> {
    /// let redis = RedisHub::connect("redis://127.0.0.1:6379").await?;
    /// let app = live_resource::server::router(redis.hub().clone());
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Creates `topic` with `value`, or replaces its value: the difference
    /// is published, made against the topic's latest version. Returns the
    /// topic's version (a new topic's is the clock's microseconds).
    ///
    /// # Errors
    ///
    /// [`Error::Backplane`] when Redis cannot be reached; [`Error::Encode`],
    /// [`Error::TooDeep`], [`Error::TooLarge`], [`Error::StateTooLarge`]
    /// past the local hub's limits; [`Error::Contended`] when other
    /// processes changed the topic first 64 times in a row. Nothing is
    /// published then.
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// #[derive(serde::Serialize)]
    /// struct Job { done: u32, total: u32 }
    ///
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// let first = hub.set("jobs/42", Job { done: 0, total: 100 }).await?;
    /// assert_eq!(hub.set("jobs/42", Job { done: 10, total: 100 }).await?, first + 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set(&self, topic: &str, value: impl Serialize) -> Result<u64, Error> {
        let value = serde_json::to_value(value).map_err(Error::Encode)?;
        let limits = self.shared.hub.limits();
        if crate::limits::value_depth(&value) > limits.max_depth {
            return Err(Error::TooDeep {
                max: limits.max_depth,
            });
        }
        crate::limits::StateSize::measure(&value, limits)?;
        if !self.shared.follow_topic(topic).await? {
            let text = serde_json::to_vec(&value).map_err(Error::Encode)?;
            let mut redis = self.shared.commands.clone();
            let keys = Keys::new(&self.shared.settings.prefix, topic);
            let created = scripts::start(&mut redis, &self.shared.settings, &keys, &text, 0, None)
                .await
                .map_err(backplane)?;
            if let Ok(version) = created {
                // Follow it from the start: this process will change it again.
                self.shared.follow_topic(topic).await?;
                return Ok(version);
            }
        }
        self.change(topic, |current| Ok(diff::diff(current, &value)))
            .await
    }

    /// Applies an RFC 7396 merge patch to `topic`. A merge patch does not
    /// depend on the state: Redis numbers it as it comes, without a
    /// compare-and-set. Returns the topic's version.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::Backplane`], [`Error::Encode`],
    /// [`Error::TooDeep`], [`Error::TooLarge`].
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # use serde_json::json;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// hub.merge("jobs/42", json!({"done": 40})).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn merge(&self, topic: &str, patch: impl Serialize) -> Result<u64, Error> {
        let patch = serde_json::to_value(patch).map_err(Error::Encode)?;
        self.publish(topic, Patch::Merge(patch.into())).await
    }

    /// Applies any [`Patch`] to `topic`. A merge patch is numbered as it
    /// comes (so, unlike [`Hub::publish`], it is published even when it
    /// changes nothing: only Redis knows the latest state); a JSON Patch or a replacement is checked against the latest
    /// state and sent with a compare-and-set. Returns the topic's version.
    ///
    /// # Errors
    ///
    /// As [`RedisHub::merge`], and [`Error::Apply`] for a JSON Patch that
    /// does not apply, [`Error::Contended`].
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # use live_resource::Patch;
    /// # use serde_json::json;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// let append = serde_json::from_value(json!([
    ///     {"op": "add", "path": "/lines/-", "value": "started"}
    /// ])).unwrap();
    /// hub.publish("log", Patch::Json(append)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish(&self, topic: &str, patch: Patch) -> Result<u64, Error> {
        let patch = match patch {
            Patch::Merge(patch) => Patch::Merge(patch.into_held_value()?),
            patch => patch,
        };
        self.shared.hub.limits().check_patch(&patch)?;
        match patch {
            Patch::Merge(_) => {
                let body = self.body(patch)?;
                let keys = Keys::new(&self.shared.settings.prefix, topic);
                let mut remade = false;
                loop {
                    match self.shared.send(topic, &keys, None, &body).await? {
                        Published::Done { version, .. } => return Ok(version),
                        Published::Unknown if !remade && self.shared.remake(topic).await? => {
                            remade = true;
                        }
                        Published::Unknown => {
                            return Err(Error::UnknownTopic {
                                topic: topic.to_owned(),
                            });
                        }
                        Published::Stale { .. } => unreachable!("no version was expected"),
                    }
                }
            }
            patch => {
                self.change(topic, |current| {
                    let mut next = current.clone();
                    next.apply(&patch)?;
                    Ok((next != *current).then(|| patch.clone()))
                })
                .await
            }
        }
    }

    /// Changes `topic` with a closure and publishes the difference, made
    /// against the latest state with a compare-and-set: should another
    /// process change the topic first, `change` runs again on the newer
    /// state (so it may run more than once; keep it free of side effects).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::Backplane`], [`Error::TooDeep`],
    /// [`Error::TooLarge`], [`Error::Contended`].
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # use serde_json::json;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// // From any number of processes at once: no increment is lost.
    /// hub.update("counter", |n| *n = json!(n.as_u64().unwrap_or(0) + 1)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update(&self, topic: &str, change: impl FnMut(&mut Value)) -> Result<u64, Error> {
        self.update_at(topic, "", change).await
    }

    /// Changes the value at `pointer` (a JSON Pointer, `""` for the whole
    /// value) in `topic` with a closure and publishes the difference, as
    /// [`Hub::update_at`] does: only that part is copied and compared. Made
    /// against the latest state with a compare-and-set, as
    /// [`RedisHub::update`] is, so `change` may run more than once.
    ///
    /// # Errors
    ///
    /// As [`RedisHub::update`], and [`Error::Apply`] (an invalid path) when
    /// `pointer` leads to nothing.
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # use serde_json::json;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// hub.update_at("quotes", "/AAPL", |quote| quote["halted"] = json!(true)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_at(
        &self,
        topic: &str,
        pointer: &str,
        mut change: impl FnMut(&mut Value),
    ) -> Result<u64, Error> {
        self.change(topic, |current| {
            crate::patch::at::change_at(current, pointer, &mut change)
        })
        .await
    }

    /// [`RedisHub::update`], typed: reads the topic's value as a `T`,
    /// changes it, and publishes the difference.
    ///
    /// # Errors
    ///
    /// As [`RedisHub::update`], and [`Error::Decode`] when the value does
    /// not decode into `T`, [`Error::Encode`].
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job { done: u32, total: u32 }
    ///
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// hub.update_as("jobs/42", |job: &mut Job| job.done += 10).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_as<T>(
        &self,
        topic: &str,
        mut change: impl FnMut(&mut T),
    ) -> Result<u64, Error>
    where
        T: Serialize + DeserializeOwned,
    {
        self.change(topic, |current| {
            let mut typed = T::deserialize(current).map_err(|source| Error::Decode {
                version: None,
                source,
            })?;
            change(&mut typed);
            let next = serde_json::to_value(&typed).map_err(Error::Encode)?;
            Ok(diff::diff(current, &next))
        })
        .await
    }

    /// The table on `topic`, written row by row, each change one update
    /// numbered by Redis that carries only the rows it touches (see
    /// [`Collection`](crate::hub::Collection)).
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # use serde_json::json;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// hub.collection("records").upsert("r1", json!({"status": "generated"})).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn collection(&self, topic: &str) -> crate::hub::Collection<'_, RedisHub> {
        crate::hub::Collection::new(self, topic)
    }

    /// Makes the row writes of `batch` to the table on `topic` as one
    /// update, against the latest state with a compare-and-set; makes the
    /// topic, as `{}`, first when there is none.
    async fn write_rows(&self, topic: &str, batch: &crate::hub::Batch) -> Result<u64, Error> {
        if !self.shared.follow_topic(topic).await? {
            let mut redis = self.shared.commands.clone();
            let keys = Keys::new(&self.shared.settings.prefix, topic);
            // Made here, or by another process since we looked: either way
            // it is there now.
            scripts::start(&mut redis, &self.shared.settings, &keys, b"{}", 0, None)
                .await
                .map_err(backplane)?
                .ok();
        }
        self.change(topic, |current| {
            crate::patch::rows::rows_patch(current, &batch.writes)
        })
        .await
    }

    /// Removes `topic` from Redis and from every process's replica (their
    /// subscriptions end). Returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`Error::Backplane`].
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// assert!(hub.remove("jobs/42").await?);
    /// assert_eq!(hub.snapshot("jobs/42").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn remove(&self, topic: &str) -> Result<bool, Error> {
        let keys = Keys::new(&self.shared.settings.prefix, topic);
        let mut redis = self.shared.commands.clone();
        let existed = scripts::remove(&mut redis, &self.shared.settings, &keys)
            .await
            .map_err(backplane)?;
        self.shared.unfollow(topic);
        Ok(existed)
    }

    /// The latest value and version of `topic`, or `None` if there is no
    /// such topic. The topic is followed from then on (for a while).
    ///
    /// # Errors
    ///
    /// [`Error::Backplane`].
    ///
    /// ```no_run
    /// # use live_resource::redis::RedisHub;
    /// # async fn run(hub: RedisHub) -> live_resource::Result<()> {
    /// if let Some(job) = hub.snapshot("jobs/42").await? {
    ///     println!("version {:?}: {}", job.version, job.data);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn snapshot(&self, topic: &str) -> Result<Option<Snapshot>, Error> {
        // As a server does: through the replica, which asks the backplane.
        if !self.shared.hub.follow(topic).await? {
            return Ok(None);
        }
        Ok(self.shared.hub.snapshot(topic))
    }

    /// The update's wire text without its number.
    fn body(&self, patch: Patch) -> Result<Vec<u8>, Error> {
        let body = serde_json::to_vec(&Update { seq: None, patch }).map_err(Error::Encode)?;
        // The number the script adds: at most 20 digits and `"seq":,`.
        let max = self.shared.hub.limits().max_message_bytes;
        if body.len() + 27 > max {
            return Err(Error::TooLarge {
                size: body.len() + 27,
                max,
            });
        }
        Ok(body)
    }

    /// Makes a change that depends on the state, with a compare-and-set on
    /// the version it was made from; made again on the newer state when
    /// another process changed the topic first.
    async fn change(
        &self,
        topic: &str,
        mut make: impl FnMut(&Document) -> Result<Option<Patch>, Error>,
    ) -> Result<u64, Error> {
        let shared = &self.shared;
        let keys = Keys::new(&shared.settings.prefix, topic);
        for attempt in 0..ATTEMPTS {
            if !shared.follow_topic(topic).await? {
                return Err(Error::UnknownTopic {
                    topic: topic.to_owned(),
                });
            }
            let Some(made) = shared.hub.read(topic, |value, version| {
                make(value).map(|patch| (version, patch))
            }) else {
                continue;
            };
            let (version, patch) = made?;
            let Some(patch) = patch else {
                return Ok(version);
            };
            let body = self.body(patch)?;
            match shared.send(topic, &keys, Some(version), &body).await? {
                Published::Done { version, .. } => return Ok(version),
                Published::Unknown if shared.remake(topic).await? => {}
                Published::Unknown => {
                    return Err(Error::UnknownTopic {
                        topic: topic.to_owned(),
                    });
                }
                Published::Stale { .. } => {
                    if let Some(follower) = shared.follower(topic) {
                        shared.repair_now(&follower).await?;
                    }
                    // Processes that keep racing for the same version take
                    // turns: each waits a random while, longer every time.
                    tokio::time::sleep(jitter(attempt)).await;
                }
            }
        }
        Err(Error::Contended {
            topic: topic.to_owned(),
            attempts: ATTEMPTS,
        })
    }
}

#[async_trait]
impl crate::hub::Publish for RedisHub {
    async fn set<T>(&self, topic: &str, value: T) -> Result<u64, Error>
    where
        T: Serialize + Send + Sync,
    {
        RedisHub::set(self, topic, value).await
    }

    async fn merge<T>(&self, topic: &str, patch: T) -> Result<u64, Error>
    where
        T: Serialize + Send + Sync,
    {
        RedisHub::merge(self, topic, patch).await
    }

    async fn publish(&self, topic: &str, patch: Patch) -> Result<u64, Error> {
        RedisHub::publish(self, topic, patch).await
    }

    async fn update<F>(&self, topic: &str, change: F) -> Result<u64, Error>
    where
        F: FnMut(&mut Value) + Send,
    {
        RedisHub::update(self, topic, change).await
    }

    async fn update_at<F>(&self, topic: &str, pointer: &str, change: F) -> Result<u64, Error>
    where
        F: FnMut(&mut Value) + Send,
    {
        RedisHub::update_at(self, topic, pointer, change).await
    }

    async fn remove(&self, topic: &str) -> Result<bool, Error> {
        RedisHub::remove(self, topic).await
    }

    async fn write_rows(&self, topic: &str, batch: &crate::hub::Batch) -> Result<u64, Error> {
        RedisHub::write_rows(self, topic, batch).await
    }
}

impl Shared {
    fn downgrade(this: &Arc<Self>) -> Weak<Self> {
        Arc::downgrade(this)
    }

    fn follower(&self, topic: &str) -> Option<Arc<Follower>> {
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers
            .get(topic)
            .map(|followed| Arc::clone(&followed.follower))
    }

    /// Follows `topic`: `Ok(false)` when Redis has no such topic.
    async fn follow_topic(self: &Arc<Self>, topic: &str) -> Result<bool, Error> {
        let follower = {
            let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
            let followed = followers
                .entry(topic.to_owned())
                .or_insert_with(|| Followed {
                    follower: Arc::new(Follower::new(self, topic)),
                    task: None,
                });
            Arc::clone(&followed.follower)
        };
        follower.touch(self);
        let loaded = self.load_once(&follower).await;
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(followed) = followers.get_mut(topic) else {
            // Removed meanwhile.
            return Ok(false);
        };
        if !Arc::ptr_eq(&followed.follower, &follower) {
            return Ok(self.hub.version(topic).is_some());
        }
        match loaded {
            Ok(true) => {
                if followed.task.is_none() {
                    let task = tokio::spawn(Arc::clone(self).run(Arc::clone(&follower)));
                    followed.task = Some(task.abort_handle());
                }
                Ok(true)
            }
            Ok(false) | Err(_) if followed.task.is_none() => {
                followers.remove(topic);
                drop(followers);
                self.unsubscribe_later(&follower.keys.channel);
                loaded
            }
            other => other,
        }
    }

    /// Makes `topic` again in Redis, which no longer has it (it expired, or
    /// Redis lost its data), from this node's replica, if it has one:
    /// whether it does.
    async fn remake(&self, topic: &str) -> Result<bool, Error> {
        let Some(follower) = self.follower(topic) else {
            return Ok(false);
        };
        self.repair_now(&follower).await?;
        Ok(self.hub.version(topic).is_some())
    }

    /// Sends a change, applies it to the local replica at once when the
    /// replica is current (the announcement then finds it applied), and
    /// asks for a snapshot when one is due.
    async fn send(
        self: &Arc<Self>,
        topic: &str,
        keys: &Keys,
        expected: Option<u64>,
        body: &[u8],
    ) -> Result<Published, Error> {
        let mut redis = self.commands.clone();
        let published = scripts::publish(&mut redis, &self.settings, keys, expected, body)
            .await
            .map_err(backplane)?;
        if let Published::Done {
            text, snapshot_due, ..
        } = &published
        {
            let follower = match self.follower(topic) {
                Some(follower) => Some(follower),
                // Somebody must write the snapshot: this process, which
                // then follows the topic for a while.
                None if *snapshot_due => {
                    self.follow_topic(topic).await?;
                    self.follower(topic)
                }
                None => None,
            };
            if let Some(follower) = follower {
                follower.touch(self);
                if self.hub.version(topic).is_some() {
                    self.numbered(&follower, text.clone());
                }
                if *snapshot_due {
                    follower.snapshot_due();
                }
            }
        }
        Ok(published)
    }

    /// Stops following `topic`: out of the replica, its subscriptions end.
    fn unfollow(&self, topic: &str) {
        let removed = {
            let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
            followers.remove(topic)
        };
        self.hub.forget(topic);
        if let Some(removed) = removed {
            if let Some(task) = removed.task {
                task.abort();
            }
            self.unsubscribe_later(&removed.follower.keys.channel);
        }
    }

    /// Subscribes to `channel`, after every request asked for before.
    async fn subscribe(&self, channel: &str) -> Result<(), Error> {
        let (done, confirmed) = tokio::sync::oneshot::channel();
        let request = channels::Request::Subscribe(channel.to_owned(), done);
        if self.channels.send(request).is_err() {
            return Err(Error::Backplane("the Redis hub was dropped".into()));
        }
        confirmed
            .await
            .unwrap_or_else(|_| Err(Error::Backplane("the Redis hub was dropped".into())))
    }

    /// Unsubscribes from `channel`, unless its topic is followed again by
    /// the time the request is sent.
    fn unsubscribe_later(&self, channel: &str) {
        let _ = self
            .channels
            .send(channels::Request::Unsubscribe(channel.to_owned()));
    }

    /// Redis has been unreachable for a while: every subscriber of every
    /// followed topic resyncs, and is refused until Redis is back (with
    /// `unavailable`, which its client retries with backoff, keeping its
    /// state and saying it is reconnecting).
    fn unreachable(&self) {
        if self.unreachable.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::warn!("redis: unreachable; the replica serves no one until it is back");
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        for topic in followers.keys() {
            self.hub.resync_all(topic);
        }
    }

    /// Redis is back: the replica serves again (once its topics caught up).
    fn reachable(&self) {
        if self.unreachable.swap(false, Ordering::Relaxed) {
            tracing::info!("redis: reachable again");
        }
    }

    /// Has every followed topic catch up from its log.
    fn repair_all(&self) {
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        for followed in followers.values() {
            followed.follower.repair();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let followers = self.followers.get_mut().unwrap_or_else(|p| p.into_inner());
        for followed in followers.values() {
            if let Some(task) = &followed.task {
                task.abort();
            }
        }
    }
}

#[async_trait]
impl Backplane for Shared {
    async fn follow(&self, topic: &str) -> Result<bool, Error> {
        if self.unreachable.load(Ordering::Relaxed) {
            return Err(Error::Backplane(UNREACHABLE.into()));
        }
        if let Some(follower) = self.follower(topic) {
            if self.hub.version(topic).is_some() {
                follower.touch(self);
                return Ok(true);
            }
        }
        let Some(this) = self.this() else {
            return Err(Error::Backplane("the Redis hub was dropped".into()));
        };
        this.follow_topic(topic).await
    }
}

impl Shared {
    /// A strong handle to this, for the tasks `follow` may start.
    fn this(&self) -> Option<Arc<Self>> {
        self.me.upgrade()
    }
}

/// Drops topics no client followed for `idle`, every `idle / 2`.
async fn sweep(shared: Weak<Shared>, idle: Duration) {
    let period = (idle / 2).max(Duration::from_millis(100));
    let idle = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = shared.millis();
        let mut stale = Vec::new();
        {
            let followers = shared.followers.lock().unwrap_or_else(|p| p.into_inner());
            for (topic, followed) in followers.iter() {
                if shared.hub.subscribers(topic) > 0 {
                    followed.follower.touch(&shared);
                } else if followed.task.is_some()
                    && now.saturating_sub(followed.follower.idle_since()) > idle
                {
                    stale.push(topic.clone());
                }
            }
        }
        for topic in stale {
            tracing::debug!(
                topic,
                "redis: no client follows the topic; dropped from the replica"
            );
            shared.unfollow(&topic);
        }
    }
}

/// A random wait before the `attempt`th retry of a change: up to
/// `attempt × 0.5` ms, at most 20 ms.
fn jitter(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let bound = (u64::from(attempt) * 500).clamp(100, 20_000);
    Duration::from_micros(RandomState::new().hash_one(attempt) % bound)
}

impl fmt::Debug for RedisHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisHub")
            .field("settings", &self.shared.settings)
            .field("hub", &self.shared.hub)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
