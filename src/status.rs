//! The connection state of a live resource, for a status indicator.

use std::time::Duration;

/// Where a live resource stands with its source: the typed form of the
/// `isConnected$` observable a hand-written client keeps.
///
/// Read it with [`LiveResource::status`](crate::LiveResource::status), a
/// [`tokio::sync::watch::Receiver`] that can be awaited for changes; a
/// watcher hears of a change only, never the same status twice in a row.
///
/// `Live` means the state is current: a snapshot was just taken, or the
/// source has answered a resume (with an update or a heartbeat) without
/// asking for a new snapshot. A connection that is open again but not yet
/// answered stays `Reconnecting`, so a server that restarted with a new
/// history goes `Reconnecting` → `Resyncing` → `Live`, never `Live` over the
/// old history's state.
///
/// ```text
///                 first snapshot
///   Connecting ────────────────────────────────► Live ◄─────────────┐
///       │                                   ▲    │  │               │
///       │ the first attempt fails           │    │  │ a gap, a      │ a new snapshot,
///       ▼                                   │    │  │ patch that    │ or the replay
///   Reconnecting { attempt, delay } ────────┘    │  │ fails, or     │ after a gap
///       ▲  │   the source answers the resume     │  │ "cannot       │
///       │  │                                     │  ▼ replay"       │
///       │  └── "cannot replay" ─────────────► Resyncing ────────────┘
///       │                                        │
///       └──── the connection is lost ◄───────────┘ (from Live too)
///
///   any ──► Failed   a permanent error, or the backoff's attempts ran out
///   any ──► Closed   the source ended (a resource made by `LiveResource::new`)
/// ```
///
/// `Connecting` is only the start: a retry is `Reconnecting` or `Resyncing`
/// until the state is current again. `Reconnecting`'s `attempt` counts the
/// retries of this outage from 1; its `delay` grows with every retry until
/// the connection has been healthy for [`Backoff::healthy_after`](crate::Backoff::healthy_after).
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
    /// Opening the update stream and fetching the first snapshot, at the
    /// start only.
    Connecting,
    /// Following the update stream; the state is current.
    Live,
    /// Recovering from a gap or a lost replay: resubscribing from the current
    /// version or fetching a new snapshot. The last state is still readable.
    Resyncing,
    /// The connection was lost; retry number `attempt` starts after `delay`,
    /// and the status stays until the source answers it.
    Reconnecting {
        /// The retry number in this outage, from 1.
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
