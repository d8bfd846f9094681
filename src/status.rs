//! The connection state of a live resource, for a status indicator.

use std::time::Duration;

/// Where a live resource stands with its source: the typed form of the
/// `isConnected$` observable a hand-written client keeps.
///
/// Read it with [`LiveResource::status`](crate::LiveResource::status), a
/// [`tokio::sync::watch::Receiver`] that can be awaited for changes.
///
/// # Examples
///
/// ```
/// use live_resource::Status;
///
/// assert!(Status::Live.is_live());
/// assert!(!Status::Reconnecting { attempt: 2, delay: std::time::Duration::from_secs(1) }.is_live());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Opening the update stream and fetching the first snapshot.
    Connecting,
    /// Following the update stream; the state is current.
    Live,
    /// Recovering from a gap or a lost replay: resubscribing from the current
    /// version or fetching a new snapshot. The last state is still readable.
    Resyncing,
    /// The connection was lost; retry number `attempt` starts after `delay`.
    Reconnecting {
        /// The retry number, from 1, since the connection was last healthy.
        attempt: u32,
        /// How long this retry waits before it starts.
        delay: Duration,
    },
    /// The resource gave up: a permanent error, or the retry limit.
    Failed,
    /// The source ended and no more changes can come.
    Closed,
}

impl Status {
    /// Whether the state is current.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Live)
    }
}
