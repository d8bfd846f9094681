//! A subscriber's view of one topic: replayed updates, then live ones.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{Counters, Fanout, Frame};

/// What a [`Subscription`] delivers.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// The next update of the topic.
    Update(Arc<Frame>),
    /// Updates were lost for this subscriber (it asked to resume from a
    /// version older than the replay ring, or it fell behind its bounded
    /// queue): it must take a new snapshot. The updates that follow are live.
    Resync,
}

/// The updates of one topic, for one subscriber: those replayed after the
/// version it resumed from, then live ones as they are published.
///
/// Ends when the topic is removed. Each subscription owns its queue: dropping
/// it unsubscribes this subscriber and no other.
///
/// # Cancel safety
///
/// `next()` is cancel safe: an update is taken from the queue only when it is
/// returned.
#[must_use = "streams do nothing unless polled"]
pub struct Subscription {
    topic: Arc<str>,
    resync_first: bool,
    replay: std::vec::IntoIter<Arc<Frame>>,
    live: BroadcastStream<Fanout>,
    counters: Arc<Counters>,
}

impl Subscription {
    pub(super) fn new(
        topic: Arc<str>,
        resync_first: bool,
        replay: Vec<Arc<Frame>>,
        live: tokio::sync::broadcast::Receiver<Fanout>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            topic,
            resync_first,
            replay: replay.into_iter(),
            live: BroadcastStream::new(live),
            counters,
        }
    }

    /// The topic this subscription follows.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Whether the subscription has something to deliver at once (a resync,
    /// or updates replayed after the version it resumed from). A server that
    /// resumed a client without one says so with a heartbeat right away, so
    /// that the client knows its resume was answered even on a quiet topic.
    ///
    /// ```
    /// # use live_resource::Hub;
    /// # use serde_json::json;
    /// let hub = Hub::new();
    /// let version = hub.set("quotes", json!({"AAPL": 1}))?;
    /// assert!(!hub.subscribe("quotes", Some(version))?.answers_at_once(), "nothing missed");
    /// assert!(hub.subscribe("quotes", Some(version - 1))?.answers_at_once(), "too old: a resync");
    /// # Ok::<(), live_resource::Error>(())
    /// ```
    pub fn answers_at_once(&self) -> bool {
        self.resync_first || self.replay.len() > 0
    }
}

impl Stream for Subscription {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        if std::mem::take(&mut self.resync_first) {
            return Poll::Ready(Some(Delivery::Resync));
        }
        if let Some(frame) = self.replay.next() {
            return Poll::Ready(Some(Delivery::Update(frame)));
        }
        match Pin::new(&mut self.live).poll_next(cx) {
            Poll::Ready(Some(Ok(Fanout::Frame(frame)))) => {
                Poll::Ready(Some(Delivery::Update(frame)))
            }
            // The topic's history was replaced (a backplane's topic reloaded):
            // what the subscriber holds does not continue into it.
            Poll::Ready(Some(Ok(Fanout::Reset))) => {
                self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Some(Delivery::Resync))
            }
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => {
                self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Some(Delivery::Resync))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("replay_pending", &self.replay.len())
            .finish_non_exhaustive()
    }
}
