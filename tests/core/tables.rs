//! Tables: a `hub::Collection` written with random row operations, followed
//! by a `LiveCollection` and its views, checked against a model at every
//! version; the same through a source that injects faults; and each bad
//! row an error that names it, the rest of the table live.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use live_resource::collection::{
    CollectionSubscriber, Event, LiveCollection, RowChange, RowError, SharedCollection, View,
    ViewChange, ViewChangeKind,
};
use live_resource::hub::Batch;
use live_resource::{Error, Hub, Patch};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::{Faults, Faulty};
use crate::support::rng::Rng;

/// A row with a member that may be an explicit `null`, which a merge patch
/// cannot carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Row {
    n: i64,
    note: Option<String>,
    #[serde(default)]
    tags: Vec<u8>,
}

/// Row ids: some look like numbers, some need escaping in a JSON Pointer.
const KEYS: [&str; 9] = ["1", "01", "10", "2", "a/b", "~x", "r1", "", "r 2"];

#[derive(Clone, Debug)]
enum Op {
    Insert(usize, Row),
    Upsert(usize, Row),
    Patch(usize, Value),
    Remove(usize),
}

#[derive(Clone, Debug)]
enum Step {
    One(Op),
    Batch(Vec<Op>),
    Clear,
}

fn row() -> impl Strategy<Value = Row> {
    (
        -5i64..5,
        prop::option::of("[a-c]{0,2}"),
        prop::collection::vec(0u8..4, 0..3),
    )
        .prop_map(|(n, note, tags)| Row { n, note, tags })
}

fn row_patch() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-5i64..5).prop_map(|n| json!({"n": n})),
        Just(json!({"note": null})),
        "[a-c]{1,2}".prop_map(|note| json!({"note": note})),
        prop::collection::vec(0u8..4, 0..3).prop_map(|tags| json!({"tags": tags, "n": 0})),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        2 => (key.clone(), row()).prop_map(|(k, r)| Op::Insert(k, r)),
        3 => (key.clone(), row()).prop_map(|(k, r)| Op::Upsert(k, r)),
        3 => (key.clone(), row_patch()).prop_map(|(k, p)| Op::Patch(k, p)),
        2 => key.prop_map(Op::Remove),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => op().prop_map(Step::One),
        3 => prop::collection::vec(op(), 1..6).prop_map(Step::Batch),
        1 => Just(Step::Clear),
    ]
}

type Model = BTreeMap<String, Value>;

/// Makes `op` on the model; `false` when the hub must refuse it.
fn model_op(model: &mut Model, op: &Op) -> bool {
    match op {
        Op::Insert(k, row) => {
            if model.contains_key(KEYS[*k]) {
                return false;
            }
            model.insert(KEYS[*k].to_owned(), serde_json::to_value(row).unwrap());
        }
        Op::Upsert(k, row) => {
            model.insert(KEYS[*k].to_owned(), serde_json::to_value(row).unwrap());
        }
        Op::Patch(k, patch) => match model.get_mut(KEYS[*k]) {
            Some(row) => live_resource::patch::merge(row, patch),
            None => return false,
        },
        Op::Remove(k) => {
            model.remove(KEYS[*k]);
        }
    }
    true
}

fn batch_op(batch: Batch, op: &Op) -> Batch {
    match op {
        Op::Insert(k, row) => batch.insert(KEYS[*k], row),
        Op::Upsert(k, row) => batch.upsert(KEYS[*k], row),
        Op::Patch(k, patch) => batch.patch_row(KEYS[*k], patch),
        Op::Remove(k) => batch.remove(KEYS[*k]),
    }
}

/// Makes `step` on the hub and on the model, checking that the hub refuses
/// exactly what the model does, naming the row.
async fn make(hub: &Hub, model: &mut Model, step: &Step) {
    let table = hub.collection("t");
    let (ops, result) = match step {
        Step::Clear => {
            table.clear().await.unwrap();
            model.clear();
            return;
        }
        Step::One(op) => (
            std::slice::from_ref(op),
            table.write(batch_op(Batch::new(), op)).await,
        ),
        Step::Batch(ops) => {
            let batch = ops.iter().fold(Batch::new(), batch_op);
            (&ops[..], table.write(batch).await)
        }
    };
    let mut next = model.clone();
    let accepted = ops.iter().all(|op| model_op(&mut next, op));
    match result {
        Ok(_) => {
            assert!(accepted, "the hub took {ops:?}");
            *model = next;
        }
        Err(Error::Row { key, problem, .. }) => {
            assert!(!accepted, "the hub refused {ops:?}: {key}: {problem}");
            assert!(KEYS.contains(&key.as_str()));
            assert!(matches!(problem, RowError::Exists | RowError::Missing));
        }
        Err(other) => panic!("{other}"),
    }
}

/// A view ordered by a comparison of rows, or by a key kept beside each.
enum AnyView {
    ByRow(View<String, Row>),
    ByKey(View<String, Row, Row>),
}

impl AnyView {
    fn apply(&mut self, event: &Event<String, Row>) -> Vec<ViewChange<String, Row>> {
        match self {
            Self::ByRow(view) => view.apply(event),
            Self::ByKey(view) => view.apply(event),
        }
    }

    fn keys(&self) -> Vec<&String> {
        match self {
            Self::ByRow(view) => view.iter().map(|(k, _)| k).collect(),
            Self::ByKey(view) => view.iter().map(|(k, _)| k).collect(),
        }
    }

    fn get(&self, index: usize) -> Option<(&String, &Arc<Row>)> {
        match self {
            Self::ByRow(view) => view.get(index),
            Self::ByKey(view) => view.get(index),
        }
    }
}

/// A view with a copy of its rows kept only from its changes' indexes.
struct Checked {
    view: AnyView,
    copy: Vec<String>,
    filter: fn(&String, &Row) -> bool,
    order: fn(&Row, &Row) -> std::cmp::Ordering,
    limit: usize,
}

impl Checked {
    fn new(
        filter: fn(&String, &Row) -> bool,
        order: fn(&Row, &Row) -> std::cmp::Ordering,
        limit: usize,
        by_key: bool,
    ) -> Self {
        let view = if by_key {
            AnyView::ByKey(
                View::new()
                    .filter(filter)
                    .order_by_key_with(Row::clone, order)
                    .limit(limit),
            )
        } else {
            AnyView::ByRow(View::new().filter(filter).order_by(order).limit(limit))
        };
        Self {
            view,
            copy: Vec::new(),
            filter,
            order,
            limit,
        }
    }

    fn follow(&mut self, changes: Vec<ViewChange<String, Row>>) {
        for change in changes {
            match change.kind {
                ViewChangeKind::Added => {
                    assert_eq!(change.old_index, None);
                    self.copy.insert(change.new_index.unwrap(), change.key);
                }
                ViewChangeKind::Removed => {
                    assert_eq!(change.new_index, None);
                    assert_eq!(self.copy.remove(change.old_index.unwrap()), change.key);
                }
                ViewChangeKind::Modified => {
                    assert_eq!(self.copy.remove(change.old_index.unwrap()), change.key);
                    self.copy.insert(change.new_index.unwrap(), change.key);
                }
                _ => unreachable!(),
            }
        }
        // In between, a row that comes in may push the last one out.
        assert!(self.copy.len() <= self.limit);
    }

    /// The view, its copy and the view recomputed from `rows` agree.
    fn check(&self, rows: &BTreeMap<String, Row>) {
        let mut expected: Vec<(&String, &Row)> =
            rows.iter().filter(|(k, r)| (self.filter)(k, r)).collect();
        expected.sort_by(|a, b| (self.order)(a.1, b.1).then_with(|| a.0.cmp(b.0)));
        expected.truncate(self.limit);
        let keys: Vec<&String> = expected.iter().map(|(k, _)| *k).collect();
        let shown = self.view.keys();
        assert_eq!(shown, keys, "the view is what it is recomputed as");
        assert_eq!(
            self.copy.iter().collect::<Vec<_>>(),
            keys,
            "the changes' indexes rebuild it"
        );
        for (index, (key, row)) in expected.iter().enumerate() {
            let (at, shared) = self.view.get(index).unwrap();
            assert_eq!((at, &**shared), (*key, *row));
        }
    }
}

/// Applies one row change to a copy of the table, checking that it is
/// neither lost nor doubled: an added row was not there, a modified or
/// removed one was.
fn replay(copy: &mut BTreeMap<String, Row>, change: &RowChange<String, Row>) {
    match change {
        RowChange::Added { key, row } => {
            assert!(
                copy.insert(key.clone(), (**row).clone()).is_none(),
                "{key} added twice"
            );
        }
        RowChange::Modified { key, row, patch } => {
            assert!(
                !format!("{patch:?}").contains("MergeText"),
                "a row's patch is a value"
            );
            let before = copy.insert(key.clone(), (**row).clone());
            let before = before.unwrap_or_else(|| panic!("{key} modified before added"));
            // The row's patch takes the row it modified to the row it gives.
            let mut json = serde_json::to_value(&before).unwrap();
            patch
                .apply(&mut json)
                .unwrap_or_else(|error| panic!("{key}: {patch:?} does not apply: {error}"));
            let patched: Row = serde_json::from_value(json).unwrap();
            assert_eq!(&patched, &**row, "{key}: {patch:?} on {before:?}");
        }
        RowChange::Removed { key, row } => {
            assert_eq!(
                copy.remove(key).as_ref(),
                Some(&**row),
                "{key} removed as it was"
            );
        }
        _ => unreachable!(),
    }
}

fn views() -> Vec<Checked> {
    vec![
        Checked::new(
            |_, _| true,
            |_, _| std::cmp::Ordering::Equal,
            usize::MAX,
            false,
        ),
        Checked::new(|_, r| r.n % 2 == 0, |a, b| b.n.cmp(&a.n), 3, false),
        Checked::new(|_, r| r.n % 2 == 0, |a, b| b.n.cmp(&a.n), 3, true),
        Checked::new(|k, _| k.len() < 3, |a, b| a.note.cmp(&b.note), 2, false),
        Checked::new(|k, _| k.len() < 3, |a, b| a.note.cmp(&b.note), 2, true),
        Checked::new(|_, r| r.note.is_some(), |a, b| a.tags.cmp(&b.tags), 1, true),
        Checked::new(|_, _| true, |a, b| a.n.cmp(&b.n), usize::MAX, true),
    ]
}

/// The typed rows the model says the table holds.
fn typed(model: &Model) -> BTreeMap<String, Row> {
    model
        .iter()
        .map(|(k, v)| (k.clone(), Row::deserialize(v).unwrap()))
        .collect()
}

/// Takes the events until `table` reaches `version`, into the copy and the
/// views.
async fn catch_up(
    table: &mut LiveCollection<String, Row>,
    version: u64,
    copy: &mut BTreeMap<String, Row>,
    views: &mut [Checked],
) {
    loop {
        let event = match tokio::time::timeout(Duration::from_secs(60), table.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(error))) if error.is_transport() || error.is_gap() => continue,
            Ok(Some(Err(error))) => panic!("{error}"),
            Ok(None) => panic!("the table ended"),
            Err(_) if table.version() == Some(version) => return,
            Err(_) => panic!("no event, at {:?} short of {version}", table.version()),
        };
        assert!(event.version() <= Some(version));
        take(&event, copy, views);
    }
}

/// Takes `event` into a copy of the rows and into each view.
fn take(event: &Event<String, Row>, copy: &mut BTreeMap<String, Row>, views: &mut [Checked]) {
    for change in event.changes() {
        replay(copy, change);
    }
    for view in views {
        let changes = view.view.apply(event);
        view.follow(changes);
    }
}

/// Checks a copy of the rows and the views kept from the events against the
/// rows the table should hold.
fn check(copy: &BTreeMap<String, Row>, views: &[Checked], expected: &BTreeMap<String, Row>) {
    assert_eq!(copy, expected, "the events rebuild the table");
    for view in views {
        view.check(expected);
    }
}

fn run(steps: Vec<Step>) {
    let runtime = crate::support::paused_runtime();
    runtime.block_on(async move {
        let hub = Hub::builder().first_version(0).build();
        hub.set("t", json!({})).unwrap();
        let mut model = Model::new();
        let mut table = LiveCollection::<String, Row>::connect(hub.source("t"));
        let mut copy = BTreeMap::new();
        let mut views = views();
        for step in &steps {
            make(&hub, &mut model, step).await;
            let version = hub.version("t").unwrap();
            catch_up(&mut table, version, &mut copy, &mut views).await;
            let expected = typed(&model);
            assert_eq!(*table.json().unwrap(), json!(model), "the JSON state");
            assert!(
                table.iter().eq(expected.iter()),
                "the typed rows, in key order"
            );
            assert_eq!(table.len(), expected.len());
            for key in KEYS {
                assert_eq!(
                    table.get(&key.to_owned()),
                    expected.get(key),
                    "the row {key:?}"
                );
            }
            check(&copy, &views, &expected);
        }
    });
}

/// The rows of `state` that decode, and for each that does not, its value
/// in `before`, if it had one.
fn typed_rows(
    state: &serde_json::Map<String, Value>,
    before: &BTreeMap<String, Row>,
) -> BTreeMap<String, Row> {
    state
        .iter()
        .filter_map(|(key, json)| match Row::deserialize(json) {
            Ok(row) => Some((key.clone(), row)),
            Err(_) => before.get(key).map(|row| (key.clone(), row.clone())),
        })
        .collect()
}

/// A JSON Patch operation on whole rows: each moves the members of the
/// table's object (an added row goes to the end, a removed row's place goes
/// to the last), which the table's rows must follow.
fn row_op() -> impl Strategy<Value = Value> {
    let key = || (0..KEYS.len()).prop_map(|k| KEYS[k].replace('~', "~0").replace('/', "~1"));
    let row = || row().prop_map(|row| serde_json::to_value(row).unwrap());
    prop_oneof![
        3 => (key(), row()).prop_map(|(k, r)| json!({"op": "add", "path": format!("/{k}"), "value": r})),
        2 => key().prop_map(|k| json!({"op": "remove", "path": format!("/{k}")})),
        1 => (key(), row()).prop_map(|(k, r)| json!({"op": "replace", "path": format!("/{k}"), "value": r})),
        1 => (key(), key()).prop_map(|(f, t)| json!({"op": "move", "from": format!("/{f}"), "path": format!("/{t}")})),
        1 => (key(), key()).prop_map(|(f, t)| json!({"op": "copy", "from": format!("/{f}"), "path": format!("/{t}")})),
        1 => key().prop_map(|k| json!({"op": "add", "path": format!("/{k}"), "value": {"n": "not a number"}})),
        1 => (key(), -5i64..5).prop_map(|(k, n)| json!({"op": "replace", "path": format!("/{k}/n"), "value": n})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Rows added, removed, moved and copied by JSON Patch, several in one
    /// update: every row is found by its key, and in key order, as a model
    /// holds them, at every version (rows that do not decode keep their last
    /// good value, or are not there).
    #[test]
    fn rows_moved_by_json_patch_are_found_where_they_are(
        start in prop::collection::btree_map(0..KEYS.len(), row(), 0..KEYS.len()),
        patches in prop::collection::vec(prop::collection::vec(row_op(), 1..5), 1..12),
    ) {
        let start: serde_json::Map<String, Value> = start
            .into_iter()
            .map(|(k, row)| (KEYS[k].to_owned(), serde_json::to_value(row).unwrap()))
            .collect();
        let mut model = Value::Object(start.clone());
        let mut updates = Vec::new();
        for ops in patches {
            // A copy or move from a place the same patch changed is refused
            // (it could grow the state without bound): they come first.
            let ops: Vec<Value> = ops
                .into_iter()
                .enumerate()
                .filter(|(at, op)| *at == 0 || !matches!(op["op"].as_str(), Some("copy" | "move")))
                .map(|(_, op)| op)
                .collect();
            let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
            let mut next = model.clone();
            if json_patch::patch(&mut next, &ops).is_ok() {
                updates.push((Patch::Json(ops), next.clone()));
                model = next;
            }
        }
        // The rows the table should hold at each version: each row's last
        // value that decoded, while its member is in the state.
        let mut rows: BTreeMap<String, Row> = typed_rows(&start, &BTreeMap::new());
        let mut expected = vec![rows.clone()];
        for (_, state) in &updates {
            rows = typed_rows(state.as_object().unwrap(), &rows);
            expected.push(rows.clone());
        }
        let states: Vec<Value> = std::iter::once(Value::Object(start.clone()))
            .chain(updates.iter().map(|(_, state)| state.clone()))
            .collect();
        let snapshot = live_resource::Snapshot::new(0, Value::Object(start));
        let stream = futures::stream::iter(updates.into_iter().enumerate().map(|(seq, (patch, _))| {
            Ok::<_, std::io::Error>(live_resource::Update { seq: Some(seq as u64 + 1), patch })
        }));
        futures::executor::block_on(async {
            let mut table: LiveCollection<String, Row> =
                live_resource::LiveResource::<Value>::new(async { Ok::<_, std::io::Error>(snapshot) }, stream).collection();
            while table.next().await.is_some() {
                let version = table.version().unwrap() as usize;
                prop_assert_eq!(table.json().unwrap(), &states[version]);
                let want = &expected[version];
                for key in KEYS {
                    prop_assert_eq!(table.get(&key.to_owned()), want.get(key), "the row {:?} at {}", key, version);
                }
                prop_assert!(table.iter().eq(want.iter()), "in key order at {}", version);
                prop_assert_eq!(table.len(), want.len());
            }
            prop_assert_eq!(table.version(), Some(states.len() as u64 - 1));
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_table_and_its_views_agree_with_a_model_at_every_version(steps in prop::collection::vec(step(), 1..40)) {
        run(steps);
    }
}

/// Follows the table through a source that drops, duplicates, reorders and
/// disconnects, to the hub's last version: the events must rebuild the
/// table exactly, with nothing lost or doubled.
fn through_faults(seed: u64, rate: u64, includes_snapshot: bool, steps: Vec<Step>) {
    let runtime = crate::support::paused_runtime();
    runtime.block_on(async move {
        let hub = Hub::builder()
            .first_version(0)
            .replay(4)
            .subscriber_queue(8)
            .build();
        hub.set("t", json!({})).unwrap();
        let source = Faulty {
            hub: hub.clone(),
            inner: hub.source("t"),
            faults: Arc::new(Mutex::new(Faults {
                rng: Rng::new(seed),
                budget: 30,
                rate,
            })),
            includes_snapshot,
        };
        let mut model = Model::new();
        let mut table = LiveCollection::<String, Row>::connect(source);
        let mut copy = BTreeMap::new();
        let mut views = views();
        for (index, step) in steps.iter().enumerate() {
            make(&hub, &mut model, step).await;
            if index % 4 == 0 {
                // Now and then the consumer falls behind, then catches up.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The last version is one the consumer cannot have skipped over.
        hub.collection("t")
            .upsert("last", json!({"n": 0, "note": null}))
            .await
            .unwrap();
        model.insert("last".into(), json!({"n": 0, "note": null}));
        let version = hub.version("t").unwrap();
        catch_up(&mut table, version, &mut copy, &mut views).await;
        let expected = typed(&model);
        assert_eq!(
            copy, expected,
            "the events rebuild the table: nothing lost or doubled"
        );
        assert!(table.iter().eq(expected.iter()));
        for view in &views {
            view.check(&expected);
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn row_events_through_faults_lose_and_double_nothing(
        seed in any::<u64>(),
        rate in 0u64..40,
        includes_snapshot in any::<bool>(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        through_faults(seed, rate, includes_snapshot, steps);
    }
}

/// How many times a [`Counted`] was decoded.
static DECODED: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq)]
struct Counted(u64);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DECODED.fetch_add(1, Ordering::Relaxed);
        u64::deserialize(deserializer).map(Counted)
    }
}

#[tokio::test]
async fn only_the_rows_a_change_touches_are_decoded_again() {
    let hub = Hub::new();
    let rows: serde_json::Map<String, Value> =
        (0..1000u64).map(|i| (i.to_string(), json!(i))).collect();
    hub.set("t", &rows).unwrap();
    let mut table = LiveCollection::<u64, Counted>::connect(hub.source("t"));
    let first = table.next().await.unwrap().unwrap();
    assert_eq!(first.changes().len(), 1000);
    assert_eq!(
        table.iter().next().map(|(k, _)| *k),
        Some(0),
        "integer keys in numeric order"
    );
    assert_eq!(table.iter().next_back().map(|(k, _)| *k), Some(999));

    let before = DECODED.load(Ordering::Relaxed);
    hub.collection("t")
        .write(
            Batch::new()
                .upsert(5u64, 50)
                .remove(6u64)
                .insert(1000u64, 1),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        table.next().await.unwrap().unwrap();
    }
    assert_eq!(
        DECODED.load(Ordering::Relaxed) - before,
        2,
        "the two rows written, not the table"
    );
    assert_eq!(table.get(&5), Some(&Counted(50)));
    assert_eq!(table.len(), 1000);
}

/// The kind and indexes of each change a view made, by key.
fn moves(
    changes: &[ViewChange<String, u64>],
) -> Vec<(String, ViewChangeKind, Option<usize>, Option<usize>)> {
    changes
        .iter()
        .map(|change| {
            (
                change.key.clone(),
                change.kind,
                change.old_index,
                change.new_index,
            )
        })
        .collect()
}

/// A row removed and inserted again is added again, in the table, its
/// events and a view over it; removed and put back by one batch (one
/// update), it is modified.
#[tokio::test]
async fn a_removed_row_inserted_again_is_added_again() {
    let hub = Hub::new();
    let rows = hub.collection("t");
    rows.write(Batch::new().insert("a", 1).insert("b", 2))
        .await
        .unwrap();
    let mut table = LiveCollection::<String, u64>::connect(hub.source("t"));
    let mut view = View::new().order_by_key(|n: &u64| *n);
    let mut next = async || {
        let event = table.next().await.unwrap().unwrap();
        let (version, changes) = match &event {
            Event::Row { version, change } => {
                (*version, vec![(change.key().clone(), kind(change))])
            }
            other => (other.version(), Vec::new()),
        };
        (version, changes, moves(&view.apply(&event)))
    };
    fn kind(change: &RowChange<String, u64>) -> &'static str {
        match change {
            RowChange::Added { .. } => "added",
            RowChange::Modified { .. } => "modified",
            RowChange::Removed { .. } => "removed",
            _ => unreachable!(),
        }
    }
    next().await;
    let removed = rows.remove("a").await.unwrap();
    assert_eq!(
        next().await,
        (
            Some(removed),
            vec![("a".to_owned(), "removed")],
            vec![("a".to_owned(), ViewChangeKind::Removed, Some(0), None)]
        )
    );
    let added = rows.insert("a", 3).await.unwrap();
    assert_eq!(
        next().await,
        (
            Some(added),
            vec![("a".to_owned(), "added")],
            vec![("a".to_owned(), ViewChangeKind::Added, None, Some(1))]
        )
    );
    let batch = rows
        .write(Batch::new().remove("a").insert("a", 0))
        .await
        .unwrap();
    assert_eq!(
        next().await,
        (
            Some(batch),
            vec![("a".to_owned(), "modified")],
            vec![("a".to_owned(), ViewChangeKind::Modified, Some(1), Some(0))]
        )
    );
    assert_eq!(table.get(&"a".to_owned()), Some(&0));
    assert_eq!(table.len(), 2);
}

/// How many [`Tracked`] rows are alive.
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// A row that counts how many of its kind are alive, for one test alone.
#[derive(Debug)]
struct Tracked;

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer)?;
        ALIVE.fetch_add(1, Ordering::Relaxed);
        Ok(Tracked)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The rows a change replaces are dropped a few at a time, not kept: after
/// a thousand changes to one row, what is alive is the table's rows and at
/// most a small batch of replaced ones, and all are dropped with the table.
#[tokio::test]
async fn replaced_rows_are_dropped_and_few_wait_for_it() {
    let hub = Hub::new();
    let rows: serde_json::Map<String, Value> =
        (0..10u64).map(|i| (i.to_string(), json!(i))).collect();
    hub.set("t", &rows).unwrap();
    let mut table = LiveCollection::<u64, Tracked>::connect(hub.source("t"));
    table.next().await.unwrap().unwrap();
    let records = hub.collection("t");
    for n in 0..1000u64 {
        records.upsert(n % 3, 100 + n).await.unwrap();
        // Taken and dropped: only the table holds rows.
        table.next().await.unwrap().unwrap();
        let alive = ALIVE.load(Ordering::Relaxed);
        assert!((10..=10 + 32).contains(&alive), "{alive} rows alive");
    }
    drop(table);
    assert_eq!(ALIVE.load(Ordering::Relaxed), 0, "every row dropped");
}

/// How many times a [`Paged`] was decoded.
static PAGED: AtomicUsize = AtomicUsize::new(0);

/// A row that counts its decodes, for one test alone.
#[derive(Debug, PartialEq)]
struct Paged(u64);

impl<'de> Deserialize<'de> for Paged {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PAGED.fetch_add(1, Ordering::Relaxed);
        u64::deserialize(deserializer).map(Paged)
    }
}

/// A large snapshot is decoded a thousand rows a poll, the runtime free in
/// between; an update that comes meanwhile follows the reset, in order.
#[tokio::test]
async fn a_large_snapshot_is_decoded_a_page_a_poll_and_updates_follow_it() {
    use std::task::Poll;
    let hub = Hub::builder().first_version(0).build();
    let rows: serde_json::Map<String, Value> =
        (0..10_500u64).map(|i| (i.to_string(), json!(i))).collect();
    hub.set("t", &rows).unwrap();
    let mut table = LiveCollection::<u64, Paged>::connect(hub.source("t"));
    let mut polls = 0;
    let mut updated = false;
    let first = loop {
        let before = PAGED.load(Ordering::Relaxed);
        let poll = futures::poll!(table.next());
        let decoded = PAGED.load(Ordering::Relaxed) - before;
        assert!(decoded <= 1000, "{decoded} rows decoded in one poll");
        polls += usize::from(decoded > 0);
        if decoded > 0 && !updated {
            // Written while the snapshot is being decoded.
            hub.collection("t").upsert(7u64, 70).await.unwrap();
            updated = true;
        }
        match poll {
            Poll::Ready(event) => break event.unwrap().unwrap(),
            Poll::Pending => tokio::task::yield_now().await,
        }
    };
    assert!(polls >= 11, "decoded over {polls} polls");
    assert_eq!(first.changes().len(), 10_500);
    assert_eq!(table.get(&7), Some(&Paged(7)), "the snapshot first");
    let Event::Row { change, .. } = table.next().await.unwrap().unwrap() else {
        panic!("the update after the reset");
    };
    assert_eq!((change.key(), &**change.row()), (&7, &Paged(70)));
    assert_eq!(table.get(&7), Some(&Paged(70)));
}

#[tokio::test]
async fn a_new_snapshot_decodes_only_the_rows_it_changed() {
    use live_resource::{LiveResource, Snapshot, Update};
    let snapshot =
        async { Ok::<_, std::io::Error>(Snapshot::new(1, json!({"1": 1, "2": 2, "3": 3}))) };
    let updates = futures::stream::iter([
        Ok::<_, std::io::Error>(Update::merge(2, json!({"1": 10}))),
        // A replacement: the state comes whole, like a new snapshot.
        Ok(Update {
            seq: Some(3),
            patch: Patch::Replace(json!({"1": 10, "2": 20, "4": 4})),
        }),
    ]);
    let mut table: LiveCollection<u32, u64> =
        LiveResource::<Value>::new(snapshot, updates).collection();
    let mut events = Vec::new();
    while let Some(event) = table.next().await {
        events.push(event.unwrap());
    }
    let Event::Reset {
        version: Some(3),
        changes,
    } = &events[2]
    else {
        panic!("a reset at 3: {events:?}")
    };
    let summary: Vec<(u32, &str)> = changes
        .iter()
        .map(|change| match change {
            RowChange::Added { key, .. } => (*key, "added"),
            RowChange::Modified { key, patch, .. } => {
                assert_eq!(*patch, Patch::Merge(json!(20).into()));
                (*key, "modified")
            }
            RowChange::Removed { key, .. } => (*key, "removed"),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        summary,
        [(2, "modified"), (4, "added"), (3, "removed")],
        "row 1 is the same: not in it"
    );
    assert_eq!(
        table.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
        [(1, 10), (2, 20), (4, 4)]
    );
}

/// Rows keyed by ids too long to keep in place, each holding its own id
/// (the state shares the one text between the row's name and its `id`):
/// after every change to a row, to its `id` and back, its removal and
/// return, and a whole new state, read from text and from a `Value`, the
/// table is what a model of the same changes decodes to.
#[tokio::test]
async fn rows_keyed_by_long_ids_they_hold_stay_right_through_every_change() {
    use live_resource::{Limits, LiveResource, Snapshot, Update};

    #[derive(Debug, Deserialize, PartialEq)]
    struct Record {
        id: String,
        status: String,
        n: i64,
    }
    let key = |i: u64| format!("{i:08x}-0a4b-4c3d-8e5f-{:012x}", i * 7919);
    let rows: serde_json::Map<String, Value> = (0..20)
        .map(|i| (key(i), json!({"id": key(i), "status": "new", "n": i})))
        .collect();
    let start = Value::Object(rows);
    let changes = [
        json!({key(0): {"status": "done"}}),
        json!({key(1): {"id": "an id that is not the row's key, long"}}),
        json!({key(1): {"id": key(1), "n": -1}}),
        json!({key(2): null}),
        json!({key(2): {"id": key(2), "status": "back", "n": 2}}),
        json!({key(3): {"id": key(3), "status": "the same id again"}}),
        json!({key(20): {"id": key(20), "status": "new", "n": 20}, key(4): null}),
    ];
    // The model at each version.
    let mut models = BTreeMap::from([(1, start.clone())]);
    let mut model = start.clone();
    let mut updates = Vec::new();
    for (seq, change) in (2..).zip(&changes) {
        live_resource::patch::merge(&mut model, change);
        models.insert(seq, model.clone());
        // Every other change read from its text, as a transport hands it on.
        let update = match seq % 2 {
            0 => Update::merge(seq, change.clone()),
            _ => {
                let text = json!({"seq": seq, "merge": change}).to_string();
                Limits::default().parse_update(text.as_bytes()).unwrap()
            }
        };
        updates.push(Ok::<_, std::io::Error>(update));
    }
    // Then a whole new state: one row's id changed, one row gone.
    model[key(5)]["id"] = json!("yet another id, not the row's own key");
    model.as_object_mut().unwrap().remove(&key(6));
    models.insert(9, model.clone());
    updates.push(Ok(Update {
        seq: Some(9),
        patch: Patch::Replace(model),
    }));

    let snapshot = async move { Ok::<_, std::io::Error>(Snapshot::new(1, start)) };
    let mut table: LiveCollection<String, Record> =
        LiveResource::<Value>::new(snapshot, futures::stream::iter(updates)).collection();
    let mut seen = Vec::new();
    while let Some(event) = table.next().await {
        let version = event.unwrap().version().expect("numbered");
        let want: BTreeMap<String, Record> =
            serde_json::from_value(models[&version].clone()).unwrap();
        let got: BTreeMap<&String, &Record> = table.iter().collect();
        assert_eq!(got, want.iter().collect(), "at {version}");
        for (key, record) in &want {
            assert_eq!(table.get(key).unwrap(), record, "{key} at {version}");
        }
        seen.push(version);
    }
    seen.dedup();
    assert_eq!(seen, models.into_keys().collect::<Vec<_>>());
}

#[tokio::test]
async fn each_bad_row_is_an_error_that_names_it_and_the_rest_stays_live() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Job {
        done: u32,
    }
    let hub = Hub::new();
    let jobs = hub.collection("jobs");
    jobs.upsert(1u32, json!({"done": 1})).await.unwrap();
    jobs.upsert("x", json!({"done": 1})).await.unwrap();
    let mut table = LiveCollection::<u32, Job>::connect(hub.source("jobs"));

    // A row id that is no `u32`.
    let error = table.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Row { key, problem: RowError::Key, .. } if key == "x"),
        "{error:?}"
    );
    let first = table.next().await.unwrap().unwrap();
    assert_eq!(first.changes().len(), 1);

    // A row that does not decode: its last good value stays.
    jobs.patch_row(1u32, json!({"done": "all"})).await.unwrap();
    let error = table.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Row { key, problem: RowError::Decode(_), version: Some(_) } if key == "1"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "row `1` was refused");
    assert_eq!(table.get(&1), Some(&Job { done: 1 }));

    // The rest of the table goes on, and so does the row once it decodes.
    jobs.upsert(2u32, json!({"done": 2})).await.unwrap();
    assert!(matches!(
        table.next().await.unwrap().unwrap(),
        Event::Row {
            change: RowChange::Added { key: 2, .. },
            ..
        }
    ));
    jobs.patch_row(1u32, json!({"done": 3})).await.unwrap();
    assert!(matches!(
        table.next().await.unwrap().unwrap(),
        Event::Row {
            change: RowChange::Modified { key: 1, .. },
            ..
        }
    ));
    assert_eq!(table.get(&1), Some(&Job { done: 3 }));

    // On the server, a change to a missing row is refused, naming it.
    let version = hub.version("jobs");
    let error = jobs.patch_row(9u32, json!({"done": 1})).await.unwrap_err();
    assert!(matches!(&error, Error::Row { key, problem: RowError::Missing, .. } if key == "9"));
    let error = jobs.insert(2u32, json!({"done": 1})).await.unwrap_err();
    assert!(matches!(&error, Error::Row { key, problem: RowError::Exists, .. } if key == "2"));
    assert_eq!(hub.version("jobs"), version, "nothing published");
}

#[tokio::test]
async fn rows_with_nulls_travel_as_json_patch_and_a_plain_follower_sees_the_same() {
    let hub = Hub::new();
    let table = hub.collection("t");
    table
        .upsert("a", json!({"n": 1, "note": "x"}))
        .await
        .unwrap();
    let mut updates = hub.subscribe("t", None).unwrap();
    table
        .upsert("a", json!({"n": 1, "note": null}))
        .await
        .unwrap();
    table.upsert("b", json!({"n": 2})).await.unwrap();
    let mut plain = json!({"a": {"n": 1, "note": "x"}});
    for expected_json_patch in [true, false] {
        let Some(live_resource::hub::Delivery::Update(frame)) = updates.next().await else {
            panic!("an update")
        };
        let patch = &frame.update().patch;
        assert_eq!(
            matches!(patch, Patch::Json(_)),
            expected_json_patch,
            "{patch:?}"
        );
        patch.apply(&mut plain).unwrap();
    }
    assert_eq!(plain, json!({"a": {"n": 1, "note": null}, "b": {"n": 2}}));
    assert_eq!(hub.snapshot("t").unwrap().data, plain);
}

/// A subscriber of a shared table, with a copy of the rows and views kept
/// only from its events.
struct Consumer {
    events: CollectionSubscriber<String, Row>,
    seen: Option<u64>,
    taken: usize,
    resets: usize,
    copy: BTreeMap<String, Row>,
    views: Vec<Checked>,
}

impl Consumer {
    fn new(shared: &SharedCollection<String, Row>) -> Self {
        Self {
            events: shared.subscribe(),
            seen: None,
            taken: 0,
            resets: 0,
            copy: BTreeMap::new(),
            views: views(),
        }
    }

    /// Takes the events until the table is at `version` and no more come.
    async fn catch_up(&mut self, shared: &SharedCollection<String, Row>, version: u64) {
        loop {
            // An update of several rows is several events of one version:
            // the last is known only when no more come.
            let event =
                match tokio::time::timeout(Duration::from_secs(60), self.events.next()).await {
                    Ok(Some(event)) => event,
                    Ok(None) => panic!("the shared table ended"),
                    Err(_) if shared.version() == Some(version) && self.seen.is_some() => return,
                    Err(_) => panic!("no event, at {:?} short of {version}", self.seen),
                };
            assert!(event.version() <= Some(version));
            self.seen = event.version();
            self.taken += 1;
            self.resets += usize::from(event.is_reset());
            take(&event, &mut self.copy, &mut self.views);
        }
    }

    fn check(&self, expected: &BTreeMap<String, Row>) {
        check(&self.copy, &self.views, expected);
    }
}

/// Many consumers of one shared table, one that keeps up, one that falls
/// behind its buffer of four events, one that comes late: each one's rows
/// and views agree with the model (and so with each other).
fn shared(steps: Vec<Step>) {
    let runtime = crate::support::paused_runtime();
    runtime.block_on(async move {
        let hub = Hub::builder().first_version(0).build();
        hub.set("t", json!({})).unwrap();
        let mut model = Model::new();
        let shared =
            LiveCollection::<String, Row>::connect(hub.source("t")).shared_with_capacity(4);
        let mut eager = Consumer::new(&shared);
        let mut slow = Consumer::new(&shared);
        let mut late = None;
        for (index, step) in steps.iter().enumerate() {
            make(&hub, &mut model, step).await;
            let version = hub.version("t").unwrap();
            let expected = typed(&model);
            eager.catch_up(&shared, version).await;
            eager.check(&expected);
            if index % 5 == 4 {
                slow.catch_up(&shared, version).await;
                slow.check(&expected);
            }
            if index == steps.len() / 2 {
                // Wait for the task to have the rows, then join.
                while shared.version() != Some(version) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let mut consumer = Consumer::new(&shared);
                consumer.catch_up(&shared, version).await;
                consumer.check(&expected);
                assert_eq!(consumer.resets, 1, "a late consumer starts from the rows");
                late = Some(consumer);
            }
            if let Some(late) = &mut late {
                late.catch_up(&shared, version).await;
                late.check(&expected);
            }
        }
        let version = hub.version("t").unwrap();
        slow.catch_up(&shared, version).await;
        slow.check(&typed(&model));
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn consumers_of_a_shared_table_agree_with_a_model(steps in prop::collection::vec(step(), 1..40)) {
        shared(steps);
    }
}

/// A consumer that falls far behind gets one exact reset, not the events it
/// missed, nor a gap.
#[tokio::test(start_paused = true)]
async fn a_slow_consumer_of_a_shared_table_is_reset_not_skipped() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("t", json!({})).unwrap();
    let shared = LiveCollection::<String, Row>::connect(hub.source("t")).shared_with_capacity(4);
    let mut slow = Consumer::new(&shared);
    let records = hub.collection("t");
    let mut model = Model::new();
    for n in 0..40 {
        let key = KEYS[n as usize % KEYS.len()];
        let row = json!({"n": n % 5, "note": null});
        records.upsert(key, row.clone()).await.unwrap();
        model.insert(key.to_owned(), row);
    }
    records.remove("1").await.unwrap();
    model.remove("1");
    let version = hub.version("t").unwrap();
    while shared.version() != Some(version) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    slow.catch_up(&shared, version).await;
    slow.check(&typed(&model));
    assert!(
        slow.resets >= 1 && slow.taken < 42,
        "reset past what it missed"
    );
    assert_eq!(shared.len(), model.len());
}

#[test]
fn a_shared_table_and_its_subscribers_are_send() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send_unpin<T: Send + Unpin>() {}
    assert_send_sync::<SharedCollection<String, Row>>();
    assert_send_unpin::<CollectionSubscriber<String, Row>>();
    assert_send_unpin::<LiveCollection<String, Row>>();
}

/// A source whose one stream begins with a snapshot and then gives what
/// the test sends it.
struct Pushed {
    stream: Mutex<Option<futures::channel::mpsc::UnboundedReceiver<live_resource::source::Event>>>,
}

#[async_trait::async_trait]
impl live_resource::source::SnapshotSource for Pushed {
    async fn snapshot(&self) -> Result<live_resource::Snapshot, live_resource::BoxError> {
        Err("the stream brings the snapshots".into())
    }
}

#[async_trait::async_trait]
impl live_resource::source::UpdateSource for Pushed {
    async fn updates(
        &self,
        _since: Option<u64>,
    ) -> Result<live_resource::source::EventStream, live_resource::BoxError> {
        let stream = self.stream.lock().unwrap().take().ok_or("one stream")?;
        Ok(stream.map(Ok).boxed())
    }

    fn includes_snapshot(&self) -> bool {
        true
    }
}

/// A table made from a resource already polled to its snapshot `first`,
/// and the sender of what its source gives next.
async fn table_of_polled_resource(
    first: Value,
) -> (
    futures::channel::mpsc::UnboundedSender<live_resource::source::Event>,
    LiveCollection<u64, String>,
) {
    let (sender, receiver) = futures::channel::mpsc::unbounded();
    let source = Pushed {
        stream: Mutex::new(Some(receiver)),
    };
    sender
        .unbounded_send(live_resource::source::Event::Snapshot(
            live_resource::Snapshot::new(1, first.clone()),
        ))
        .unwrap();
    let mut resource = live_resource::LiveResource::<Value>::connect(source);
    assert_eq!(resource.next().await.unwrap().unwrap(), first);
    (sender, resource.collection())
}

/// A resource already polled, turned into a table: its state comes as a
/// reset. When a new snapshot comes before any update, the rows it has in
/// common with the state before are rows of the table too (the table never
/// had them, so they are not "unchanged rows it already holds").
#[tokio::test]
async fn a_new_snapshot_before_the_first_update_of_a_table_made_from_a_polled_resource() {
    use live_resource::source::Event as SourceEvent;
    let (sender, mut table) = table_of_polled_resource(json!({"1": "one", "2": "two"})).await;
    let second = json!({"1": "one", "2": "two", "3": "three"});
    sender
        .unbounded_send(SourceEvent::Snapshot(live_resource::Snapshot::new(
            2,
            second.clone(),
        )))
        .unwrap();
    // The state so far comes as a reset (the table may take it before the
    // new snapshot or not), then the new snapshot's.
    let mut added = BTreeMap::new();
    while table.version() != Some(2) || added.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), table.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        assert!(event.is_reset());
        for change in event.changes() {
            if let RowChange::Added { key, row } = change {
                added.insert(*key, (**row).clone());
            }
        }
    }
    assert_eq!(table.json().unwrap(), &second);
    let rows: Vec<(u64, &str)> = table.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(rows, [(1, "one"), (2, "two"), (3, "three")]);
    assert_eq!(table.get(&1).map(String::as_str), Some("one"));
    assert_eq!(added.len(), 3, "every row is added, once");
}

/// Member names of a table keyed by `u64`: some are no `u64` ("007", "x",
/// "", "-3"), some need escaping in a JSON Pointer; more than sixteen (the
/// most an object keeps in an array), so that the object grows past its
/// small form and shrinks back.
const NUMBERED: [&str; 24] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "007", "x", "", "-3", "a/~b", "99",
];

/// A change of a table keyed by `u64`: a merge patch, JSON Patch
/// operations on whole rows, or a new snapshot.
#[derive(Clone, Debug)]
enum Numbered {
    Merge(Value),
    Ops(Vec<Value>),
    Snapshot(Value),
}

/// A row's JSON: mostly an `i64`, sometimes one that does not decode.
fn numbered_row() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..100).prop_map(Value::from),
        1 => Just(json!("not a number")),
    ]
}

fn numbered_change() -> impl Strategy<Value = Numbered> {
    let key = || (0..NUMBERED.len()).prop_map(|k| NUMBERED[k].to_owned());
    let pointer = || key().prop_map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")));
    let member = prop_oneof![1 => Just(Value::Null), 3 => numbered_row()];
    let op = prop_oneof![
        3 => (pointer(), numbered_row()).prop_map(|(p, v)| json!({"op": "add", "path": p, "value": v})),
        2 => pointer().prop_map(|p| json!({"op": "remove", "path": p})),
        1 => (pointer(), numbered_row()).prop_map(|(p, v)| json!({"op": "replace", "path": p, "value": v})),
        1 => (pointer(), pointer()).prop_map(|(f, p)| json!({"op": "move", "from": f, "path": p})),
        1 => (pointer(), pointer()).prop_map(|(f, p)| json!({"op": "copy", "from": f, "path": p})),
    ];
    prop_oneof![
        6 => prop::collection::btree_map(key(), member, 1..12)
            .prop_map(|m| Numbered::Merge(Value::Object(m.into_iter().collect()))),
        3 => prop::collection::vec(op, 1..5).prop_map(Numbered::Ops),
        1 => prop::collection::btree_map(key(), numbered_row(), 0..14)
            .prop_map(|m| Numbered::Snapshot(Value::Object(m.into_iter().collect()))),
    ]
}

/// The rows of `state` a `u64` table holds: each member named by a `u64`
/// whose JSON decodes, else its last good value.
fn numbered_rows(state: &Value, before: &BTreeMap<u64, i64>) -> BTreeMap<u64, i64> {
    state
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(id, json)| {
            let key = live_resource::collection::RowKey::from_key(id)?;
            match json.as_i64() {
                Some(n) => Some((key, n)),
                None => before.get(&key).map(|n| (key, *n)),
            }
        })
        .collect()
}

fn numbered_run(start: Value, changes: Vec<Numbered>) -> Result<(), TestCaseError> {
    use live_resource::source::Event as SourceEvent;
    // The events the source sends, each state they lead to, and the rows.
    let mut events = vec![SourceEvent::Snapshot(live_resource::Snapshot::new(
        0,
        start.clone(),
    ))];
    let mut states = vec![start.clone()];
    let mut state = start;
    for change in changes {
        let version = states.len() as u64;
        match change {
            Numbered::Merge(patch) => {
                live_resource::patch::merge(&mut state, &patch);
                events.push(SourceEvent::Update(live_resource::Update::merge(
                    version, patch,
                )));
            }
            Numbered::Ops(ops) => {
                // A copy or move from a place the same patch changed is
                // refused: they come first.
                let ops: Vec<Value> = ops
                    .into_iter()
                    .enumerate()
                    .filter(|(at, op)| {
                        *at == 0 || !matches!(op["op"].as_str(), Some("copy" | "move"))
                    })
                    .map(|(_, op)| op)
                    .collect();
                let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
                let mut next = state.clone();
                if json_patch::patch(&mut next, &ops).is_err() {
                    continue;
                }
                state = next;
                events.push(SourceEvent::Update(live_resource::Update {
                    seq: Some(version),
                    patch: Patch::Json(ops),
                }));
            }
            Numbered::Snapshot(fresh) => {
                state = fresh.clone();
                events.push(SourceEvent::Snapshot(live_resource::Snapshot::new(
                    version, fresh,
                )));
            }
        }
        states.push(state.clone());
    }
    // A last change that always shows: row 1 set to a value no change has.
    let last = states.len() as u64;
    let marker = json!({"1": 1000});
    live_resource::patch::merge(&mut state, &marker);
    events.push(SourceEvent::Update(live_resource::Update::merge(
        last, marker,
    )));
    states.push(state);
    let mut expected = Vec::new();
    let mut rows = BTreeMap::new();
    for state in &states {
        rows = numbered_rows(state, &rows);
        expected.push(rows.clone());
    }

    let (sender, receiver) = futures::channel::mpsc::unbounded();
    for event in events {
        sender.unbounded_send(event).unwrap();
    }
    let source = Pushed {
        stream: Mutex::new(Some(receiver)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut table: LiveCollection<u64, i64> = LiveCollection::connect(source);
        let mut copy: BTreeMap<u64, i64> = BTreeMap::new();
        loop {
            let item = tokio::time::timeout(Duration::from_secs(10), table.next())
                .await
                .expect("the marker comes")
                .expect("the stream goes on");
            if let Ok(event) = &item {
                for change in event.changes() {
                    match change {
                        RowChange::Added { key, row } => {
                            prop_assert!(copy.insert(*key, **row).is_none(), "{} added twice", key);
                        }
                        RowChange::Modified { key, row, .. } => {
                            prop_assert!(
                                copy.insert(*key, **row).is_some(),
                                "{} modified, not there",
                                key
                            );
                        }
                        RowChange::Removed { key, row } => {
                            prop_assert_eq!(
                                copy.remove(key),
                                Some(**row),
                                "{} removed as it was",
                                key
                            );
                        }
                        _ => unreachable!(),
                    }
                }
            }
            let version = table.version().unwrap() as usize;
            prop_assert_eq!(
                table.json().unwrap(),
                &states[version],
                "the state at {}",
                version
            );
            let want = &expected[version];
            for id in NUMBERED {
                let Some(key) = <u64 as live_resource::collection::RowKey>::from_key(id) else {
                    continue;
                };
                prop_assert_eq!(
                    table.get(&key),
                    want.get(&key),
                    "the row {} at {}",
                    key,
                    version
                );
            }
            prop_assert!(
                table.iter().eq(want.iter()),
                "in key order at {}: {:?}",
                version,
                table.iter().collect::<Vec<_>>()
            );
            prop_assert_eq!(table.len(), want.len());
            if version == states.len() - 1 && table.get(&1) == Some(&1000) {
                break;
            }
        }
        prop_assert!(
            table.iter().map(|(k, v)| (*k, *v)).eq(copy),
            "the events replayed are the table"
        );
        Ok(())
    })?;
    drop(sender);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A table keyed by `u64` whose object grows past sixteen members and
    /// back, with names that are no `u64`, rows that stop and start
    /// decoding, whole rows added, removed, moved and copied, and new
    /// snapshots between: every row found, in key order, as a model holds
    /// them, at every version, and the events replayed give the same rows.
    #[test]
    fn a_table_keyed_by_integers_agrees_with_a_model_through_merges_moves_and_snapshots(
        start in prop::collection::btree_map((0..NUMBERED.len()).prop_map(|k| NUMBERED[k].to_owned()), numbered_row(), 0..14),
        changes in prop::collection::vec(numbered_change(), 1..30),
    ) {
        numbered_run(Value::Object(start.into_iter().collect()), changes)?;
    }
}

/// While a new snapshot's rows are decoded, a page a poll, the table reads
/// as it was: every row found by its key (the new state's places differ),
/// in key order, counted; then as the new snapshot says.
#[tokio::test]
async fn while_a_new_snapshot_is_decoded_the_table_reads_as_before() {
    use live_resource::source::Event as SourceEvent;
    use std::task::Poll;
    let (sender, receiver) = futures::channel::mpsc::unbounded();
    let source = Pushed {
        stream: Mutex::new(Some(receiver)),
    };
    let old: BTreeMap<u64, i64> = (0..1_200u64).map(|k| (k, k as i64)).collect();
    let new: BTreeMap<u64, i64> = (1..1_300u64).map(|k| (k, k as i64 * 2)).collect();
    let state = |rows: &BTreeMap<u64, i64>| {
        Value::Object(
            rows.iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect(),
        )
    };
    sender
        .unbounded_send(SourceEvent::Snapshot(live_resource::Snapshot::new(
            1,
            state(&old),
        )))
        .unwrap();
    let mut table: LiveCollection<u64, i64> = LiveCollection::connect(source);
    assert!(table.next().await.unwrap().unwrap().is_reset());
    assert!(table.iter().map(|(k, v)| (*k, *v)).eq(old.clone()));
    sender
        .unbounded_send(SourceEvent::Snapshot(live_resource::Snapshot::new(
            2,
            state(&new),
        )))
        .unwrap();
    let (mut pending, mut checked) = (0, 0);
    let reset = loop {
        match futures::poll!(table.next()) {
            Poll::Ready(event) => break event.unwrap().unwrap(),
            Poll::Pending => {
                pending += 1;
                if table.version() == Some(2) {
                    checked += 1;
                    for key in 0..1_300u64 {
                        assert_eq!(table.get(&key), old.get(&key), "the row {key} as before");
                    }
                    assert!(table.iter().map(|(k, v)| (*k, *v)).eq(old.clone()));
                    assert_eq!(table.len(), old.len());
                }
                tokio::task::yield_now().await;
            }
        }
    };
    assert!(
        pending >= 2 && checked >= 2,
        "decoded over {pending} polls, {checked} checked"
    );
    assert!(reset.is_reset());
    for key in 0..1_300u64 {
        assert_eq!(table.get(&key), new.get(&key), "the row {key} after");
    }
    assert!(table.iter().map(|(k, v)| (*k, *v)).eq(new));
}

/// A resource already polled, turned into a table, with no update after:
/// its state so far still comes as a reset.
#[tokio::test]
async fn a_table_made_from_a_polled_resource_resets_without_waiting_for_an_update() {
    let (sender, mut table) = table_of_polled_resource(json!({"1": "one", "2": "two"})).await;
    let event = tokio::time::timeout(Duration::from_secs(2), table.next())
        .await
        .expect("the state so far comes as a reset, with no update to wait for")
        .unwrap()
        .unwrap();
    assert!(event.is_reset());
    assert_eq!(table.len(), 2);
    drop(sender);
}
