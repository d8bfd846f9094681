//! Model-based property test of the handoff: whatever the snapshot's version,
//! whatever arrives before it (reordered, duplicated) and after it
//! (duplicated), the resource goes through exactly the model's states, in
//! order, and applies no update twice.

use futures::{FutureExt, StreamExt};
use live_resource::{LiveResource, Patch, Snapshot, Update};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

/// One change of the model's history. `Append` is a JSON Patch that adds to an
/// array: applied twice, it would show twice, so it catches double application.
#[derive(Clone, Debug)]
enum Change {
    Set(u8, i64),
    Delete(u8),
    Append,
}

impl Change {
    fn patch(&self, seq: u64) -> Patch {
        match self {
            Change::Set(key, value) => Patch::Merge(json!({ format!("k{key}"): value }).into()),
            Change::Delete(key) => Patch::Merge(json!({ format!("k{key}"): null }).into()),
            Change::Append => Patch::Json(
                serde_json::from_value(json!([{"op": "add", "path": "/log/-", "value": seq}]))
                    .unwrap(),
            ),
        }
    }
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0u8..4, any::<i64>()).prop_map(|(k, v)| Change::Set(k, v)),
        (0u8..4).prop_map(Change::Delete),
        Just(Change::Append),
    ]
}

/// A scenario: the history, the snapshot's version, where the subscription
/// started, how many of its updates arrive before the snapshot, and the
/// shuffles and duplicates applied to them.
#[derive(Debug)]
struct Scenario {
    history: Vec<Change>,
    version: usize,
    subscribed_after: usize,
    early: usize,
    shuffle: Vec<usize>,
    early_duplicates: Vec<usize>,
    late_duplicates: Vec<(usize, usize)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    prop::collection::vec(change(), 0..40)
        .prop_flat_map(|history| {
            let n = history.len();
            (Just(history), 0..=n)
        })
        .prop_flat_map(|(history, version)| (Just(history), Just(version), 0..=version))
        .prop_flat_map(|(history, version, subscribed_after)| {
            let stream_len = history.len() - subscribed_after;
            (
                Just(history),
                Just(version),
                Just(subscribed_after),
                0..=stream_len,
                prop::collection::vec(any::<usize>(), stream_len),
                prop::collection::vec(any::<usize>(), 0..5),
                prop::collection::vec((any::<usize>(), any::<usize>()), 0..5),
            )
        })
        .prop_map(
            |(
                history,
                version,
                subscribed_after,
                early,
                shuffle,
                early_duplicates,
                late_duplicates,
            )| {
                Scenario {
                    history,
                    version,
                    subscribed_after,
                    early,
                    shuffle,
                    early_duplicates,
                    late_duplicates,
                }
            },
        )
}

/// The model: every state of the history, `states[v]` after update `v`.
fn model_states(history: &[Change]) -> Vec<Value> {
    let mut state = json!({"log": []});
    let mut states = vec![state.clone()];
    for (index, change) in history.iter().enumerate() {
        change.patch(index as u64 + 1).apply(&mut state).unwrap();
        states.push(state.clone());
    }
    states
}

/// The order of arrival the scenario describes.
fn arrivals(scenario: &Scenario) -> (Vec<u64>, Vec<u64>) {
    let stream: Vec<u64> =
        (scenario.subscribed_after as u64 + 1..=scenario.history.len() as u64).collect();
    let (early, late) = stream.split_at(scenario.early);

    let mut early = early.to_vec();
    // A Fisher-Yates shuffle driven by the scenario's numbers.
    for i in (1..early.len()).rev() {
        early.swap(i, scenario.shuffle[i] % (i + 1));
    }
    if !early.is_empty() {
        for pick in &scenario.early_duplicates {
            let duplicate = early[pick % early.len()];
            early.insert(pick % (early.len() + 1), duplicate);
        }
    }

    let mut late = late.to_vec();
    for (at, pick) in &scenario.late_duplicates {
        // A late duplicate repeats something that was already delivered.
        let at = at % (late.len() + 1);
        let delivered: Vec<u64> = early.iter().chain(&late[..at]).copied().collect();
        if !delivered.is_empty() {
            late.insert(at, delivered[pick % delivered.len()]);
        }
    }
    (early, late)
}

fn run(scenario: &Scenario, every_state: bool) -> Vec<(Option<u64>, Value)> {
    let states = model_states(&scenario.history);
    let (early, late) = arrivals(scenario);
    let update = |seq: u64| Update {
        seq: Some(seq),
        patch: scenario.history[seq as usize - 1].patch(seq),
    };

    let (updates_tx, updates_rx) = mpsc::unbounded_channel::<Result<Update, std::io::Error>>();
    let (snapshot_tx, snapshot_rx) = oneshot::channel::<Snapshot>();
    let mut resource = LiveResource::<Value>::new(
        async move { snapshot_rx.await.map_err(std::io::Error::other) },
        UnboundedReceiverStream::new(updates_rx),
    );
    if every_state {
        resource = resource.every_state();
    }

    for seq in early {
        updates_tx.send(Ok(update(seq))).unwrap();
    }
    assert!(
        resource.next().now_or_never().is_none(),
        "nothing is emitted before the snapshot"
    );
    let version = scenario.version;
    snapshot_tx
        .send(Snapshot::new(version as u64, states[version].clone()))
        .unwrap();
    for seq in late {
        updates_tx.send(Ok(update(seq))).unwrap();
    }
    drop(updates_tx);

    let mut seen = Vec::new();
    while let Some(item) = resource.next().now_or_never().expect("everything is ready") {
        seen.push((
            resource.version(),
            item.expect("no error in a gap-free scenario"),
        ));
    }
    seen
}

proptest! {
    #[test]
    fn every_state_mode_goes_through_exactly_the_models_states(scenario in scenario()) {
        let states = model_states(&scenario.history);
        let seen = run(&scenario, true);
        let expected: Vec<(Option<u64>, Value)> = (scenario.version..states.len())
            .map(|v| (Some(v as u64), states[v].clone()))
            .collect();
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn conflated_mode_only_shows_model_states_and_ends_on_the_last(scenario in scenario()) {
        let states = model_states(&scenario.history);
        let seen = run(&scenario, false);
        let mut last_version = None;
        for (version, state) in &seen {
            let v = version.expect("versioned source");
            prop_assert!(Some(v) > last_version, "versions only grow");
            prop_assert_eq!(state, &states[v as usize], "a state the model had");
            last_version = Some(v);
        }
        prop_assert_eq!(last_version, Some(scenario.history.len() as u64));
        let final_log = seen.last().unwrap().1["log"].clone();
        let appends: Vec<u64> = scenario.history.iter().enumerate()
            .filter(|(_, c)| matches!(c, Change::Append))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        prop_assert_eq!(final_log, json!(appends), "each append applied once, in order");
    }
}
