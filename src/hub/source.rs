//! The hub as a source, for consumers in the same process.

use async_trait::async_trait;
use futures::StreamExt;

use super::{Delivery, Hub, Subscription};
use crate::source::{Event, EventStream, SnapshotSource, SnapshotText, UpdateSource};
use crate::{BoxError, Error, Snapshot};

/// One topic of a [`Hub`] as a [`Source`](crate::source::Source): what
/// [`LiveResource::connect`](crate::LiveResource::connect) needs to follow
/// it with no network. Made by [`Hub::source`].
///
/// A stream opened without `since` begins with the snapshot, taken under the
/// same lock as the subscription: for a resource, the state's JSON text,
/// which it reads a page a poll, its members in the hub's order as a
/// client over the network reads them; on a stream opened with
/// [`updates`](UpdateSource::updates), and from
/// [`snapshot`](SnapshotSource::snapshot), a `serde_json::Value`, its
/// members sorted. An unknown topic is
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

/// How deep a state may nest for a consumer to read it from text:
/// `serde_json` refuses text nested past 128 levels.
const TEXT_DEPTH: usize = 120;

fn event(delivery: Delivery) -> Result<Event, BoxError> {
    Ok(match delivery {
        Delivery::Update(frame) => Event::Update(frame.update().clone()),
        Delivery::Resync => Event::Resync,
    })
}

/// The events of `subscription`, after `snapshot`.
fn after(snapshot: Event, subscription: Subscription) -> EventStream {
    let first = futures::stream::once(async move { Ok(snapshot) });
    first.chain(subscription.map(event)).boxed()
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
        Ok(after(Event::Snapshot(snapshot), subscription))
    }

    /// As [`updates`](UpdateSource::updates), but the snapshot is the
    /// hub's JSON text of the state (made once a version, and shared with
    /// the network's subscribers), for the resource to read a page a poll
    /// as it reads theirs: not a copy of the state made whole under the
    /// topic's lock and read back in one poll (at 100,000 rows of 200
    /// bytes, a stall of 170-190 ms).
    async fn updates_paged(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        // A hub that allows states nested deeper than `serde_json` reads
        // text (128 levels) hands its state over as a `Value`.
        if since.is_some() || self.hub.inner.config.limits.max_depth >= TEXT_DEPTH {
            return self.updates(since).await;
        }
        let (snapshot, subscription) = self
            .hub
            .subscribe_with_shared_text(&self.topic)
            .map_err(BoxError::from)?;
        let text = SnapshotText::bare(snapshot.data, snapshot.version);
        Ok(after(Event::SnapshotText(text), subscription))
    }

    fn includes_snapshot(&self) -> bool {
        true
    }
}
