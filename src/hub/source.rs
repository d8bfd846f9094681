//! The hub as a source, for consumers in the same process.

use async_trait::async_trait;
use futures::StreamExt;

use super::{Delivery, Hub};
use crate::source::{Event, EventStream, SnapshotSource, SnapshotText, UpdateSource};
use crate::{BoxError, Error, Snapshot};

/// One topic of a [`Hub`] as a [`Source`](crate::source::Source): what
/// [`LiveResource::connect`](crate::LiveResource::connect) needs to follow
/// it with no network. Made by [`Hub::source`].
///
/// A stream opened without `since` begins with the snapshot, taken under the
/// same lock as the subscription: for a resource, the state's JSON text,
/// which it reads a page a poll. An unknown topic is
/// [`Error::UnknownTopic`]: a consumer that connects before the topic is
/// created retries until it exists, unless told to end
/// ([`UnknownTopic::End`](crate::UnknownTopic::End)).
#[derive(Clone, Debug)]
pub struct HubSource {
    hub: Hub,
    topic: String,
}

impl HubSource {
    pub(super) fn new(hub: Hub, topic: &str) -> Self {
        Self {
            hub,
            topic: topic.to_owned(),
        }
    }

    /// The topic this source follows.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

fn event(delivery: Delivery) -> Result<Event, BoxError> {
    Ok(match delivery {
        Delivery::Update(frame) => Event::Update(frame.update().clone()),
        Delivery::Resync => Event::Resync,
    })
}

#[async_trait]
impl SnapshotSource for HubSource {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        self.hub.snapshot(&self.topic).ok_or_else(|| {
            Error::UnknownTopic {
                topic: self.topic.clone(),
            }
            .into()
        })
    }
}

#[async_trait]
impl UpdateSource for HubSource {
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        if since.is_some() {
            let subscription = self
                .hub
                .subscribe(&self.topic, since)
                .map_err(BoxError::from)?;
            return Ok(subscription.map(event).boxed());
        }
        let (snapshot, subscription) = self
            .hub
            .subscribe_with_snapshot(&self.topic)
            .map_err(BoxError::from)?;
        let first = futures::stream::once(async move { Ok(Event::Snapshot(snapshot)) });
        Ok(first.chain(subscription.map(event)).boxed())
    }

    /// As [`updates`](UpdateSource::updates), but the snapshot is the
    /// hub's JSON text of the state (made once a version, and shared with
    /// the network's subscribers), for the resource to read a page a poll
    /// as it reads theirs: not a copy of the state made whole under the
    /// topic's lock and read back in one poll (at 100,000 rows of 200
    /// bytes, a stall of 170-190 ms).
    async fn updates_paged(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        if since.is_some() {
            return self.updates(since).await;
        }
        let (snapshot, subscription) = self
            .hub
            .subscribe_with_shared_text(&self.topic)
            .map_err(BoxError::from)?;
        let text = SnapshotText::bare(snapshot.data, snapshot.version);
        let first = futures::stream::once(async move { Ok(Event::SnapshotText(text)) });
        Ok(first.chain(subscription.map(event)).boxed())
    }

    fn includes_snapshot(&self) -> bool {
        true
    }
}
