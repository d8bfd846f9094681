//! One upstream, many consumers: a live resource driven by a background task,
//! its state shared through a watch.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::CHANGES_PER_POLL;
use super::driver::Driver;
use crate::replica::Replica;
use crate::{Document, Error, Limits, Status};

/// The state a shared resource publishes: read in place by every consumer.
#[derive(Debug, Default)]
struct Current {
    replica: Option<Replica>,
    last_error: Option<Arc<Error>>,
}

/// A live resource shared by many consumers: one upstream connection, one
/// JSON state, any number of [`Subscriber`]s. Made by
/// [`LiveResource::shared`](crate::LiveResource::shared).
///
/// Cloning the handle is cheap; the background task that follows the source
/// runs until the last handle and the last subscriber are dropped.
///
/// Subscribers are conflated: each gets the latest state when it polls, and
/// decodes it into `T` itself, once per state it reads. A subscriber that
/// joins late gets the current state at once. [`SharedResource::read`] looks at
/// the JSON state in place, without a clone.
///
/// # Recovery
///
/// The task recovers as [`LiveResource::connect`](crate::LiveResource::connect)
/// does. Its errors are not items of the subscribers' streams (only a state
/// that does not decode into `T` is): they show in
/// [`status`](SharedResource::status) and [`last_error`](SharedResource::last_error).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use live_resource::{Hub, LiveResource};
/// use serde_json::{Value, json};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> live_resource::Result<()> {
/// let hub = Hub::new();
/// hub.set("quotes", json!({"AAPL": 189.5}))?;
/// let quotes = LiveResource::<Value>::connect(hub.source("quotes")).shared();
///
/// let mut early = quotes.subscribe();
/// assert_eq!(early.next().await.unwrap()?, json!({"AAPL": 189.5}));
///
/// hub.merge("quotes", json!({"AAPL": 190.0}))?;
/// assert_eq!(early.next().await.unwrap()?, json!({"AAPL": 190.0}));
///
/// // A late subscriber starts from the current state.
/// let mut late = quotes.subscribe();
/// assert_eq!(late.next().await.unwrap()?, json!({"AAPL": 190.0}));
/// assert_eq!(quotes.read(|state| state.and_then(|s| s["AAPL"].as_f64())), Some(190.0));
/// # Ok(())
/// # }
/// ```
pub struct SharedResource<T = Value> {
    inner: Arc<Inner>,
    decode: PhantomData<fn() -> T>,
}

struct Inner {
    current: watch::Receiver<Current>,
    status: watch::Receiver<Status>,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T> Clone for SharedResource<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            decode: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> SharedResource<T> {
    pub(super) fn spawn(
        mut driver: Driver,
        replica: Option<Replica>,
        status: watch::Receiver<Status>,
        limits: Limits,
    ) -> Self {
        let (publisher, current) = watch::channel(Current {
            replica,
            last_error: None,
        });
        let task = tokio::spawn(std::future::poll_fn(move |cx| {
            follow(&mut driver, &publisher, &limits, cx)
        }));
        Self {
            inner: Arc::new(Inner {
                current,
                status,
                task,
            }),
            decode: PhantomData,
        }
    }

    /// A new consumer. Its first item is the current state (once there is
    /// one), then the latest state each time it polls after a change.
    ///
    /// # Cancel safety
    ///
    /// `next()` is cancel safe: a state not taken is still there next time.
    pub fn subscribe(&self) -> Subscriber<T> {
        let mut current = self.inner.current.clone();
        current.mark_changed();
        let inner = Arc::clone(&self.inner);
        let states = futures::stream::unfold(current, move |mut current| {
            // The subscriber keeps the task alive.
            let _inner = Arc::clone(&inner);
            async move {
                loop {
                    current.changed().await.ok()?;
                    let state = current.borrow_and_update();
                    if let Some(replica) = &state.replica {
                        let decoded = replica.decode::<T>();
                        drop(state);
                        return Some((decoded, current));
                    }
                }
            }
        });
        Subscriber {
            states: Box::pin(states),
        }
    }

    /// The current state decoded into `T`, or `None` before the first snapshot.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when the state does not decode into `T`.
    pub fn get(&self) -> Option<Result<T, Error>> {
        self.inner
            .current
            .borrow()
            .replica
            .as_ref()
            .map(Replica::decode)
    }

    /// Looks at the current JSON state in place (no clone), `None` before
    /// the first snapshot. The task waits while `read` runs: keep it short.
    pub fn read<R>(&self, read: impl FnOnce(Option<&Document>) -> R) -> R {
        read(
            self.inner
                .current
                .borrow()
                .replica
                .as_ref()
                .map(Replica::state),
        )
    }

    /// The version of the current state.
    pub fn version(&self) -> Option<u64> {
        self.inner
            .current
            .borrow()
            .replica
            .as_ref()
            .and_then(Replica::version)
    }

    /// The connection state, as a watch that can be awaited for changes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.status.clone()
    }

    /// The last error the task met, recovered from or not.
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.inner.current.borrow().last_error.clone()
    }
}

/// Drives the resource, applying each change inside the watch so that
/// consumers read the state in place; yields to the runtime after a bounded
/// number of changes.
fn follow(
    driver: &mut Driver,
    publisher: &watch::Sender<Current>,
    limits: &Limits,
    cx: &mut Context<'_>,
) -> Poll<()> {
    for _ in 0..CHANGES_PER_POLL {
        let mut outcome = Poll::Pending;
        publisher.send_if_modified(|current| {
            outcome = driver.poll_change(cx, limits, &mut current.replica, &|_| {});
            match &outcome {
                Poll::Ready(Some(Ok(()))) => true,
                Poll::Ready(Some(Err(_))) => false,
                Poll::Ready(None) | Poll::Pending => false,
            }
        });
        match outcome {
            Poll::Ready(Some(Ok(()))) => {}
            Poll::Ready(Some(Err(error))) => {
                // Recorded without waking the subscribers: the state did not change.
                publisher.send_if_modified(|current| {
                    current.last_error = Some(Arc::new(error));
                    false
                });
            }
            Poll::Ready(None) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

impl<T> fmt::Debug for SharedResource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedResource")
            .field("type", &std::any::type_name::<T>())
            .field("status", &*self.inner.status.borrow())
            .finish_non_exhaustive()
    }
}

/// One consumer of a [`SharedResource`]: a stream of its latest states.
///
/// Ends when the shared resource can change no more.
#[must_use = "streams do nothing unless polled"]
pub struct Subscriber<T> {
    states: BoxStream<'static, Result<T, Error>>,
}

impl<T> Stream for Subscriber<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.states.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}
