//! [`LiveCollection`]: a table followed live, row by row.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use super::table::{Items, Reload, Table};
use super::{Event, RowKey, SharedCollection};
use crate::replica::Replica;
use crate::resource::Parts;
use crate::source::Source;
use crate::{Document, Error, LiveResource, Status};

/// How many changes one poll applies without an event to show for them
/// before it lets the runtime run something else.
const QUIET_CHANGES_PER_POLL: usize = 1024;

/// How many rows of a new snapshot one poll decodes (or, once all are,
/// looks at for rows that are gone): a 100,000-row snapshot is decoded in
/// two hundred polls of about a millisecond, the runtime free to run
/// other tasks between them, rather than in one long one.
const ROWS_PER_POLL: usize = 500;

/// A table followed live: rows keyed by `K`, each decoded into `T`, kept
/// current by the table's updates; a [`Stream`] of row [`Event`]s.
///
/// It follows its source as a [`LiveResource`] does (the handoff, resume,
/// resync, backoff: see [`LiveResource::connect`]) and keeps the table's
/// JSON state too; but where a resource decodes the whole state after each
/// change, a collection decodes only the rows the change touched: the
/// members of a merge patch, the rows of a JSON Patch's paths. A change to
/// one row of a 100,000-row table costs what that row costs.
///
/// The first item is an [`Event::Reset`] with every row of the snapshot added;
/// each update then gives one [`Event::Row`] per row it touched, and each new
/// snapshot (after a resync) one [`Event::Reset`] with just the rows whose JSON
/// it changed. A snapshot that comes as text (as the WebSocket, SSE and HTTP
/// clients and the in-process hub give it) is read 128 KiB a poll, then its
/// rows are decoded 500 a poll into a table of their own, the runtime free
/// to run other tasks between pages, and that table is swapped in whole once
/// it is complete: a 100,000-row snapshot (20 MB) does not stall its task
/// for the whole parse and decode, and updates that come meanwhile follow
/// the reset, in order. When an event comes, the table already
/// includes it (and every other row of its update): read it with
/// [`get`](LiveCollection::get), [`iter`](LiveCollection::iter) (in key order)
/// and [`len`](LiveCollection::len). A [`View`](super::View) keeps a filtered,
/// ordered, limited window on the rows from the same events.
///
/// # Errors
///
/// Errors are items, and the table goes on after them. A row that does not
/// decode into `T`, or whose id does not parse into `K`, yields
/// [`Error::Row`] naming it; the table keeps the row's last good value, and
/// the next change that makes the row decode brings it back. The
/// resource's own errors (transport, gap, refused message) are passed on as
/// [`LiveResource`] yields them, and it recovers the same way: after a
/// resync, the [`Event::Reset`] says what the missed updates changed.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use live_resource::Hub;
/// use live_resource::collection::{Event, LiveCollection, RowChange};
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Debug, Deserialize, PartialEq)]
/// struct Record { status: String, value: f64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// let records = hub.collection("records");
/// records.insert("r1", json!({"status": "generated", "value": 1.5})).await?;
///
/// let mut table = LiveCollection::<String, Record>::connect(hub.source("records"));
/// let first = table.next().await.unwrap()?;
/// assert!(first.is_reset() && first.changes().len() == 1);
///
/// records.patch_row("r1", json!({"status": "done"})).await?;
/// let Event::Row { change: RowChange::Modified { key, row, patch }, .. } = table.next().await.unwrap()? else {
///     panic!("a modified row")
/// };
/// assert_eq!((key.as_str(), row.status.as_str()), ("r1", "done"));
/// assert_eq!(patch, live_resource::Patch::Merge(json!({"status": "done"}).into()));
/// assert_eq!(table.get(&"r1".to_string()).unwrap().value, 1.5);
///
/// records.remove("r1").await?;
/// let removed = table.next().await.unwrap()?;
/// assert!(matches!(removed, Event::Row { change: RowChange::Removed { .. }, .. }));
/// assert!(table.is_empty());
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct LiveCollection<K, T> {
    parts: Parts,
    table: Table<K, T>,
    /// A new snapshot's rows being decoded; the driver is not polled
    /// meanwhile, so updates wait, in order, for the swap.
    reloading: Option<Reload<K, T>>,
    /// A reload done: what it left of the table and the state before,
    /// freed a page a poll.
    retired: Option<Reload<K, T>>,
    ready: Items<K, T>,
    finished: bool,
}

impl<K: RowKey, T: DeserializeOwned> LiveCollection<K, T> {
    /// A table that follows `source`, recovering as
    /// [`LiveResource::connect`] does.
    pub fn connect(source: impl Source + 'static) -> Self {
        LiveResource::<Value>::connect(source).collection()
    }

    pub(crate) fn from_parts(mut parts: Parts) -> Self {
        parts.driver.set_record();
        if let Some(replica) = parts.replica.as_mut().filter(|replica| !replica.records()) {
            // A resource already polled: its state so far comes as a reset.
            replica.record(None);
        }
        Self {
            parts,
            table: Table::default(),
            reloading: None,
            retired: None,
            ready: VecDeque::new(),
            finished: false,
        }
    }

    /// The row `key`, if the table has it.
    pub fn get(&self, key: &K) -> Option<&T> {
        self.get_shared(key).map(|row| &**row)
    }

    /// The row `key`, shared: the same [`Arc`] the events hand out.
    pub fn get_shared(&self, key: &K) -> Option<&Arc<T>> {
        let state = self.parts.replica.as_ref()?.state();
        self.table.get(key, state)
    }

    /// How many rows the table has (rows that never decoded are not counted).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// The rows in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &T)> + DoubleEndedIterator {
        self.table.iter().map(|(key, row)| (key, &**row))
    }

    /// The rows in key order, shared.
    pub fn iter_shared(
        &self,
    ) -> impl ExactSizeIterator<Item = (&K, &Arc<T>)> + DoubleEndedIterator {
        self.table.iter()
    }

    /// The version of the table, if the source numbers its states.
    pub fn version(&self) -> Option<u64> {
        self.parts.replica.as_ref().and_then(Replica::version)
    }

    /// The table's JSON state, as the source sent it (rows that do not
    /// decode too); `None` before the snapshot.
    pub fn json(&self) -> Option<&Document> {
        self.parts.replica.as_ref().map(Replica::state)
    }

    /// Runs this table in a background task and shares it: any number of
    /// consumers can [`subscribe`](SharedCollection::subscribe), each
    /// starting from the current rows; a subscriber that falls more than
    /// 1,024 events behind is reset (see [`SharedCollection`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn shared(self) -> SharedCollection<K, T>
    where
        T: Send + Sync + 'static,
    {
        self.shared_with_capacity(1024)
    }

    /// [`LiveCollection::shared`], with room for `capacity` events a
    /// subscriber has not taken yet before it is reset.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn shared_with_capacity(self, capacity: usize) -> SharedCollection<K, T>
    where
        T: Send + Sync + 'static,
    {
        SharedCollection::spawn(self, capacity)
    }

    /// The connection state, as a watch ([`LiveResource::status`]).
    pub fn status(&self) -> watch::Receiver<Status> {
        self.parts.status.clone()
    }

    /// Applies the next change, if one is ready, onto the table; or decodes
    /// the next rows of a new snapshot.
    fn absorb(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self
            .retired
            .as_mut()
            .is_some_and(|retired| retired.shed(ROWS_PER_POLL))
        {
            self.retired = None;
        }
        for _ in 0..QUIET_CHANGES_PER_POLL {
            if let Some(reload) = &mut self.reloading {
                let replica = self.parts.replica.as_ref().expect("a reload has a state");
                if !self
                    .table
                    .reload(reload, replica.state(), ROWS_PER_POLL, &mut self.ready)
                {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.retired = self.reloading.take();
                return Poll::Ready(());
            }
            // What the replica recorded and the table has not taken: the
            // last change, or, for a resource already polled when the table
            // was made, its state so far (a reset, taken at once rather
            // than with a next change that may be long in coming).
            if let Some(replica) = self.parts.replica.as_mut() {
                let changes = replica.take_changes();
                let version = replica.version();
                self.reloading =
                    self.table
                        .apply(changes, replica.state(), version, &mut self.ready);
                if self.reloading.is_some() {
                    continue;
                }
            }
            if !self.ready.is_empty() || self.finished {
                return Poll::Ready(());
            }
            let parts = &mut self.parts;
            let table = &self.table;
            match parts
                .driver
                .poll_change(cx, &parts.limits, &mut parts.replica, &|place| {
                    table.touch(place)
                }) {
                // Taken from the replica at the top of the next turn.
                Poll::Ready(Some(Ok(()))) => {}
                Poll::Ready(Some(Err(error))) => self.ready.push_back(Err(error)),
                Poll::Ready(None) => self.finished = true,
                Poll::Pending => {
                    if self.retired.is_some() {
                        // Free the rest of it soon, not at the next change.
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

// Here rather than in `resource`, which builds nothing on tables.
impl<T: DeserializeOwned> LiveResource<T> {
    /// Follows the resource's state as a table instead: rows keyed by `K`,
    /// each decoded into `R` on its own, and row events (see
    /// [`LiveCollection`]). Its bounds,
    /// backoff and other settings stay.
    ///
    /// ```
    /// use futures::{StreamExt, stream};
    /// use live_resource::{LiveResource, Snapshot, Update};
    /// use live_resource::collection::LiveCollection;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> live_resource::Result<()> {
    /// let snapshot = async { Ok::<_, std::io::Error>(Snapshot::new(1, json!({"1": "one", "2": "two"}))) };
    /// let updates = stream::iter([Ok::<_, std::io::Error>(Update::merge(2, json!({"2": null, "3": "three"})))]);
    /// let mut table: LiveCollection<u32, String> = LiveResource::<serde_json::Value>::new(snapshot, updates).collection();
    /// while let Some(event) = table.next().await {
    ///     event?;
    /// }
    /// assert_eq!(table.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(), [(1, "one"), (3, "three")]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn collection<K, R>(self) -> LiveCollection<K, R>
    where
        K: RowKey,
        R: DeserializeOwned,
    {
        LiveCollection::from_parts(self.into_parts())
    }
}

// Nothing of a collection is pinned: its rows move freely.
impl<K, T> Unpin for LiveCollection<K, T> {}

impl<K: RowKey, T: DeserializeOwned> Stream for LiveCollection<K, T> {
    type Item = Result<Event<K, T>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ready.is_empty() && !this.finished && this.absorb(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(this.ready.pop_front())
    }
}

impl<K, T> fmt::Debug for LiveCollection<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCollection")
            .field("key", &std::any::type_name::<K>())
            .field("row", &std::any::type_name::<T>())
            .field("rows", &self.table.len())
            .field(
                "version",
                &self.parts.replica.as_ref().and_then(Replica::version),
            )
            .field("status", &*self.parts.status.borrow())
            .finish_non_exhaustive()
    }
}
