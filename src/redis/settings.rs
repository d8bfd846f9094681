//! A Redis hub's settings, as its builder sets them.

use std::time::Duration;

/// What a [`RedisHub`](super::RedisHub) was built with.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    /// The first part of every key and channel.
    pub(super) prefix: String,
    /// Updates each topic's stream keeps for clients that resume (at least 1).
    pub(super) retain: usize,
    /// The log's bytes since the snapshot that make a new snapshot due, at
    /// the least (else: the snapshot's own size).
    pub(super) snapshot_floor: usize,
    /// How long a topic no one changes stays in Redis; `None`: for ever.
    pub(super) expiry: Option<Duration>,
    /// How long a node keeps a topic no client of its follows.
    pub(super) unfollow_after: Duration,
    /// The most a command may take before it fails.
    pub(super) timeout: Duration,
    /// `PUBLISH` on one Redis, `SPUBLISH` on a cluster.
    pub(super) announce: &'static str,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefix: "lr".to_owned(),
            retain: 1024,
            snapshot_floor: 64 * 1024,
            expiry: None,
            unfollow_after: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            announce: "PUBLISH",
        }
    }
}

impl Settings {
    /// The command that announces a change.
    pub(super) fn announce_command(&self) -> &'static str {
        self.announce
    }

    /// The expiry as the scripts take it: milliseconds, `0` for none.
    pub(super) fn expiry_millis(&self) -> u64 {
        self.expiry.map_or(0, |expiry| {
            u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }
}
