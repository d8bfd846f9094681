//! A hub as the local replica of a backplane's topics (a `RedisHub`'s, for
//! one): topics appear when a client first asks for them, change only by
//! updates the backplane numbered, and start over when its history does.
//!
//! The only backplane is Redis's (feature `redis`); without it, `follow` is
//! all that servers use of this.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use super::Hub;
use super::topic::{Numbered, Topic};
use crate::limits::StateSize;
use crate::{Error, Snapshot};

/// Where a replica hub's topics come from.
#[async_trait]
pub(crate) trait Backplane: Send + Sync + fmt::Debug {
    /// Brings `topic` into the local hub if the backplane has it, and keeps
    /// it current from then on. `Ok(false)`: there is no such topic.
    async fn follow(&self, topic: &str) -> Result<bool, Error>;
}

impl Hub {
    /// Whether this hub is a backplane's local replica.
    pub(crate) fn is_replica(&self) -> bool {
        self.inner.config.backplane.is_some()
    }

    /// Refuses a change through the hub itself when it is a replica: a change
    /// made here would be this process's alone, under a number that another
    /// process gives to a different change.
    pub(super) fn writable(&self, topic: &str) -> Result<(), Error> {
        if self.is_replica() {
            return Err(Error::ReadOnly {
                topic: topic.to_owned(),
            });
        }
        Ok(())
    }

    /// Makes sure `topic` is here if it exists: at once for a hub of its own
    /// (`Ok(true)` when it has the topic), through the backplane for a
    /// replica. Servers call it before they look a topic up.
    ///
    /// # Errors
    ///
    /// [`Error::Backplane`] when the backplane cannot be reached (or was
    /// dropped): a replica cannot tell whether what it holds is current.
    pub(crate) async fn follow(&self, topic: &str) -> Result<bool, Error> {
        let Some(backplane) = &self.inner.config.backplane else {
            return Ok(self.topic(topic).is_ok());
        };
        // Asked even for a topic that is here: the backplane may know that
        // what is here is no longer current.
        let Some(backplane) = backplane.upgrade() else {
            return Err(Error::Backplane("the backplane was dropped".into()));
        };
        backplane.follow(topic).await
    }

    /// Makes `value` at `version` the state of `topic`, as a new history:
    /// created if it is not here, replaced if it is (its subscribers resync,
    /// and none resumes across the seam).
    ///
    /// # Errors
    ///
    /// [`Error::StateTooLarge`] or [`Error::TooDeep`] past the hub's limits;
    /// the topic is then unchanged.
    pub(crate) fn install(&self, topic: &str, version: u64, value: Value) -> Result<(), Error> {
        let limits = &self.inner.config.limits;
        if crate::limits::value_depth(&value) > limits.max_depth {
            return Err(Error::TooDeep {
                max: limits.max_depth,
            });
        }
        let size = StateSize::measure(&value, limits)?;
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        match topics.get(topic) {
            Some(existing) => existing.reset(version, (value, size)),
            None => {
                let config = &self.inner.config;
                let created =
                    Topic::new(topic, (value, size), version, config.replay, config.queue);
                topics.insert(topic.to_owned(), Arc::new(created));
            }
        }
        Ok(())
    }

    /// Applies to `topic` an update the backplane numbered, given as its wire
    /// text (`{"seq":N,...}`): delivered as those very bytes when it is the
    /// next version, else reported as a duplicate, a gap or a divergence.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`] when the topic is not here; the reader's and
    /// the limits' errors for an update that is not one, or that breaks a
    /// limit; [`Error::Apply`] for a JSON Patch that does not apply. The
    /// topic is then unchanged.
    pub(crate) fn apply_numbered(&self, topic: &str, text: Bytes) -> Result<Numbered, Error> {
        let limits = &self.inner.config.limits;
        // A merge patch stays in its text: the topic's `Document` merges it
        // from there.
        let update = limits.parse_update(&text)?;
        self.topic(topic)?
            .apply_numbered(update, text, limits, &self.inner.counters)
    }

    /// The hub's bounds on values and updates.
    pub(crate) fn limits(&self) -> &crate::Limits {
        &self.inner.config.limits
    }

    /// The current state of `topic` as JSON text, with the update that made
    /// its version if the ring still has it, read together.
    pub(crate) fn latest(&self, topic: &str) -> Option<(Snapshot<Bytes>, Option<Bytes>)> {
        self.topic(topic).ok().map(|topic| topic.latest())
    }

    /// Makes every live subscriber of `topic` resync, the state unchanged:
    /// they ask again, and learn whether it is still served.
    pub(crate) fn resync_all(&self, topic: &str) {
        if let Ok(topic) = self.topic(topic) {
            topic.resync_all();
        }
    }

    /// Drops `topic` from this process only (a replica that no longer follows
    /// it). Its subscriptions end.
    pub(crate) fn forget(&self, topic: &str) -> bool {
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        topics.remove(topic).is_some()
    }
}
