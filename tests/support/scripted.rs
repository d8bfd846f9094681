//! A source the test drives by hand: each subscription is a channel the test
//! sends events into, each snapshot is one the test hands over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use live_resource::source::{Event, EventStream, SnapshotSource, UpdateSource};
use live_resource::{BoxError, Snapshot};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;

pub(crate) type Connection = mpsc::UnboundedSender<Result<Event, BoxError>>;

#[derive(Default)]
struct State {
    /// The `since` of each call to `updates`, with the (virtual) time of the call.
    subscribes: Vec<(Option<u64>, Instant)>,
    connections: Vec<Connection>,
    /// Errors to answer the next calls to `updates` with.
    refusals: VecDeque<BoxError>,
    snapshot_calls: usize,
}

/// The source half handed to the resource.
#[derive(Clone)]
pub(crate) struct Scripted {
    state: Arc<Mutex<State>>,
    snapshots: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Result<Snapshot, BoxError>>>>,
    heartbeat: Option<Duration>,
}

/// The test's half.
pub(crate) struct Control {
    state: Arc<Mutex<State>>,
    snapshots: mpsc::UnboundedSender<Result<Snapshot, BoxError>>,
}

pub(crate) fn scripted(heartbeat: Option<Duration>) -> (Scripted, Control) {
    let (snapshots_tx, snapshots_rx) = mpsc::unbounded_channel();
    let state = Arc::new(Mutex::new(State::default()));
    (
        Scripted {
            state: Arc::clone(&state),
            snapshots: Arc::new(tokio::sync::Mutex::new(snapshots_rx)),
            heartbeat,
        },
        Control {
            state,
            snapshots: snapshots_tx,
        },
    )
}

#[async_trait]
impl SnapshotSource for Scripted {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        self.state.lock().unwrap().snapshot_calls += 1;
        let mut snapshots = self.snapshots.lock().await;
        snapshots
            .recv()
            .await
            .unwrap_or_else(|| Err("the test ended".into()))
    }
}

#[async_trait]
impl UpdateSource for Scripted {
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        let mut state = self.state.lock().unwrap();
        state.subscribes.push((since, Instant::now()));
        if let Some(error) = state.refusals.pop_front() {
            return Err(error);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        state.connections.push(tx);
        Ok(UnboundedReceiverStream::new(rx).boxed())
    }

    fn heartbeat(&self) -> Option<Duration> {
        self.heartbeat
    }
}

impl Control {
    pub(crate) fn snapshot(&self, snapshot: Snapshot) {
        self.snapshots.send(Ok(snapshot)).unwrap();
    }

    pub(crate) fn fail_snapshot(&self, error: &str) {
        self.snapshots.send(Err(error.into())).unwrap();
    }

    pub(crate) fn refuse_next_subscribe(&self, error: BoxError) {
        self.state.lock().unwrap().refusals.push_back(error);
    }

    /// The latest connection.
    pub(crate) fn connection(&self) -> Connection {
        self.state
            .lock()
            .unwrap()
            .connections
            .last()
            .expect("a connection")
            .clone()
    }

    /// Drops every connection the test holds: their streams end.
    pub(crate) fn close_all(&self) {
        self.state.lock().unwrap().connections.clear();
    }

    pub(crate) fn subscribes(&self) -> Vec<Option<u64>> {
        self.state
            .lock()
            .unwrap()
            .subscribes
            .iter()
            .map(|(since, _)| *since)
            .collect()
    }

    pub(crate) fn subscribe_times(&self) -> Vec<Instant> {
        self.state
            .lock()
            .unwrap()
            .subscribes
            .iter()
            .map(|(_, at)| *at)
            .collect()
    }

    pub(crate) fn snapshot_calls(&self) -> usize {
        self.state.lock().unwrap().snapshot_calls
    }
}

pub(crate) fn update(seq: u64, patch: serde_json::Value) -> Result<Event, BoxError> {
    Ok(Event::Update(live_resource::Update::merge(seq, patch)))
}
