//! A snapshot future and an update stream, given once, as a [`Source`](crate::source::Source):
//! what [`LiveResource::new`](crate::LiveResource::new) follows.

use std::sync::Mutex;

use async_trait::async_trait;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::source::{Event, EventStream, SnapshotSource, UpdateSource};
use crate::{BoxError, Snapshot, Update};

pub(crate) struct Once {
    snapshot: Mutex<Option<BoxFuture<'static, Result<Snapshot, BoxError>>>>,
    updates: Mutex<Option<BoxStream<'static, Result<Update, BoxError>>>>,
}

impl Once {
    pub(crate) fn new(
        snapshot: BoxFuture<'static, Result<Snapshot, BoxError>>,
        updates: BoxStream<'static, Result<Update, BoxError>>,
    ) -> Self {
        Self {
            snapshot: Mutex::new(Some(snapshot)),
            updates: Mutex::new(Some(updates)),
        }
    }
}

fn take<T>(slot: &Mutex<Option<T>>, what: &str) -> Result<T, BoxError> {
    let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    taken.ok_or_else(|| format!("a one-shot resource cannot fetch its {what} again").into())
}

#[async_trait]
impl SnapshotSource for Once {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        take(&self.snapshot, "snapshot")?.await
    }
}

#[async_trait]
impl UpdateSource for Once {
    async fn updates(&self, _since: Option<u64>) -> Result<EventStream, BoxError> {
        let updates = take(&self.updates, "updates")?;
        Ok(updates.map(|item| item.map(Event::Update)).boxed())
    }
}
