//! A resource polled by a task of its own, so that it connects, notices
//! silence, reconnects and resumes while the test plays the server; the test
//! reads what it yielded, each item with the resource's version and JSON
//! state right after it.

use std::time::Duration;

use futures::StreamExt;
use live_resource::{Document, Error, LiveResource, Status};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long the resource has to yield its next item.
const PATIENCE: Duration = Duration::from_secs(10);

/// An item of the resource, with its version and JSON state right after it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) item: Result<Value, Error>,
    pub(crate) version: Option<u64>,
    pub(crate) json: Option<Value>,
}

pub(crate) struct Follower {
    items: mpsc::UnboundedReceiver<Seen>,
    pub(crate) status: watch::Receiver<Status>,
    task: JoinHandle<()>,
}

impl Follower {
    pub(crate) fn spawn(mut resource: LiveResource<Value>) -> Self {
        let status = resource.status();
        let (sender, items) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(item) = resource.next().await {
                let seen = Seen {
                    item,
                    version: resource.version(),
                    json: resource.json().map(Document::to_value),
                };
                if sender.send(seen).is_err() {
                    return;
                }
            }
        });
        Self {
            items,
            status,
            task,
        }
    }

    /// The next item, or `None` once the resource has ended.
    pub(crate) async fn next(&mut self) -> Option<Seen> {
        tokio::time::timeout(PATIENCE, self.items.recv())
            .await
            .unwrap_or_else(|_| panic!("no item within {PATIENCE:?}"))
    }

    /// The next item, which must come.
    pub(crate) async fn seen(&mut self) -> Seen {
        self.next().await.expect("a resilient resource goes on")
    }

    /// An item yielded already, if any.
    pub(crate) fn try_seen(&mut self) -> Option<Seen> {
        self.items.try_recv().ok()
    }

    /// The next item, which must be a state; with its version.
    pub(crate) async fn next_state(&mut self) -> (Value, Option<u64>) {
        match self.seen().await {
            Seen {
                item: Ok(state),
                version,
                ..
            } => (state, version),
            other => panic!("expected a state, got {other:?}"),
        }
    }

    /// The next item, which must be an error; with the version and JSON
    /// state the resource kept.
    pub(crate) async fn next_error(&mut self) -> (Error, Option<u64>, Option<Value>) {
        match self.seen().await {
            Seen {
                item: Err(error),
                version,
                json,
            } => (error, version, json),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Follows states, which must come without an error between them,
    /// until the state is at `version`; that state.
    pub(crate) async fn until_version(&mut self, version: u64) -> Value {
        loop {
            if let (state, Some(at)) = self.next_state().await {
                if at == version {
                    return state;
                }
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
