//! Merge benchmarks: the cost of one small merge patch on a large state.
//!
//! The design promises that cost follows the patch, not the document: setting
//! one price on a 1 MB dashboard should cost about what it costs on a 1 KB one.
//! Each benchmark keeps one document for all its iterations and mutates it in
//! place, alternating between two prices so that every merge really writes.
//!
//! - `merge/small_patch/*`: [`live_resource::patch::merge`] on a
//!   `serde_json::Value` and [`Document::merge`] (the state a `LiveResource`
//!   keeps) against [`json_patch::merge`], and
//!   [`live_resource::patch::merge_owned`] (which consumes a fresh copy of the
//!   patch each time; `patch_clone` is that copy alone). `lookup_floor` does
//!   by hand what any merge of the patch must: find the symbol, find its
//!   price, write it; what `document` costs beyond it is the merge's own.
//! - `wire/parse_apply/*`: from update text to applied state, ours through
//!   [`Limits::parse_update`] and [`Patch::apply_owned`](live_resource::Patch::apply_owned)
//!   onto a `Value`, into a [`Document`] (`document`), or read lazily into a
//!   `Document` as the transports of a `LiveResource` do
//!   ([`Limits::parse_update_lazy`], `document_lazy`); the peer through
//!   `serde_json::from_slice` and `json_patch::merge`.
//! - `wire/shapes/{shape}/{path}/*`: the same, for three shapes of patch
//!   users send, each on the middle symbol: `price` (`{"SYM..":{"price":..}}`),
//!   `price_ts` (a price and a timestamp) and `quote_ts` (price, change,
//!   volume and a timestamp). `baseline` is `serde_json::from_slice` and
//!   `json_patch::merge` on a `Value`, `strict` [`Update::from_slice`] and
//!   [`Document::apply_owned`], `lazy` [`Limits::parse_update_lazy`] and the
//!   same apply. The `batch12`, `batch50` and `batch190` shapes are the
//!   `quote_ts` patch of that many symbols around the middle in one update
//!   (about 1, 4 and 15 KB), on the dashboards that have as many.
//!
//! Instruction counts: with `MERGE_STEPS=n` in the environment, the binary
//! runs the one case named by its first argument (`wire/shapes/quote_ts/strict/1MB`)
//! `n` times and exits, for `valgrind --tool=callgrind`; two runs of `n` and
//! `2n` steps give the instructions of one step as their difference over `n`
//! (benches/peers/RESULTS.md says how).

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group};
use live_resource::{Document, Limits, Update};
use serde_json::Value;

/// The dashboard sizes measured, as (label, approximate bytes of compact JSON).
const SIZES: [(&str, usize); 3] = [("1KB", 1 << 10), ("100KB", 100 << 10), ("1MB", 1 << 20)];

/// A dashboard of about `bytes`, and the two patches that set the price of
/// its middle symbol.
fn fixture(bytes: usize) -> (Value, [Value; 2]) {
    let doc = support::dashboard(bytes);
    let middle = support::symbol(board_len(&doc) / 2);
    let patches = [1.23, 4.56].map(|price| support::price_patch(&middle, price));
    (doc, patches)
}

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    group
}

fn small_patch(c: &mut Criterion) {
    let mut group = configure(c, "merge/small_patch");
    for (label, bytes) in SIZES {
        let (doc, patches) = fixture(bytes);

        let mut target = doc.clone();
        let mut turn = 0;
        group.bench_function(format!("live_resource/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                live_resource::patch::merge(black_box(&mut target), black_box(&patches[turn]));
            });
        });

        let mut target = doc.clone();
        group.bench_function(format!("json_patch/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                json_patch::merge(black_box(&mut target), black_box(&patches[turn]));
            });
        });

        let mut document = Document::from(&doc);
        group.bench_function(format!("document/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                black_box(&mut document).merge(black_box(&patches[turn]));
            });
        });

        // The floor under any merge of this patch into this document: its
        // two lookups and its write, by hand. `document` minus this is what
        // the merge itself costs.
        let mut document = Document::from(&doc);
        let symbol = patches[0].as_object().and_then(|patch| patch.keys().next());
        let symbol = symbol.expect("a one-symbol patch").clone();
        let prices = patches.clone().map(|patch| patch[&symbol]["price"].clone());
        let prices = prices.map(|price| price.as_number().expect("a price").clone());
        group.bench_function(format!("lookup_floor/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let Document::Object(board) = black_box(&mut document) else {
                    unreachable!("the dashboard is an object")
                };
                let quote = board.get_mut(black_box(&symbol));
                let Some(Document::Object(quote)) = quote else {
                    unreachable!("every symbol has a quote")
                };
                let price = quote.get_mut(black_box("price")).expect("a price");
                *price = Document::Number(prices[turn].clone());
            });
        });

        // The owned form consumes its patch, so each iteration clones one:
        // `patch_clone` measures that copy alone, to subtract.
        let mut target = doc;
        group.bench_function(format!("live_resource_owned/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let patch = black_box(&patches[turn]).clone();
                live_resource::patch::merge_owned(black_box(&mut target), patch);
            });
        });
        group.bench_function(format!("patch_clone/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                black_box(patches[turn].clone())
            });
        });
    }
    group.finish();
}

fn parse_apply(c: &mut Criterion) {
    let mut group = configure(c, "wire/parse_apply");
    let limits = Limits::default();
    for (label, bytes) in SIZES {
        let (doc, patches) = fixture(bytes);
        let texts = [(17, &patches[0]), (18, &patches[1])]
            .map(|(seq, patch)| format!(r#"{{"seq":{seq},"merge":{patch}}}"#).into_bytes());

        let mut target = doc.clone();
        let mut turn = 0;
        group.bench_function(format!("live_resource/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let update = limits.parse_update(black_box(&texts[turn])).unwrap();
                update.patch.apply_owned(black_box(&mut target)).unwrap();
            });
        });

        let mut document = Document::from(&doc);
        group.bench_function(format!("document/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let update = limits.parse_update(black_box(&texts[turn])).unwrap();
                black_box(&mut document).apply_owned(update.patch).unwrap();
            });
        });

        let mut document = Document::from(&doc);
        let strings = texts
            .clone()
            .map(|text| String::from_utf8(text).expect("JSON text"));
        group.bench_function(format!("document_lazy/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let update = limits.parse_update_lazy(black_box(&strings[turn])).unwrap();
                black_box(&mut document).apply_owned(update.patch).unwrap();
            });
        });

        let mut target = doc;
        group.bench_function(format!("json_patch/{label}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let message: Value = serde_json::from_slice(black_box(&texts[turn])).unwrap();
                json_patch::merge(black_box(&mut target), &message["merge"]);
            });
        });
    }
    group.finish();
}

/// The ways from update text to applied state compared for each shape.
const PATHS: [&str; 3] = ["baseline", "strict", "lazy"];

/// One step of a `wire/shapes` case: read the next update and apply it.
type Step = Box<dyn FnMut()>;

/// The case `path` for `shape` on a dashboard of about `bytes`: its step,
/// which alternates between the two updates of the shape.
fn shape_step(shape: &'static str, path: &str, bytes: usize) -> Step {
    let doc = support::dashboard(bytes);
    let middle = support::symbol(board_len(&doc) / 2);
    let batch = support::BATCHES
        .into_iter()
        .find(|(name, _)| *name == shape)
        .map(|(_, count)| {
            let first = board_len(&doc) / 2 - count / 2;
            (first..first + count)
                .map(support::symbol)
                .collect::<Vec<_>>()
        });
    let texts = [17, 18].map(|seq| {
        let turn = usize::from(seq == 18);
        let patch = match &batch {
            Some(symbols) => support::batch_patch(symbols, turn),
            None => support::shape_patch(shape, &middle, turn),
        };
        format!(r#"{{"seq":{seq},"merge":{patch}}}"#)
    });
    let mut turn = 0;
    match path {
        "baseline" => {
            let mut target = doc;
            let texts = texts.map(String::into_bytes);
            Box::new(move || {
                turn ^= 1;
                let message: Value = serde_json::from_slice(black_box(&texts[turn])).unwrap();
                json_patch::merge(black_box(&mut target), &message["merge"]);
            })
        }
        "strict" => {
            let mut document = Document::from(doc);
            let texts = texts.map(String::into_bytes);
            Box::new(move || {
                turn ^= 1;
                let update = Update::from_slice(black_box(&texts[turn])).unwrap();
                black_box(&mut document).apply_owned(update.patch).unwrap();
            })
        }
        "lazy" => {
            let mut document = Document::from(doc);
            let limits = Limits::default();
            Box::new(move || {
                turn ^= 1;
                let update = limits.parse_update_lazy(black_box(&texts[turn])).unwrap();
                black_box(&mut document).apply_owned(update.patch).unwrap();
            })
        }
        _ => unreachable!("one of PATHS"),
    }
}

/// How many symbols a dashboard has.
fn board_len(doc: &Value) -> usize {
    doc.as_object().map_or(0, serde_json::Map::len)
}

/// Every `wire/shapes` case: its name under the group, and how to make it.
/// A batch is measured only on the dashboards that have all its symbols.
fn shape_cases() -> impl Iterator<Item = (String, impl Fn() -> Step)> {
    SIZES.into_iter().flat_map(|(label, bytes)| {
        let symbols = board_len(&support::dashboard(bytes));
        let batches = support::BATCHES
            .into_iter()
            .filter(move |(_, count)| *count <= symbols)
            .map(|(name, _)| name);
        support::SHAPES
            .into_iter()
            .chain(batches)
            .flat_map(move |shape| {
                PATHS.into_iter().map(move |path| {
                    let case = format!("{shape}/{path}/{label}");
                    (case, move || shape_step(shape, path, bytes))
                })
            })
    })
}

fn shapes(c: &mut Criterion) {
    let mut group = configure(c, "wire/shapes");
    for (case, make) in shape_cases() {
        let mut step = make();
        group.bench_function(case, |b| b.iter(&mut step));
    }
    group.finish();
}

criterion_group!(benches, small_patch, parse_apply, shapes);

fn main() {
    if let Ok(steps) = std::env::var("MERGE_STEPS") {
        let steps: usize = steps.parse().expect("MERGE_STEPS: a number of steps");
        let name = std::env::args()
            .skip(1)
            .find(|arg| !arg.starts_with("--"))
            .expect("the case to run, as wire/shapes/{shape}/{path}/{size}");
        let case = name.strip_prefix("wire/shapes/").unwrap_or(&name);
        let (_, make) = shape_cases()
            .find(|(known, _)| known == case)
            .unwrap_or_else(|| panic!("no case {name}"));
        let mut step = make();
        for _ in 0..steps {
            step();
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
