//! `LiveResource` benchmarks: updates per second, end to end.
//!
//! A snapshot of the 100 KB dashboard and 10,000 sequenced updates, each
//! setting one symbol's price, are drained to the end on a current-thread
//! tokio runtime. Measured for a small typed view (`Watch`, two prices out of
//! hundreds of symbols) and for `serde_json::Value`, both conflated (the
//! default: one state decoded per batch of ready updates) and with
//! `every_state` (one state decoded per update).

mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, stream};
use live_resource::{LiveResource, Snapshot, Update};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::runtime::Runtime;

const UPDATES: u64 = 10_000;

/// What a typical widget reads from the dashboard: two prices; every other
/// symbol and field is skipped.
#[derive(Debug, Deserialize)]
struct Watch {
    #[serde(rename = "SYM00000", default)]
    first: Price,
    #[serde(rename = "SYM00001", default)]
    second: Price,
}

#[derive(Debug, Default, Deserialize)]
struct Price {
    #[serde(default)]
    price: f64,
}

/// The price update `seq` sets, on symbol `seq % symbols`.
fn price(seq: u64) -> f64 {
    seq as f64 / 100.0
}

/// The snapshot at version 0 and updates 1..=[`UPDATES`], cycling through the symbols.
fn inputs(doc: &Value) -> (Snapshot, Vec<Update>) {
    let symbols = doc.as_object().map_or(1, serde_json::Map::len) as u64;
    let updates = (1..=UPDATES)
        .map(|seq| {
            let symbol = support::symbol((seq % symbols) as usize);
            Update::merge(seq, support::price_patch(&symbol, price(seq)))
        })
        .collect();
    (Snapshot::new(0, doc.clone()), updates)
}

/// Drains a resource to its end: how many states it emitted, and the last.
async fn drain<T: DeserializeOwned>(
    (snapshot, updates): (Snapshot, Vec<Update>),
    every_state: bool,
) -> (u64, Option<T>) {
    let updates = stream::iter(updates.into_iter().map(Ok::<_, Infallible>));
    let mut resource = LiveResource::<T>::new(async { Ok::<_, Infallible>(snapshot) }, updates);
    if every_state {
        resource = resource.every_state();
    }
    let (mut states, mut last) = (0, None);
    while let Some(state) = resource.next().await {
        states += 1;
        last = Some(black_box(state.expect("every update applies and decodes")));
    }
    (states, last)
}

/// Benchmarks draining into `T`, after checking once that every update
/// arrived: `last_prices` reads the prices of `SYM00000` and `SYM00001` from
/// the final state.
fn bench_drain<T: DeserializeOwned>(
    c: &mut Criterion,
    runtime: &Runtime,
    doc: &Value,
    name: &str,
    last_prices: fn(&T) -> [f64; 2],
) {
    let symbols = doc.as_object().map_or(1, serde_json::Map::len) as u64;
    let last_seq = |symbol: u64| UPDATES - (UPDATES + symbols - symbol) % symbols;
    let mut group = c.benchmark_group("resource/drain_100KB");
    group
        .throughput(Throughput::Elements(UPDATES))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    for (mode, every_state) in [("conflated", false), ("every_state", true)] {
        let (states, last) = runtime.block_on(drain::<T>(inputs(doc), every_state));
        let last = last.expect("the snapshot is a state");
        assert_eq!(last_prices(&last), [price(last_seq(0)), price(last_seq(1))]);
        if every_state {
            assert_eq!(states, UPDATES + 1, "the snapshot and one state per update");
        }

        group.bench_function(format!("{name}/{mode}"), |b| {
            b.iter_batched(
                || inputs(doc),
                |inputs| runtime.block_on(drain::<T>(inputs, every_state)),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn resource(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    let doc = support::dashboard(100 << 10);
    bench_drain::<Watch>(c, &runtime, &doc, "typed", |watch| {
        [watch.first.price, watch.second.price]
    });
    bench_drain::<Value>(c, &runtime, &doc, "value", |value| {
        ["SYM00000", "SYM00001"].map(|symbol| value[symbol]["price"].as_f64().unwrap_or(f64::NAN))
    });
}

criterion_group!(benches, resource);
criterion_main!(benches);
