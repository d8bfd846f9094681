//! A source the test drives by hand: each subscription is a channel the test
//! sends events into, each snapshot is one the test hands over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use live_resource::source::{Event, EventStream, SnapshotSource, UpdateSource};
use live_resource::{Backoff, BoxError, Error, LiveResource, Snapshot, Status};
use serde_json::{Value, json};
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
    /// Whether calls to `updates` may complete; while `false` they wait
    /// (recorded in `subscribes`, but with no stream yet).
    gate: Gate,
}

/// Open (`true`) unless the test holds subscribes.
struct Gate(tokio::sync::watch::Sender<bool>);

impl Default for Gate {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(true))
    }
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
        let mut gate = {
            let mut state = self.state.lock().unwrap();
            state.subscribes.push((since, Instant::now()));
            state.gate.0.subscribe()
        };
        // The sender lives in `state`, as long as `self`: this cannot fail.
        gate.wait_for(|open| *open)
            .await
            .expect("the gate outlives the source");
        let mut state = self.state.lock().unwrap();
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

    /// Holds every call to `updates` pending, from now until
    /// [`open_subscribes`](Control::open_subscribes): the call is recorded in
    /// `subscribes`, but its stream (or its refusal) comes only then.
    pub(crate) fn hold_subscribes(&self) {
        self.state.lock().unwrap().gate.0.send_replace(false);
    }

    /// Lets the held calls to `updates`, and those to come, complete.
    pub(crate) fn open_subscribes(&self) {
        self.state.lock().unwrap().gate.0.send_replace(true);
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

/// The resource's next item, which must be a state.
pub(crate) async fn next_state(resource: &mut LiveResource<Value>) -> Value {
    match tokio::time::timeout(Duration::from_secs(600), resource.next()).await {
        Ok(Some(Ok(state))) => state,
        other => panic!("expected a state, got {other:?}"),
    }
}

/// The resource's next item, which must be an error.
pub(crate) async fn next_error(resource: &mut LiveResource<Value>) -> Error {
    match tokio::time::timeout(Duration::from_secs(600), resource.next()).await {
        Ok(Some(Err(error))) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A resource live at version `version` with state `{"n": version}`.
pub(crate) async fn live_at(version: u64, backoff: Backoff) -> (LiveResource<Value>, Control) {
    let (source, control) = scripted(None);
    let mut resource = LiveResource::<Value>::connect(source).backoff(backoff);
    assert!(resource.next().now_or_never().is_none());
    control.snapshot(Snapshot::new(version, json!({"n": version})));
    assert_eq!(next_state(&mut resource).await, json!({"n": version}));
    assert_eq!(*resource.status().borrow(), Status::Live);
    (resource, control)
}
