//! [`SharedCollection`]: one table followed once, its rows and events shared
//! by any number of consumers.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::{Event, LiveCollection, RowChange, RowKey};
use crate::{Error, Patch, Status};

/// How many events one poll of the task hands out before it lets the
/// runtime run something else.
const EVENTS_PER_POLL: usize = 256;

/// Each event, numbered, as the task sends it to every subscriber.
type Sent<K, T> = Arc<Event<K, T>>;

/// What the task and the subscribers share, behind one lock: an event is
/// applied to the table and sent under it, so that a subscriber that looks
/// at the table under it knows which events the rows already include.
struct State<K, T> {
    collection: LiveCollection<K, T>,
    /// A receiver never read, to make new ones from: each starts after the
    /// last event sent.
    template: broadcast::Receiver<Sent<K, T>>,
    /// Whether the first snapshot has come.
    loaded: bool,
    last_error: Option<Arc<Error>>,
}

/// A table shared by many consumers: one upstream connection, one copy of
/// the rows, decoded once, any number of [`CollectionSubscriber`]s. Made by
/// [`LiveCollection::shared`].
///
/// Cloning the handle is cheap; the background task that follows the source
/// runs until the last handle and the last subscriber are dropped.
///
/// Each subscriber's first item is an [`Event::Reset`] with every current
/// row added (once the table has its first snapshot), then the table's
/// events in order, each a clone of the one event (rows shared, not
/// copied). A subscriber that falls more than the buffer behind is not
/// skipped ahead silently: its next item is an [`Event::Reset`] that takes
/// it from the rows it had to the current ones exactly (rows added,
/// [`RowChange::Modified`] with the row's JSON as [`Patch::Replace`], rows
/// removed), and it follows from there. To do so a subscriber keeps its own
/// map of the rows it has seen (shared `Arc`s, not copies).
///
/// # Recovery
///
/// The task recovers as [`LiveCollection`] does. Its errors (a row that does
/// not decode, a transport error) are not items of the subscribers' streams:
/// they show in [`status`](SharedCollection::status) and
/// [`last_error`](SharedCollection::last_error).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use live_resource::Hub;
/// use live_resource::collection::{Event, LiveCollection, View};
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Debug, Deserialize)]
/// struct Record { value: f64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// let records = hub.collection("records");
/// records.insert("r1", json!({"value": 1.0})).await?;
/// let shared = LiveCollection::<String, Record>::connect(hub.source("records")).shared();
///
/// let mut early = shared.subscribe();
/// assert_eq!(early.next().await.unwrap().changes().len(), 1);
/// records.insert("r2", json!({"value": 2.0})).await?;
/// assert!(matches!(early.next().await.unwrap(), Event::Row { .. }));
///
/// // A late subscriber starts from the current rows.
/// let mut late = shared.subscribe();
/// let mut view = View::new().order_by_key_with(|r: &Record| r.value, |a, b| b.total_cmp(a));
/// view.apply(&late.next().await.unwrap());
/// assert_eq!(view.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(), ["r2", "r1"]);
/// assert_eq!(shared.get(&"r2".to_string()).unwrap().value, 2.0);
/// # Ok(())
/// # }
/// ```
pub struct SharedCollection<K, T> {
    inner: Arc<Inner<K, T>>,
}

struct Inner<K, T> {
    state: Arc<Mutex<State<K, T>>>,
    status: watch::Receiver<Status>,
    task: JoinHandle<()>,
}

impl<K, T> Drop for Inner<K, T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K, T> Clone for SharedCollection<K, T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, T> SharedCollection<K, T>
where
    K: RowKey,
    T: DeserializeOwned + Send + Sync + 'static,
{
    pub(super) fn spawn(collection: LiveCollection<K, T>, capacity: usize) -> Self {
        let status = collection.status();
        let (sender, template) = broadcast::channel(capacity.max(1));
        let state = Arc::new(Mutex::new(State {
            collection,
            template,
            loaded: false,
            last_error: None,
        }));
        let task = {
            let state = Arc::clone(&state);
            // The task holds the only sender: when the table ends, the
            // subscribers end after its last events.
            tokio::spawn(std::future::poll_fn(move |cx| follow(&state, &sender, cx)))
        };
        Self {
            inner: Arc::new(Inner {
                state,
                status,
                task,
            }),
        }
    }

    /// A new consumer: the current rows as a reset (once there are rows),
    /// then every event of the table.
    ///
    /// # Cancel safety
    ///
    /// `next()` is cancel safe: an event not taken is still there next time.
    pub fn subscribe(&self) -> CollectionSubscriber<K, T> {
        let mut follower = Follower {
            inner: Arc::clone(&self.inner),
            receiver: None,
            rows: HashMap::default(),
            ready: VecDeque::new(),
        };
        follower.catch_up();
        let events = futures::stream::unfold(follower, |mut follower| async move {
            let event = follower.next().await?;
            Some((event, follower))
        });
        CollectionSubscriber {
            events: Box::pin(events),
        }
    }

    /// The row `key`, if the table has it.
    pub fn get(&self, key: &K) -> Option<Arc<T>> {
        self.state().collection.get_shared(key).cloned()
    }

    /// How many rows the table has.
    pub fn len(&self) -> usize {
        self.state().collection.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks at the table in place. The task waits while `read` runs: keep
    /// it short.
    pub fn read<R>(&self, read: impl FnOnce(&LiveCollection<K, T>) -> R) -> R {
        read(&self.state().collection)
    }

    /// The version of the table.
    pub fn version(&self) -> Option<u64> {
        self.state().collection.version()
    }

    /// The connection state, as a watch that can be awaited for changes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.status.clone()
    }

    /// The last error the task met, recovered from or not.
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.state().last_error.clone()
    }

    fn state(&self) -> MutexGuard<'_, State<K, T>> {
        lock(&self.inner.state)
    }
}

fn lock<K, T>(state: &Mutex<State<K, T>>) -> MutexGuard<'_, State<K, T>> {
    // Nothing under the lock leaves the table half changed: a panic in a
    // caller's `read` leaves it as good as it was.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Drives the table, applying and sending each event under the lock.
fn follow<K, T>(
    state: &Mutex<State<K, T>>,
    sender: &broadcast::Sender<Sent<K, T>>,
    cx: &mut Context<'_>,
) -> Poll<()>
where
    K: RowKey,
    T: DeserializeOwned,
{
    for _ in 0..EVENTS_PER_POLL {
        let mut state = lock(state);
        match Pin::new(&mut state.collection).poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                state.loaded |= event.is_reset();
                // No subscriber yet is no error: a late one starts from the rows.
                let _ = sender.send(Arc::new(event));
            }
            Poll::Ready(Some(Err(error))) => state.last_error = Some(Arc::new(error)),
            Poll::Ready(None) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// A subscriber's own side: the rows it has been given, to reset it exactly.
struct Follower<K, T> {
    inner: Arc<Inner<K, T>>,
    receiver: Option<broadcast::Receiver<Sent<K, T>>>,
    rows: HashMap<K, Arc<T>, foldhash::fast::RandomState>,
    ready: VecDeque<Event<K, T>>,
}

impl<K: RowKey, T: DeserializeOwned> Follower<K, T> {
    async fn next(&mut self) -> Option<Event<K, T>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let receiver = self.receiver.as_mut().expect("caught up");
            match receiver.recv().await {
                Ok(event) => {
                    self.track(&event);
                    return Some(Event::clone(&event));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Starts following from the table as it is now: a new receiver, and a
    /// reset from the rows given so far to the rows now, when there are.
    fn catch_up(&mut self) {
        let state = lock(&self.inner.state);
        self.receiver = Some(state.template.resubscribe());
        if !state.loaded {
            return;
        }
        let table = &state.collection;
        let mut changes = Vec::new();
        let mut rows = HashMap::with_capacity_and_hasher(table.len(), Default::default());
        for (key, row) in table.iter_shared() {
            match self.rows.remove(key) {
                None => changes.push(RowChange::Added {
                    key: key.clone(),
                    row: Arc::clone(row),
                }),
                Some(was) if !Arc::ptr_eq(&was, row) => {
                    let json = table.json().and_then(|json| json.get(&key.to_key()));
                    changes.push(RowChange::Modified {
                        key: key.clone(),
                        row: Arc::clone(row),
                        patch: Patch::Replace(json.map(|json| json.to_value()).unwrap_or_default()),
                    });
                }
                Some(_) => {}
            }
            rows.insert(key.clone(), Arc::clone(row));
        }
        changes.extend(
            std::mem::take(&mut self.rows)
                .into_iter()
                .map(|(key, row)| RowChange::Removed { key, row }),
        );
        self.rows = rows;
        self.ready.push_back(Event::Reset {
            version: table.version(),
            changes,
        });
    }

    /// Keeps the rows given in step with `event`.
    fn track(&mut self, event: &Event<K, T>) {
        for change in event.changes() {
            match change {
                RowChange::Removed { key, .. } => {
                    self.rows.remove(key);
                }
                change => {
                    self.rows
                        .insert(change.key().clone(), Arc::clone(change.row()));
                }
            }
        }
    }
}

impl<K, T> fmt::Debug for SharedCollection<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCollection")
            .field("key", &std::any::type_name::<K>())
            .field("row", &std::any::type_name::<T>())
            .field("status", &*self.inner.status.borrow())
            .finish_non_exhaustive()
    }
}

/// One consumer of a [`SharedCollection`]: a stream of the table's events,
/// starting from its rows as a reset.
///
/// Ends when the table can change no more.
#[must_use = "streams do nothing unless polled"]
pub struct CollectionSubscriber<K, T> {
    events: BoxStream<'static, Event<K, T>>,
}

impl<K, T> Stream for CollectionSubscriber<K, T> {
    type Item = Event<K, T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

impl<K, T> fmt::Debug for CollectionSubscriber<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectionSubscriber")
            .field("key", &std::any::type_name::<K>())
            .field("row", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}
