//! Fault injection: a hub's updates pass through a source that drops,
//! duplicates, reorders, disconnects, ends and stalls, driven by seeded
//! randomness. Every consumer, early or late, plain or shared, must converge
//! to the hub's final state, never show a state the hub never had, and never
//! apply an update twice.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use live_resource::hub::HubSource;
use live_resource::source::{Event, EventStream, SnapshotSource, UpdateSource};
use live_resource::{BoxError, Hub, LiveResource, Patch, Snapshot};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::rng::Rng;

/// How many faults a run may inject, shared by every connection, so that the
/// run ends; and the randomness that picks them.
pub(crate) struct Faults {
    pub(crate) rng: Rng,
    pub(crate) budget: u32,
    /// Out of 100: the chance that an update meets a fault.
    pub(crate) rate: u64,
}

impl Faults {
    fn pick(&mut self) -> Option<u64> {
        if self.budget == 0 || self.rng.below(100) >= self.rate {
            return None;
        }
        self.budget -= 1;
        Some(self.rng.below(6))
    }
}

#[derive(Clone)]
pub(crate) struct Faulty {
    pub(crate) hub: Hub,
    pub(crate) inner: HubSource,
    pub(crate) faults: Arc<Mutex<Faults>>,
    /// Whether streams opened without `since` carry the snapshot (the hub's
    /// atomic path) or the resource fetches it (the buffered handoff).
    pub(crate) includes_snapshot: bool,
}

const HEARTBEAT: Duration = Duration::from_millis(500);

#[async_trait]
impl SnapshotSource for Faulty {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        if self.faults.lock().unwrap().pick().is_some() {
            return Err("injected: snapshot request failed".into());
        }
        self.inner.snapshot().await
    }
}

#[async_trait]
impl UpdateSource for Faulty {
    async fn updates(&self, since: Option<u64>) -> Result<EventStream, BoxError> {
        let inner = if since.is_none() && !self.includes_snapshot {
            let subscription = self.hub.subscribe(self.inner.topic(), None)?;
            subscription
                .map(|delivery| {
                    Ok(match delivery {
                        live_resource::hub::Delivery::Update(frame) => {
                            Event::Update(frame.update().clone())
                        }
                        live_resource::hub::Delivery::Resync => Event::Resync,
                    })
                })
                .boxed()
        } else {
            self.inner.updates(since).await?
        };
        Ok(faulty(inner, Arc::clone(&self.faults)))
    }

    fn includes_snapshot(&self) -> bool {
        self.includes_snapshot
    }

    fn heartbeat(&self) -> Option<Duration> {
        Some(HEARTBEAT)
    }
}

struct Connection {
    inner: EventStream,
    faults: Arc<Mutex<Faults>>,
    out: VecDeque<Result<Event, BoxError>>,
    held: Option<Event>,
    /// The seq of the last update the server sent on this connection, faults
    /// or not: what its heartbeats say.
    sent: Option<u64>,
    ending: bool,
    stalled: bool,
    heartbeat: tokio::time::Interval,
}

/// The stream with faults injected into its updates, and heartbeats.
fn faulty(inner: EventStream, faults: Arc<Mutex<Faults>>) -> EventStream {
    let connection = Connection {
        inner,
        faults,
        out: VecDeque::new(),
        held: None,
        sent: None,
        ending: false,
        stalled: false,
        heartbeat: tokio::time::interval(HEARTBEAT),
    };
    futures::stream::unfold(connection, |mut c| async move {
        loop {
            if let Some(item) = c.out.pop_front() {
                return Some((item, c));
            }
            if c.ending {
                return None;
            }
            if c.stalled {
                // Half-open: nothing more, not even heartbeats, and no end.
                std::future::pending::<()>().await;
            }
            tokio::select! {
                item = c.inner.next() => match item {
                    None => return None,
                    Some(Ok(Event::Update(update))) => {
                        c.sent = update.seq;
                        let fault = c.faults.lock().unwrap().pick();
                        match fault {
                            None => c.out.push_back(Ok(Event::Update(update))),
                            Some(0) => {} // dropped
                            Some(1) => {
                                c.out.push_back(Ok(Event::Update(update.clone())));
                                c.out.push_back(Ok(Event::Update(update)));
                            }
                            Some(2) => {
                                // Reordered: sent after the next event.
                                if let Some(held) = c.held.replace(Event::Update(update)) {
                                    c.out.push_back(Ok(held));
                                }
                                continue;
                            }
                            Some(3) => {
                                c.out.push_back(Err("injected: connection reset".into()));
                                c.ending = true;
                            }
                            Some(4) => c.ending = true,
                            _ => c.stalled = true,
                        }
                    }
                    Some(other) => c.out.push_back(other),
                },
                _ = c.heartbeat.tick() => c.out.push_back(Ok(Event::Heartbeat(c.sent))),
            }
            if let Some(held) = c.held.take() {
                c.out.push_back(Ok(held));
            }
        }
    })
    .boxed()
}

#[derive(Clone, Debug)]
enum Change {
    Set(u8, i32),
    Delete(u8),
    Append,
    Pause(u16),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (0u8..5, any::<i32>()).prop_map(|(k, v)| Change::Set(k, v)),
        1 => (0u8..5).prop_map(Change::Delete),
        2 => Just(Change::Append),
        1 => (1u16..3000).prop_map(Change::Pause),
    ]
}

type History = Arc<Mutex<Vec<Value>>>;

/// Follows the resource until it reaches `last`, checking every state.
async fn follow(
    mut resource: LiveResource<Value>,
    history: History,
    last: Arc<Mutex<Option<u64>>>,
) {
    loop {
        if let (Some(version), Some(last)) = (resource.version(), *last.lock().unwrap()) {
            if version == last {
                return;
            }
        }
        match resource.next().await {
            Some(Ok(state)) => {
                let version = resource.version().expect("the hub numbers its states") as usize;
                let history = history.lock().unwrap();
                assert_eq!(
                    state, history[version],
                    "a state the hub had, at version {version}"
                );
            }
            Some(Err(_)) => {} // recovered from; the status shows it
            None => panic!("a resilient resource ended"),
        }
    }
}

fn run(seed: u64, rate: u64, includes_snapshot: bool, changes: Vec<Change>) {
    let runtime = crate::support::paused_runtime();
    runtime.block_on(async move {
        let hub = Hub::builder()
            .first_version(0)
            .replay(4)
            .subscriber_queue(8)
            .build();
        hub.set("t", json!({"log": []})).unwrap();
        let history: History = Arc::new(Mutex::new(vec![hub.snapshot("t").unwrap().data]));
        let last = Arc::new(Mutex::new(None));
        let faults = Arc::new(Mutex::new(Faults {
            rng: Rng::new(seed),
            budget: 40,
            rate,
        }));
        let source = Faulty {
            hub: hub.clone(),
            inner: hub.source("t"),
            faults,
            includes_snapshot,
        };

        let early = tokio::spawn(follow(
            LiveResource::connect(source.clone()).every_state(),
            Arc::clone(&history),
            Arc::clone(&last),
        ));
        let shared = LiveResource::<Value>::connect(source.clone()).shared();
        let mut late = None;

        for (index, change) in changes.iter().enumerate() {
            let patch = match change {
                Change::Set(k, v) => Patch::Merge(json!({ format!("k{k}"): v }).into()),
                Change::Delete(k) => Patch::Merge(json!({ format!("k{k}"): null }).into()),
                Change::Append => Patch::Json(
                    serde_json::from_value(
                        json!([{"op": "add", "path": "/log/-", "value": index}]),
                    )
                    .unwrap(),
                ),
                Change::Pause(ms) => {
                    tokio::time::sleep(Duration::from_millis(u64::from(*ms))).await;
                    continue;
                }
            };
            let before = hub.snapshot("t").unwrap().version.unwrap();
            let version = hub.publish("t", patch).unwrap();
            if version != before {
                history
                    .lock()
                    .unwrap()
                    .push(hub.snapshot("t").unwrap().data);
            }
            if index == changes.len() / 2 {
                late = Some(tokio::spawn(follow(
                    LiveResource::connect(source.clone()),
                    Arc::clone(&history),
                    Arc::clone(&last),
                )));
            }
            if index % 3 == 0 {
                tokio::task::yield_now().await;
            }
        }
        // The consumers learn the last version before it is published, so
        // that each one, wherever it is, still has a state to wait for.
        let final_version = hub.snapshot("t").unwrap().version.unwrap() + 1;
        *last.lock().unwrap() = Some(final_version);
        assert_eq!(
            hub.merge("t", json!({"done": true})).unwrap(),
            final_version
        );
        history
            .lock()
            .unwrap()
            .push(hub.snapshot("t").unwrap().data);
        let late = late.unwrap_or_else(|| {
            tokio::spawn(follow(
                LiveResource::connect(source.clone()),
                Arc::clone(&history),
                Arc::clone(&last),
            ))
        });

        let finished = tokio::time::timeout(Duration::from_secs(3600), async {
            early.await.unwrap();
            late.await.unwrap();
            let mut subscriber = shared.subscribe();
            while shared.version() != Some(final_version) {
                subscriber.next().await.unwrap().unwrap();
            }
        })
        .await;
        assert!(finished.is_ok(), "every consumer converges");
        let final_state = hub.snapshot("t").unwrap().data;
        assert_eq!(shared.get().unwrap().unwrap(), final_state);
        let appends: Vec<usize> = changes
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c, Change::Append))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            final_state["log"],
            json!(appends),
            "each append once, in order"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_consumer_converges_through_faults(
        seed in any::<u64>(),
        rate in 0u64..40,
        includes_snapshot in any::<bool>(),
        changes in prop::collection::vec(change(), 1..120),
    ) {
        run(seed, rate, includes_snapshot, changes);
    }
}

#[test]
fn a_long_run_with_many_faults_converges() {
    let changes = (0..600)
        .map(|i| match i % 7 {
            0 => Change::Append,
            3 => Change::Pause(700),
            _ => Change::Set((i % 5) as u8, i),
        })
        .collect();
    run(0x5eed, 30, false, changes);
}
