//! Reconnect delays: exponential, jittered, and reset only after the
//! connection has been healthy for a while.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How a resilient resource spaces its reconnects and resyncs.
///
/// The first retry after a healthy period waits a random delay up to
/// [`initial`](Backoff::initial), so that many clients of a restarted server do
/// not all come back in the same instant. Each further retry doubles the base
/// delay, up to [`max`](Backoff::max), and waits a random 50 % to 150 % of it
/// (never more than `max`). Only a connection that has stayed live for
/// [`healthy_after`](Backoff::healthy_after) resets the sequence, so a server
/// that accepts and then drops every connection cannot cause a reconnect storm.
///
/// | setting | default |
/// | --- | --- |
/// | [`initial`](Backoff::initial) | 500 ms |
/// | [`max`](Backoff::max) | 30 s |
/// | [`healthy_after`](Backoff::healthy_after) | 60 s |
/// | [`max_attempts`](Backoff::max_attempts) | `None`: retries for ever |
///
/// With the defaults, the retries of one outage wait up to 0.5 s, then
/// 0.25–0.75 s, 0.5–1.5 s, 1–3 s, 2–6 s, ... and from the eighth on 15–30 s.
/// The attempt and its delay are in
/// [`Status::Reconnecting`](crate::Status::Reconnecting).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use live_resource::Backoff;
///
/// let backoff = Backoff::default()
///     .initial(Duration::from_millis(200))
///     .max(Duration::from_secs(10))
///     .healthy_after(Duration::from_secs(30))
///     .max_attempts(Some(20));
/// assert_ne!(backoff, Backoff::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    healthy_after: Duration,
    max_attempts: Option<u32>,
}

impl Default for Backoff {
    /// 500 ms initial, 30 s max, reset after 60 s healthy, unlimited attempts.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// Sets the base delay of the first retries.
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// Sets the longest delay between two retries.
    pub fn max(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// Sets how long a connection must stay live before the delays start over.
    pub fn healthy_after(mut self, period: Duration) -> Self {
        self.healthy_after = period;
        self
    }

    /// Sets how many retries in a row are made before the resource gives up
    /// (`None`, the default, retries for ever).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The least and the most the delay before retry number `attempt`
    /// (counted from 0 after a healthy period) can be.
    fn delay_bounds(&self, attempt: u32) -> (Duration, Duration) {
        if attempt == 0 {
            return (Duration::ZERO, self.initial.min(self.max));
        }
        let base = self
            .initial
            .saturating_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX))
            .min(self.max);
        (base / 2, (base + base / 2).min(self.max))
    }

    pub(crate) fn healthy_period(&self) -> Duration {
        self.healthy_after
    }

    pub(crate) fn gives_up_after(&self, attempt: u32) -> bool {
        self.max_attempts.is_some_and(|max| attempt >= max)
    }

    /// A random delay within `delay_bounds`.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let (low, high) = self.delay_bounds(attempt);
        let span = high.saturating_sub(low).as_nanos() as u64;
        if span == 0 {
            return low;
        }
        low + Duration::from_nanos(random() % (span + 1))
    }
}

/// A random number from the standard library's randomly keyed hasher: enough
/// to spread reconnects, with no crate needed.
fn random() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// The retry count of one resource, with the healthy-period reset.
///
/// Two counts: the retries of this outage (since the resource was last
/// live), which the status shows, and the retries since the connection was
/// last healthy for the policy's period, which set the delay and the giving
/// up. A server that accepts and then drops every connection starts an
/// outage each time, but its delays keep growing.
#[derive(Debug)]
pub(crate) struct Retries {
    policy: Backoff,
    attempt: u32,
    outage: u32,
    live_since: Option<Instant>,
}

impl Retries {
    pub(crate) fn new(policy: Backoff) -> Self {
        Self {
            policy,
            attempt: 0,
            outage: 0,
            live_since: None,
        }
    }

    /// The resource is live from now.
    pub(crate) fn live(&mut self) {
        self.live_since.get_or_insert_with(Instant::now);
    }

    /// How many retries were made since the connection was last healthy.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next retry: its number in this outage and its delay, or `None`
    /// when the policy gives up.
    pub(crate) fn next(&mut self) -> Option<(u32, Duration)> {
        if let Some(since) = self.live_since.take() {
            self.outage = 0;
            if since.elapsed() >= self.policy.healthy_period() {
                self.attempt = 0;
            }
        }
        if self.policy.gives_up_after(self.attempt) {
            return None;
        }
        let attempt = self.attempt;
        self.attempt = self.attempt.saturating_add(1);
        self.outage = self.outage.saturating_add(1);
        Some((self.outage, self.policy.delay(attempt)))
    }
}
