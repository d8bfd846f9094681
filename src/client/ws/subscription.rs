//! One topic's subscription on the shared connection: the bounded queue
//! between the connection task and the subscriber, and the stream that owns
//! its end.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::BoxError;
use crate::source::Event;

/// What a subscription's queue carries.
pub(super) type Item = Result<Event, BoxError>;

/// The connection task's end of one subscription's queue.
///
/// The last slot of the queue is kept for a [`Event::Resync`]: when a
/// subscriber falls so far behind that only that slot is free, the item that
/// does not fit is dropped and the resync takes the slot, so the subscriber
/// learns that it missed something instead of skipping a `seq` unaware. While
/// that resync waits unread, what does not fit is dropped without another:
/// the snapshot the subscriber takes on reading it is newer than all of it.
pub(super) struct Outlet {
    id: u64,
    events: mpsc::Sender<Item>,
    /// The last item queued is a resync.
    resync_queued: bool,
    /// For a subscription that resumes after version `v`: `v + 1`, until the
    /// server's answer begins (that update, a resync or a snapshot). Frames of
    /// the connection's earlier subscription to the topic may still be on
    /// their way; newer ones would look like a gap, and their heartbeats like
    /// lost updates, so they are not passed on.
    awaiting: Option<u64>,
    /// The subscriber reads snapshots a page at a time: it takes them as
    /// text.
    pages: bool,
}

/// What became of an item handed to [`Outlet::deliver`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Delivered {
    /// Queued.
    Queued,
    /// The queue was full: dropped, and a resync queued to say so.
    Resync,
    /// The queue was full: dropped, after a resync still unread.
    Dropped,
    /// The subscriber is gone.
    Closed,
}

impl Outlet {
    pub(super) fn new(
        id: u64,
        events: mpsc::Sender<Item>,
        since: Option<u64>,
        pages: bool,
    ) -> Self {
        Self {
            id,
            events,
            resync_queued: false,
            awaiting: since.map(|since| since.saturating_add(1)),
            pages,
        }
    }

    /// Whether the subscriber takes snapshots as text
    /// ([`Event::SnapshotText`]).
    pub(super) fn pages(&self) -> bool {
        self.pages
    }

    /// Whether `item` is a stale frame of an earlier subscription (see
    /// `awaiting`); the answer to this one ends the wait.
    fn is_stale(&mut self, item: &Item) -> bool {
        let Some(next) = self.awaiting else {
            return false;
        };
        match item {
            Ok(Event::Update(update)) => match update.seq {
                Some(seq) if seq > next => true,
                Some(seq) if seq == next => {
                    self.awaiting = None;
                    false
                }
                _ => false,
            },
            Ok(Event::Heartbeat(_)) => true,
            Ok(_) => {
                self.awaiting = None;
                false
            }
            Err(_) => false,
        }
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Queues `item` without waiting, or drops it when the subscriber is
    /// too far behind (see the type's docs).
    pub(super) fn deliver(&mut self, item: Item) -> Delivered {
        if self.events.is_closed() {
            return Delivered::Closed;
        }
        if self.is_stale(&item) {
            return Delivered::Dropped;
        }
        // Only this task sends, so the free slots can only grow between the
        // check and the send.
        let free = self.events.capacity();
        if free >= 2 {
            self.resync_queued = false;
            self.send(item);
            return Delivered::Queued;
        }
        if matches!(item, Ok(Event::Heartbeat(_))) {
            // A heartbeat carries no change: missing one skips nothing.
            return Delivered::Dropped;
        }
        if self.resync_queued {
            return Delivered::Dropped;
        }
        self.resync_queued = true;
        self.send(Ok(Event::Resync));
        Delivered::Resync
    }

    /// Queues a last item if there is room (the kept slot may take it: no
    /// item follows), and ends the stream.
    pub(super) fn finish(self, item: Item) {
        // A full queue ends with an unread resync: ending without the item
        // still leaves the subscriber nothing silently skipped.
        let _ = self.events.try_send(item);
    }

    fn send(&self, item: Item) {
        if let Err(error) = self.events.try_send(item) {
            debug_assert!(
                matches!(error, mpsc::error::TrySendError::Closed(_)),
                "a free slot was counted"
            );
        }
    }
}

impl fmt::Debug for Outlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outlet")
            .field("id", &self.id)
            .field("free", &self.events.capacity())
            .field("resync_queued", &self.resync_queued)
            .finish()
    }
}

/// A subscriber's stream of one topic's events. Dropping it unsubscribes
/// this subscription, and only this one.
#[must_use = "streams do nothing unless polled"]
pub(super) struct Subscription {
    events: mpsc::Receiver<Item>,
    _unsubscribe: Unsubscribe,
}

impl Subscription {
    pub(super) fn new(
        events: mpsc::Receiver<Item>,
        id: u64,
        topic: String,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Self {
            events,
            _unsubscribe: Unsubscribe {
                id,
                topic,
                commands,
            },
        }
    }
}

impl Stream for Subscription {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.get_mut().events.poll_recv(cx)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self._unsubscribe.id)
            .field("topic", &self._unsubscribe.topic)
            .field("queued", &self.events.len())
            .finish()
    }
}

/// Tells the connection task that a subscription is gone.
struct Unsubscribe {
    id: u64,
    topic: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        // A connection that is already gone has nothing to unsubscribe.
        let _ = self.commands.send(Command::Unsubscribe {
            id: self.id,
            topic: std::mem::take(&mut self.topic),
        });
    }
}

/// What subscriptions ask of the connection task.
pub(super) enum Command {
    /// Follow `topic`, sending its events to `events`.
    Subscribe {
        id: u64,
        topic: String,
        since: Option<u64>,
        /// Snapshots as text ([`Event::SnapshotText`]).
        pages: bool,
        events: mpsc::Sender<Item>,
    },
    /// Subscription `id` is gone.
    Unsubscribe { id: u64, topic: String },
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscribe {
                id, topic, since, ..
            } => f
                .debug_struct("Subscribe")
                .field("id", id)
                .field("topic", topic)
                .field("since", since)
                .finish_non_exhaustive(),
            Self::Unsubscribe { id, topic } => f
                .debug_struct("Unsubscribe")
                .field("id", id)
                .field("topic", topic)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Update;
    use futures::StreamExt;
    use serde_json::json;

    fn update(seq: u64) -> Item {
        Ok(Event::Update(Update::merge(seq, json!({"n": seq}))))
    }

    #[tokio::test]
    async fn a_full_queue_keeps_its_last_slot_for_a_resync() {
        let (sender, mut receiver) = mpsc::channel(3);
        let mut outlet = Outlet::new(1, sender, None, false);
        assert_eq!(outlet.deliver(update(1)), Delivered::Queued);
        assert_eq!(outlet.deliver(update(2)), Delivered::Queued);
        assert_eq!(outlet.deliver(update(3)), Delivered::Resync);
        assert_eq!(outlet.deliver(update(4)), Delivered::Dropped);
        assert_eq!(
            outlet.deliver(Ok(Event::Heartbeat(Some(4)))),
            Delivered::Dropped
        );

        let mut read = Vec::new();
        while let Ok(item) = receiver.try_recv() {
            read.push(item.unwrap());
        }
        assert_eq!(
            read,
            [update(1).unwrap(), update(2).unwrap(), Event::Resync],
            "3 and 4 were dropped, and the resync says so"
        );
        assert_eq!(outlet.deliver(update(5)), Delivered::Queued);
        assert_eq!(receiver.recv().await.unwrap().unwrap(), update(5).unwrap());

        drop(receiver);
        assert_eq!(outlet.deliver(update(6)), Delivered::Closed);
    }

    #[tokio::test]
    async fn a_resync_read_early_is_followed_by_another_on_the_next_drop() {
        let (sender, mut receiver) = mpsc::channel(2);
        let mut outlet = Outlet::new(1, sender, None, false);
        assert_eq!(outlet.deliver(update(1)), Delivered::Queued);
        assert_eq!(outlet.deliver(update(2)), Delivered::Resync);
        assert_eq!(receiver.recv().await.unwrap().unwrap(), update(1).unwrap());
        assert_eq!(receiver.recv().await.unwrap().unwrap(), Event::Resync);
        assert_eq!(outlet.deliver(update(3)), Delivered::Queued);
        assert_eq!(outlet.deliver(update(4)), Delivered::Resync);
        assert_eq!(receiver.recv().await.unwrap().unwrap(), update(3).unwrap());
        assert_eq!(receiver.recv().await.unwrap().unwrap(), Event::Resync);
    }

    #[tokio::test]
    async fn a_resumed_subscription_skips_stale_frames_until_its_answer() {
        let (sender, mut receiver) = mpsc::channel(8);
        let mut outlet = Outlet::new(1, sender, Some(4), false);
        // Frames of the connection's earlier subscription, still in flight.
        assert_eq!(outlet.deliver(update(9)), Delivered::Dropped);
        assert_eq!(
            outlet.deliver(Ok(Event::Heartbeat(Some(9)))),
            Delivered::Dropped
        );
        // The answer to this one: the replay from 5.
        assert_eq!(outlet.deliver(update(5)), Delivered::Queued);
        assert_eq!(outlet.deliver(update(6)), Delivered::Queued);
        assert_eq!(receiver.recv().await.unwrap().unwrap(), update(5).unwrap());
        assert_eq!(receiver.recv().await.unwrap().unwrap(), update(6).unwrap());

        let (sender, mut receiver) = mpsc::channel(8);
        let mut outlet = Outlet::new(2, sender, Some(4), false);
        assert_eq!(outlet.deliver(update(9)), Delivered::Dropped);
        assert_eq!(outlet.deliver(Ok(Event::Resync)), Delivered::Queued);
        assert_eq!(
            outlet.deliver(update(12)),
            Delivered::Queued,
            "live after the resync"
        );
        assert_eq!(receiver.recv().await.unwrap().unwrap(), Event::Resync);
    }

    #[tokio::test]
    async fn dropping_the_stream_unsubscribes_it() {
        let (commands, mut received) = mpsc::unbounded_channel();
        let (_sender, events) = mpsc::channel(2);
        let mut subscription = Subscription::new(events, 7, "quotes".into(), commands);
        assert!(futures::FutureExt::now_or_never(subscription.next()).is_none());
        drop(subscription);
        match received.recv().await {
            Some(Command::Unsubscribe { id, topic }) => {
                assert_eq!((id, topic.as_str()), (7, "quotes"))
            }
            _ => panic!("expected an unsubscribe"),
        }
    }
}
