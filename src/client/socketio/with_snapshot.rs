//! [`WithSnapshot`]: one source from an update source and a snapshot source.

use std::time::Duration;

use async_trait::async_trait;

use crate::source::{EventStream, Fetched, SnapshotSource, UpdateSource};
use crate::{BoxError, Snapshot};

/// A whole [`Source`](crate::source::Source) made of an [`UpdateSource`] and
/// a [`SnapshotSource`] from elsewhere: typically a Socket.IO gateway's
/// events and its REST endpoint.
///
/// The snapshot always comes from the snapshot source, never from the
/// update stream's first event: [`includes_snapshot`](UpdateSource::includes_snapshot)
/// is `false`. The heartbeat is the update source's.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use live_resource::client::socketio::WithSnapshot;
/// use live_resource::source::{Event, EventStream, SnapshotSource, UpdateSource};
/// use live_resource::{BoxError, LiveResource, Snapshot, Update};
/// use serde_json::{Value, json};
///
/// /// Two partial updates with no `seq`, as a legacy gateway pushes them.
/// struct Partials;
///
/// #[async_trait::async_trait]
/// impl UpdateSource for Partials {
///     async fn updates(&self, _since: Option<u64>) -> Result<EventStream, BoxError> {
///         let events = [json!({"online": 12}), json!({"rooms": {"b": 1}})]
///             .map(|patch| Ok(Event::Update(Update::unsequenced(patch))));
///         Ok(futures::stream::iter(events).chain(futures::stream::pending()).boxed())
///     }
/// }
///
/// /// The REST endpoint's answer.
/// struct Rest;
///
/// #[async_trait::async_trait]
/// impl SnapshotSource for Rest {
///     async fn snapshot(&self) -> Result<Snapshot, BoxError> {
///         Ok(Snapshot::unversioned(json!({"online": 10, "rooms": {"a": 3}})))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut stats = LiveResource::<Value>::connect(WithSnapshot::new(Partials, Rest));
/// let state = stats.next().await.unwrap().unwrap();
/// assert_eq!(state, json!({"online": 12, "rooms": {"a": 3, "b": 1}}));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct WithSnapshot<U, S> {
    updates: U,
    snapshot: S,
}

impl<U, S> WithSnapshot<U, S> {
    /// Updates from `updates`, snapshots from `snapshot`.
    pub fn new(updates: U, snapshot: S) -> Self {
        Self { updates, snapshot }
    }

    /// The update source.
    pub fn updates(&self) -> &U {
        &self.updates
    }

    /// The snapshot source.
    pub fn snapshot(&self) -> &S {
        &self.snapshot
    }
}

#[async_trait]
impl<U: Send + Sync, S: SnapshotSource> SnapshotSource for WithSnapshot<U, S> {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        self.snapshot.snapshot().await
    }

    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        self.snapshot.snapshot_paged().await
    }
}

#[async_trait]
impl<U: UpdateSource, S: Send + Sync> UpdateSource for WithSnapshot<U, S> {
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        self.updates.updates(since).await
    }

    async fn updates_paged(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        self.updates.updates_paged(since).await
    }

    fn includes_snapshot(&self) -> bool {
        false
    }

    fn heartbeat(&self) -> Option<Duration> {
        self.updates.heartbeat()
    }
}
