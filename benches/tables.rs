//! Tables: what one row change costs a typed `LiveCollection`, at 1,000,
//! 100,000 and 1,000,000 rows, against decoding the whole table again (what
//! a `LiveResource<BTreeMap<String, Row>>` does, and what users of a
//! hand-written table do), and against a floor (a hand-written map of typed
//! rows whose fields are set in place, with no JSON state and no events);
//! and what a top-100 view costs per row change.
//!
//! Each row change is an update of the table's merge patch, one row's
//! `status`, `value` and `updated_ms`, applied through the resource's own
//! handoff (a one-shot `LiveResource` fed from a channel), decoded into a
//! `Record` of five fields, and handed out as a row event. Rows are keyed
//! by 8-byte ids (`r0000042`), and, read from text, by UUIDs too; and, read
//! from text, wider rows: the seven fields of the rows `table_load` loads
//! (`LoadRecord`, about 200 bytes), and twelve (`WideRecord`, and
//! `CompactWideRecord`, whose short strings sit in place).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group};
use futures::StreamExt;
use futures::channel::mpsc;
use live_resource::collection::{Event, LiveCollection, RowChange, View};
use live_resource::{Document, Limits, LiveResource, Patch, Snapshot, Update};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

#[path = "support/load_rows.rs"]
mod load_rows;
use load_rows::LoadRecord;

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Decoded, as an application's rows are; not all read here.
struct Record {
    id: String,
    status: String,
    value: f64,
    created_ms: u64,
    updated_ms: u64,
}

/// A wider row: twelve fields, about 280 bytes of JSON (still one array in
/// the state: an object keeps up to sixteen members so), its short strings
/// of type `S`: with `String`s, ten allocations a row (its `Arc`, six
/// strings, the tags' list and its two strings).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Decoded, as an application's rows are; not all read here.
struct WideRecord<S = String> {
    id: S,
    status: S,
    value: f64,
    created_ms: u64,
    updated_ms: u64,
    owner: S,
    region: S,
    priority: u8,
    attempts: u32,
    tags: Vec<S>,
    note: String,
    checksum: S,
}

/// `WideRecord` whose short strings sit in place: three allocations a row
/// (its `Arc`, the 42-byte `note`, the tags' list) instead of ten.
type CompactWideRecord = WideRecord<compact_str::CompactString>;

/// How many fields a row has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fields {
    /// `Record`'s five.
    Five,
    /// `LoadRecord`'s seven.
    Seven,
    /// `WideRecord`'s twelve.
    Twelve,
}

/// The fields a row change sets.
#[derive(Deserialize)]
struct RecordFields {
    status: String,
    value: f64,
    updated_ms: u64,
}

/// The shape of the rows' ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// `r0000042`: eight bytes, kept in place in the state's member.
    Short,
    /// A UUID's 36 characters, too long to be kept in place: the id is an
    /// allocation of its own, one more line to miss in each lookup.
    Uuid,
}

impl Ids {
    fn id(self, n: u64) -> String {
        match self {
            Self::Short => format!("r{n:07}"),
            Self::Uuid => {
                // Random-looking, as version 4 UUIDs are, and one per `n`.
                let bits = u128::from(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) << 64 | u128::from(n);
                let hex = format!("{bits:032x}");
                format!(
                    "{}-{}-4{}-8{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[13..16],
                    &hex[17..20],
                    &hex[20..]
                )
            }
        }
    }
}

const REGIONS: [&str; 3] = ["eu-west-1", "us-east-2", "ap-south-1"];

fn table_row(ids: Ids, fields: Fields, n: u64) -> Value {
    let mut row = json!({"id": ids.id(n), "status": "generated", "value": n as f64 / 3.0,
        "created_ms": 1_700_000_000_000u64 + n, "updated_ms": 1_700_000_000_000u64 + n});
    if fields == Fields::Seven {
        let more = json!({
            "owner": load_rows::owner(n),
            "note": load_rows::NOTE,
        });
        row.as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
    }
    if fields == Fields::Twelve {
        let more = json!({
            "owner": format!("worker-{}", n % 64),
            "region": REGIONS[(n % 3) as usize],
            "priority": n % 5,
            "attempts": n % 4,
            "tags": ["batch", "nightly"],
            "note": "queued by the nightly import of the ledger",
            "checksum": format!("{:016x}", n.wrapping_mul(0x2545_F491_4F6C_DD1D)),
        });
        row.as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
    }
    row
}

fn table(ids: Ids, fields: Fields, rows: u64) -> Value {
    let rows: Map<String, Value> = (0..rows)
        .map(|n| (ids.id(n), table_row(ids, fields, n)))
        .collect();
    Value::Object(rows)
}

/// One row's change, as the record job makes them.
fn row_change(ids: Ids, seq: u64, rows: u64) -> Update {
    let n = seq.wrapping_mul(2_654_435_761) % rows;
    Update::merge(
        seq,
        json!({ ids.id(n): {"status": "processing", "value": seq as f64, "updated_ms": seq} }),
    )
}

/// The same change as the transports hand it on: read from its text
/// (strictly, as they read a message of up to 16 KB), as on receipt.
fn row_change_read(ids: Ids, seq: u64, rows: u64) -> Update {
    let text = serde_json::to_vec(&row_change(ids, seq, rows)).unwrap();
    Limits::default().parse_update(&text).unwrap()
}

type Sender = mpsc::UnboundedSender<Result<Update, std::io::Error>>;

/// A collection of `rows` rows past its first reset, and the sender of its
/// updates.
fn collection_of<T: DeserializeOwned + Send + Sync + 'static>(
    ids: Ids,
    fields: Fields,
    rows: u64,
) -> (Sender, LiveCollection<String, T>) {
    let (send, updates) = mpsc::unbounded::<Result<Update, std::io::Error>>();
    let snapshot = Snapshot::new(0, table(ids, fields, rows));
    let snapshot = async move { Ok::<_, std::io::Error>(snapshot) };
    let mut collection: LiveCollection<String, T> = LiveResource::<Value>::new(snapshot, updates)
        .limits(Limits::default().max_state_bytes(1 << 30))
        .collection();
    let first = futures::executor::block_on(collection.next());
    assert!(matches!(first, Some(Ok(Event::Reset { .. }))));
    (send, collection)
}

/// Times `collection` taking the changes `next` makes, each made outside
/// the measured time: what is measured is what the collection does with it.
fn changes_taken<T: DeserializeOwned + Send + Sync + 'static>(
    b: &mut criterion::Bencher<'_>,
    send: &Sender,
    collection: &mut LiveCollection<String, T>,
    next: impl FnMut() -> Update,
) {
    b.iter_batched(
        next,
        |update| row_change_taken(send, collection, update),
        // Made just before it is taken, as an update read from the network
        // is: a batch made ahead would be cold by its turn.
        BatchSize::PerIteration,
    )
}

fn one_row_change(c: &mut Criterion) {
    let mut group = c.benchmark_group("tables/one_row_change");
    group.sample_size(20);
    for rows in [1_000u64, 100_000, 1_000_000] {
        let (send, mut collection) = collection_of::<Record>(Ids::Short, Fields::Five, rows);
        let mut seq = 0;
        group.bench_function(BenchmarkId::new("live_collection", rows), |b| {
            changes_taken(b, &send, &mut collection, || {
                seq += 1;
                row_change(Ids::Short, seq, rows)
            })
        });
        // The same change as the transports hand it on: read from its text.
        group.bench_function(BenchmarkId::new("live_collection_text", rows), |b| {
            changes_taken(b, &send, &mut collection, || {
                seq += 1;
                row_change_read(Ids::Short, seq, rows)
            })
        });
        // A floor: a hand-written map of typed rows (hashed as the state's
        // objects are), each update taken from the same channel, the row
        // found by its id and its three fields set from the patch; no JSON
        // state kept and no event made.
        let mut typed: foldhash::HashMap<String, Record> = (0..rows)
            .map(|n| {
                let record = Record::deserialize(&table_row(Ids::Short, Fields::Five, n)).unwrap();
                (Ids::Short.id(n), record)
            })
            .collect();
        let (floor_send, mut floor_updates) = mpsc::unbounded::<Update>();
        let mut seq = 0;
        group.bench_function(BenchmarkId::new("typed_hash_map_floor", rows), |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    row_change(Ids::Short, seq, rows)
                },
                |update| {
                    floor_send.unbounded_send(update).unwrap();
                    let update = futures::executor::block_on(floor_updates.next()).unwrap();
                    let Patch::Merge(patch) = update.patch else {
                        unreachable!("a merge patch")
                    };
                    let Value::Object(patch) = patch.into_value().unwrap() else {
                        unreachable!("an object")
                    };
                    for (key, fields) in patch {
                        let fields = RecordFields::deserialize(fields).unwrap();
                        let row = typed.get_mut(&key).expect("a row");
                        row.status = fields.status;
                        row.value = fields.value;
                        row.updated_ms = fields.updated_ms;
                    }
                },
                BatchSize::PerIteration,
            )
        });
        drop(typed);
        drop((send, collection));
        // Rows keyed by UUIDs (longer than a name kept in place); wider
        // rows (seven fields, twelve); and the twelve decoded into a type
        // whose short strings sit in place: each change read from its text.
        let text_case = TextCase {
            rows,
            ids: Ids::Uuid,
            fields: Fields::Five,
        };
        text_case.bench::<Record>(&mut group, "live_collection_text_uuid");
        let text_case = TextCase {
            ids: Ids::Short,
            fields: Fields::Seven,
            ..text_case
        };
        text_case.bench::<LoadRecord>(&mut group, "live_collection_text_seven");
        let text_case = TextCase {
            fields: Fields::Twelve,
            ..text_case
        };
        text_case.bench::<WideRecord>(&mut group, "live_collection_text_wide");
        text_case.bench::<CompactWideRecord>(&mut group, "live_collection_text_wide_compact");
        // What a table kept as one typed state costs: the row merged, then
        // every row decoded again.
        let mut document = Document::from(table(Ids::Short, Fields::Five, rows));
        let mut seq = 0;
        group.bench_function(BenchmarkId::new("whole_table_decode", rows), |b| {
            b.iter(|| {
                seq += 1;
                document
                    .apply_owned(row_change(Ids::Short, seq, rows).patch)
                    .unwrap();
                black_box(BTreeMap::<String, Record>::deserialize(&document).unwrap());
            })
        });
    }
    group.finish();
}

/// A case of `one_row_change` whose rows are made and changed from text in
/// a collection of their own.
#[derive(Clone, Copy)]
struct TextCase {
    rows: u64,
    ids: Ids,
    fields: Fields,
}

impl TextCase {
    /// Times a change to this case's rows, decoded into `T`, as `name`.
    fn bench<T: DeserializeOwned + Send + Sync + 'static>(
        self,
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
    ) {
        let Self { rows, ids, fields } = self;
        let (send, mut collection) = collection_of::<T>(ids, fields, rows);
        let mut seq = 0;
        group.bench_function(BenchmarkId::new(name, rows), |b| {
            changes_taken(b, &send, &mut collection, || {
                seq += 1;
                row_change_read(ids, seq, rows)
            })
        });
    }
}

#[derive(Debug)]
struct Ranked {
    value: f64,
}

fn ranked(n: u64) -> Arc<Ranked> {
    Arc::new(Ranked {
        value: (n.wrapping_mul(2_654_435_761) % 1_000_003) as f64,
    })
}

/// The `seq`th change of a top-100 view's rows: one row to a new value, now
/// and then into the top 100, mostly not.
fn ranked_change(seq: u64, rows: u64) -> Event<u64, Ranked> {
    let key = seq.wrapping_mul(40_503) % rows;
    let value = (seq.wrapping_mul(7_919) % 1_100_000) as f64;
    Event::Row {
        version: Some(seq),
        change: RowChange::Modified {
            key,
            row: Arc::new(Ranked { value }),
            patch: Patch::Merge(Value::Null.into()),
        },
    }
}

fn filled<S: Clone>(mut view: View<u64, Ranked, S>, rows: u64) -> View<u64, Ranked, S> {
    let changes = (0..rows)
        .map(|n| RowChange::Added {
            key: n,
            row: ranked(n),
        })
        .collect();
    view.apply(&Event::Reset {
        version: Some(0),
        changes,
    });
    view
}

/// A top-100 view by value over 10,000 to 1,000,000 rows, each change one
/// row's value: ordered by a comparison of rows (`order_by`), and by the
/// value kept beside each row (`order_by_key_with`); and 10,000 changes in
/// a row on the latter, a second of a sustained 10,000 changes a second.
fn top_100_view(c: &mut Criterion) {
    let mut group = c.benchmark_group("tables/top_100_view");
    for rows in [10_000u64, 100_000, 1_000_000] {
        let mut view = filled(
            View::new()
                .order_by(|a: &Ranked, b: &Ranked| b.value.total_cmp(&a.value))
                .limit(100),
            rows,
        );
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("row_change", rows), |b| {
            b.iter(|| {
                seq += 1;
                black_box(view.apply(&ranked_change(seq, rows)));
            })
        });
        drop(view);
        let mut view = filled(
            View::new()
                .order_by_key_with(|row: &Ranked| row.value, |a, b| b.total_cmp(a))
                .limit(100),
            rows,
        );
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("row_change_keyed", rows), |b| {
            b.iter(|| {
                seq += 1;
                black_box(view.apply(&ranked_change(seq, rows)));
            })
        });
        group.bench_function(BenchmarkId::new("ten_thousand_changes_keyed", rows), |b| {
            b.iter(|| {
                for _ in 0..10_000 {
                    seq += 1;
                    black_box(view.apply(&ranked_change(seq, rows)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, one_row_change, top_100_view);

/// One update, made beforehand, taken by `collection`: alone in a function
/// of its own, so that callgrind can count only it
/// (`--toggle-collect=*row_change_taken*`).
#[inline(never)]
fn row_change_taken<T: DeserializeOwned + Send + Sync + 'static>(
    send: &Sender,
    collection: &mut LiveCollection<String, T>,
    update: Update,
) {
    send.unbounded_send(Ok(update)).unwrap();
    let event = futures::executor::block_on(collection.next());
    black_box(event.expect("an event").expect("a row change"));
}

/// The rows and changes of a run of `main`'s.
struct Run {
    rows: u64,
    steps: u64,
    rounds: u32,
    text: bool,
    ids: Ids,
}

impl Run {
    /// Makes the run's changes to a collection of rows of `fields` fields,
    /// decoded into `T`, and prints the fastest and median rounds.
    fn changes<T: DeserializeOwned + Send + Sync + 'static>(&self, fields: Fields) {
        let Self {
            rows,
            steps,
            rounds,
            text,
            ids,
        } = *self;
        let (send, mut collection) = collection_of::<T>(ids, fields, rows);
        let mut seq = 0;
        let mut times = Vec::new();
        for _ in 0..rounds {
            let mut taken = std::time::Duration::ZERO;
            for _ in 0..steps {
                seq += 1;
                let update = match text {
                    true => row_change_read(ids, seq, rows),
                    false => row_change(ids, seq, rows),
                };
                let start = std::time::Instant::now();
                row_change_taken(&send, &mut collection, update);
                taken += start.elapsed();
            }
            times.push(taken.as_nanos() as f64 / steps as f64);
        }
        if rounds > 1 {
            times.sort_by(f64::total_cmp);
            // Said, as it changes the figures at 100,000 rows and more (huge
            // pages: `glibc.malloc.hugetlb=1`).
            let tunables = std::env::var("GLIBC_TUNABLES")
                .map(|tunables| format!(" (GLIBC_TUNABLES={tunables})"))
                .unwrap_or_default();
            println!(
                "{rows} rows: fastest {:.0} ns, median {:.0} ns a change{tunables}",
                times[0],
                times[times.len() / 2]
            );
        }
    }
}

/// With `TABLE_STEPS=n` in the environment, runs `n` row changes of a
/// `LiveCollection` of the rows named by the first argument and exits (each
/// read from its text first with `TABLE_TEXT=1`; rows keyed by UUIDs with
/// `TABLE_IDS=uuid`; rows of seven fields with `TABLE_FIELDS=7`, of twelve
/// with `TABLE_FIELDS=12`, decoded
/// into a type whose short strings sit in place with `TABLE_FIELDS=12c`), for
/// `valgrind --tool=callgrind --cache-sim=yes --toggle-collect='*row_change_taken*'`,
/// which counts one change's instructions and cache misses as the totals
/// over `n`, the table's set-up left out (benches/peers/RESULTS.md says how).
fn main() {
    if let Ok(steps) = std::env::var("TABLE_STEPS") {
        let steps: u64 = steps.parse().expect("TABLE_STEPS: a number of steps");
        let rows: u64 = std::env::args()
            .skip(1)
            .find(|arg| !arg.starts_with("--"))
            .and_then(|rows| rows.parse().ok())
            .expect("the number of rows, as the first argument");
        let text = std::env::var_os("TABLE_TEXT").is_some();
        let ids = match std::env::var("TABLE_IDS").as_deref() {
            Ok("uuid") => Ids::Uuid,
            Ok("short") | Err(_) => Ids::Short,
            Ok(other) => panic!("TABLE_IDS: `uuid` or `short`, not `{other}`"),
        };
        // With `TABLE_ROUNDS=r`, the steps are run `r` times, each round
        // timed (the changes alone, each made just before it is taken), and
        // the fastest and the median round printed: on a machine shared with
        // others, the fastest of many short rounds is what varies least.
        let rounds: u32 = std::env::var("TABLE_ROUNDS").map_or(1, |r| r.parse().expect("rounds"));
        let run = Run {
            rows,
            steps,
            rounds,
            text,
            ids,
        };
        match std::env::var("TABLE_FIELDS").as_deref() {
            Ok("7") => run.changes::<LoadRecord>(Fields::Seven),
            Ok("12") => run.changes::<WideRecord>(Fields::Twelve),
            Ok("12c") => run.changes::<CompactWideRecord>(Fields::Twelve),
            Ok("5") | Err(_) => run.changes::<Record>(Fields::Five),
            Ok(other) => panic!("TABLE_FIELDS: `5`, `7`, `12` or `12c`, not `{other}`"),
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
