//! Keeping one topic of the local replica current: loaded from Redis when a
//! client first asks for it, fed by announcements, repaired from the log
//! when an announcement is missing, loaded again when the log no longer
//! reaches back, and made a new history when Redis's went back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

use super::Shared;
use super::keys::Keys;
use super::scripts::{self, CaughtUp};
use crate::Error;
use crate::hub::topic::Numbered;

/// How many updates one catch-up reads at a time.
const CATCH_UP_BATCH: usize = 512;

/// How many times a reload races a change to the topic before it gives up
/// until the next wake-up.
const RELOAD_ATTEMPTS: u32 = 4;

/// One followed topic.
#[derive(Debug)]
pub(super) struct Follower {
    pub(super) topic: String,
    pub(super) keys: Keys,
    /// Serializes loading and repairing the topic.
    lock: tokio::sync::Mutex<()>,
    /// Wakes the topic's task.
    wake: Notify,
    /// What the task is woken for, besides catching up.
    reload: AtomicBool,
    diverged: AtomicBool,
    snapshot_due: AtomicBool,
    /// When a client or a change last used the topic, in milliseconds since
    /// the hub started.
    active: AtomicU64,
}

impl Follower {
    pub(super) fn new(shared: &Shared, topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            keys: Keys::new(&shared.settings.prefix, topic),
            lock: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            reload: AtomicBool::new(false),
            diverged: AtomicBool::new(false),
            snapshot_due: AtomicBool::new(false),
            active: AtomicU64::new(shared.millis()),
        }
    }

    pub(super) fn touch(&self, shared: &Shared) {
        self.active.store(shared.millis(), Ordering::Relaxed);
    }

    pub(super) fn idle_since(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Asks the task to catch the topic up.
    pub(super) fn repair(&self) {
        self.wake.notify_one();
    }

    pub(super) fn snapshot_due(&self) {
        self.snapshot_due.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

impl Shared {
    /// Loads `follower`'s topic unless it is here: `Ok(false)` when Redis
    /// has no such topic.
    pub(super) async fn load_once(&self, follower: &Follower) -> Result<bool, Error> {
        let _guard = follower.lock.lock().await;
        if self.hub.version(&follower.topic).is_some() {
            return Ok(true);
        }
        // Loaded first, so that a name no topic has (a client's typo, or an
        // attacker's stream of them) costs one read and no subscription.
        if !self.reload(follower).await? {
            return Ok(false);
        }
        // Then subscribed, and what changed in between read from the log:
        // a change is either in what loads, in the log after it, or
        // announced after the subscription.
        let subscribed = match self.subscribe(&follower.keys.channel).await {
            Ok(()) => self.catch_up(follower).await,
            Err(error) => Err(error),
        };
        if let Err(error) = subscribed {
            // Not kept current: not kept.
            self.hub.forget(&follower.topic);
            return Err(error);
        }
        Ok(true)
    }

    /// What the topic's task does: waits to be woken, then repairs; a
    /// repair that fails (Redis unreachable) is tried again, with backoff,
    /// until it succeeds.
    pub(super) async fn run(self: Arc<Self>, follower: Arc<Follower>) {
        let mut failures = 0u32;
        loop {
            if failures == 0 {
                follower.wake.notified().await;
            } else {
                let delay = Duration::from_millis(25 << failures.min(5));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = follower.wake.notified() => {}
                }
            }
            let _guard = follower.lock.lock().await;
            match self.repair(&follower).await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(
                        topic = follower.topic,
                        error = %crate::error::Chain(&error),
                        failures,
                        "redis: could not repair the topic; trying again"
                    );
                }
            }
        }
    }

    /// Repairs `follower`'s topic now, for a change that lost its race to a
    /// version this node has not seen yet.
    pub(super) async fn repair_now(&self, follower: &Follower) -> Result<(), Error> {
        let _guard = follower.lock.lock().await;
        self.repair(follower).await
    }

    /// Does what the task was woken for. A flag that a failed repair took
    /// is set again, for the next try.
    async fn repair(&self, follower: &Follower) -> Result<(), Error> {
        if follower.diverged.swap(false, Ordering::Relaxed) {
            let seen = self.hub.version(&follower.topic).unwrap_or(0);
            if let Err(error) = self.rebase(follower, seen).await {
                follower.diverged.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        if follower.reload.swap(false, Ordering::Relaxed) {
            if let Err(error) = self.reload(follower).await {
                follower.reload.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        self.catch_up(follower).await?;
        if follower.snapshot_due.swap(false, Ordering::Relaxed) {
            if let Err(error) = self.store_snapshot(follower).await {
                follower.snapshot_due.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Applies an announcement of `follower`'s topic as it arrives.
    pub(super) fn announced(&self, follower: &Follower, message: Bytes) {
        match message.first() {
            Some(b'u') => self.numbered(follower, message.slice(1..)),
            Some(b'r') => {
                let version = std::str::from_utf8(&message[1..])
                    .ok()
                    .and_then(|text| text.parse::<u64>().ok());
                if version.is_none() || self.hub.version(&follower.topic) != version {
                    follower.reload.store(true, Ordering::Relaxed);
                    follower.repair();
                }
            }
            Some(b'x') => self.unfollow(&follower.topic),
            _ => tracing::warn!(topic = follower.topic, "redis: unknown announcement"),
        }
    }

    /// Applies `update`, numbered by Redis (announced, or just published by
    /// this node), or has the task repair the topic.
    pub(super) fn numbered(&self, follower: &Follower, update: Bytes) {
        match self.hub.apply_numbered(&follower.topic, update) {
            Ok(Numbered::Applied | Numbered::Duplicate | Numbered::Unknown) => {}
            Ok(Numbered::Gap { .. }) => follower.repair(),
            Ok(Numbered::Diverged) => {
                follower.diverged.store(true, Ordering::Relaxed);
                follower.repair();
            }
            // Not loaded yet (what loads covers it), or not applicable
            // here: the log says what to do.
            Err(_) => follower.repair(),
        }
    }

    /// Reads the log past the local version and applies it.
    async fn catch_up(&self, follower: &Follower) -> Result<(), Error> {
        loop {
            let Some(version) = self.hub.version(&follower.topic) else {
                return Ok(());
            };
            let mut redis = self.commands.clone();
            let caught = scripts::catch_up(&mut redis, &follower.keys, version, CATCH_UP_BATCH)
                .await
                .map_err(backplane)?;
            let (current, updates) = match caught {
                CaughtUp::Removed => {
                    self.unfollow(&follower.topic);
                    return Ok(());
                }
                CaughtUp::Lost => return self.reseed(follower, version).await,
                CaughtUp::At { version, updates } => (version, updates),
            };
            if current < version {
                // Redis's history went back (a failover lost changes it had
                // acknowledged): versions this node served would mean two
                // states. Start a new history above them.
                return self.rebase(follower, version).await;
            }
            if updates.is_empty() {
                if current > version {
                    // The log no longer reaches back to the local version.
                    self.reload(follower).await?;
                }
                return Ok(());
            }
            for update in updates {
                match self.hub.apply_numbered(&follower.topic, update)? {
                    Numbered::Applied | Numbered::Duplicate | Numbered::Unknown => {}
                    Numbered::Diverged => return self.rebase(follower, version).await,
                    Numbered::Gap { .. } => {
                        self.reload(follower).await?;
                        return Ok(());
                    }
                }
            }
            if self.hub.version(&follower.topic) >= Some(current) {
                return Ok(());
            }
        }
    }

    /// Loads the topic from Redis into the local hub, as a new history (its
    /// subscribers resync). `Ok(false)` when Redis has no such topic.
    async fn reload(&self, follower: &Follower) -> Result<bool, Error> {
        Ok(self.load(follower).await?.is_some())
    }

    /// [`Shared::reload`], saying at which version the topic's history
    /// started: `Ok(None)` when Redis has no such topic.
    async fn load(&self, follower: &Follower) -> Result<Option<u64>, Error> {
        let mut redis = self.commands.clone();
        let Some(loaded) = scripts::load(&mut redis, &follower.keys)
            .await
            .map_err(backplane)?
        else {
            return Ok(None);
        };
        let value = self.hub_limits().parse_state(&loaded.snapshot)?;
        self.hub
            .install(&follower.topic, loaded.snapshot_version, value)?;
        for update in loaded.updates {
            self.hub.apply_numbered(&follower.topic, update)?;
        }
        Ok(Some(loaded.first_version))
    }

    /// Starts the topic's history again above `seen`, from Redis's state.
    async fn rebase(&self, follower: &Follower, seen: u64) -> Result<(), Error> {
        for _ in 0..RELOAD_ATTEMPTS {
            let Some(first) = self.load(follower).await? else {
                self.unfollow(&follower.topic);
                return Ok(());
            };
            if first > seen {
                // Another node started a history above every version this
                // one served: nothing to do but follow it.
                return Ok(());
            }
            let Some(snapshot) = self.hub.snapshot_text(&follower.topic) else {
                return Ok(());
            };
            let version = snapshot.version.unwrap_or_default();
            let mut redis = self.commands.clone();
            let rebased = scripts::start(
                &mut redis,
                &self.settings,
                &follower.keys,
                &snapshot.data,
                seen.saturating_add(1),
                Some(version),
            )
            .await
            .map_err(backplane)?;
            if let Ok(version) = rebased {
                tracing::warn!(
                    topic = follower.topic,
                    seen,
                    version,
                    "redis: the topic's history went back; it starts again above every version seen"
                );
                let value = self.hub_limits().parse_state(&snapshot.data)?;
                self.hub.install(&follower.topic, version, value)?;
                return Ok(());
            }
        }
        Err(Error::Contended {
            topic: follower.topic.clone(),
            attempts: RELOAD_ATTEMPTS,
        })
    }

    /// Makes the topic again in Redis, which lost it, from the local state,
    /// above every version this node holds.
    async fn reseed(&self, follower: &Follower, version: u64) -> Result<(), Error> {
        let Some(snapshot) = self.hub.snapshot_text(&follower.topic) else {
            return Ok(());
        };
        let mut redis = self.commands.clone();
        let created = scripts::start(
            &mut redis,
            &self.settings,
            &follower.keys,
            &snapshot.data,
            version.saturating_add(1),
            None,
        )
        .await
        .map_err(backplane)?;
        match created {
            Ok(version) => {
                tracing::warn!(
                    topic = follower.topic,
                    version,
                    "redis: the topic was lost; made again from this node's state"
                );
                let value = self.hub_limits().parse_state(&snapshot.data)?;
                self.hub.install(&follower.topic, version, value)
            }
            // Another node made it first.
            Err(_) => self.reload(follower).await.map(drop),
        }
    }

    /// Stores the local state as the topic's snapshot.
    async fn store_snapshot(&self, follower: &Follower) -> Result<(), Error> {
        let Some((snapshot, update)) = self.hub.latest(&follower.topic) else {
            return Ok(());
        };
        let Some(update) = update else {
            // Loaded from a snapshot at this very version: nothing newer.
            return Ok(());
        };
        let mut redis = self.commands.clone();
        let stored = scripts::store_snapshot(
            &mut redis,
            &self.settings,
            &follower.keys,
            snapshot.version.unwrap_or_default(),
            &update,
            &snapshot.data,
        )
        .await
        .map_err(backplane)?;
        if !stored {
            follower.reload.store(true, Ordering::Relaxed);
            follower.repair();
        }
        Ok(())
    }

    fn hub_limits(&self) -> &crate::Limits {
        self.hub.limits()
    }

    pub(super) fn millis(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }
}

/// A Redis error as the crate's.
pub(super) fn backplane(error: redis::RedisError) -> Error {
    Error::Backplane(Box::new(error))
}
