//! Hub benchmarks: the cost of one publish as subscribers are added, and
//! in-process fan-out, deliveries per second.
//!
//! - `hub/publish/{1,100,10000}`: one single-price merge published to a topic
//!   with that many subscriptions open. Each update is serialized once and
//!   shared, so the cost must stay flat as subscribers are added.
//! - `hub/fanout/{1,100,1000}`: 100 updates published and received by every
//!   subscriber, each a task on a multi-thread runtime; throughput counts
//!   deliveries (updates × subscribers).
//! - `hub/state/{merge,update,update_at,set}/{1KB,100KB,1MB}`: one price
//!   changed on a dashboard of that size (`benches/support`) by each of the
//!   hub's change methods. A merge and an `update_at` of the one quote must
//!   cost the same at every size; `update` and `set` work on the whole
//!   value, so they grow with it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use live_resource::Hub;
use live_resource::hub::Delivery;
use serde_json::json;

mod support;

fn board() -> serde_json::Value {
    let symbols: serde_json::Map<_, _> = (0..100)
        .map(|i| {
            (
                format!("SYM{i:03}"),
                json!({"price": 100.0 + f64::from(i), "volume": 1000}),
            )
        })
        .collect();
    symbols.into()
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub/publish");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for subscribers in [1usize, 100, 10_000] {
        let hub = Hub::builder().subscriber_queue(64).build();
        hub.set("quotes", board()).unwrap();
        // Open subscriptions that are not read: the publish must not care.
        let held: Vec<_> = (0..subscribers)
            .map(|_| hub.subscribe("quotes", None).unwrap())
            .collect();
        let mut tick = 0u64;
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter(|| {
                tick += 1;
                let price = 100.0 + (tick % 100) as f64 / 100.0;
                black_box(
                    hub.merge("quotes", json!({"SYM042": {"price": price}}))
                        .unwrap(),
                )
            })
        });
        drop(held);
    }
    group.finish();
}

fn fanout(c: &mut Criterion) {
    const UPDATES: u64 = 100;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("hub/fanout");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    for subscribers in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(UPDATES * subscribers as u64));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let hub = Hub::builder().subscriber_queue(256).build();
                        hub.set("quotes", board()).unwrap();
                        let readers: Vec<_> = (0..subscribers)
                            .map(|_| {
                                let mut subscription = hub.subscribe("quotes", None).unwrap();
                                tokio::spawn(async move {
                                    let mut received = 0u64;
                                    while let Some(delivery) = subscription.next().await {
                                        if let Delivery::Update(frame) = delivery {
                                            received += 1;
                                            if frame.seq() == UPDATES {
                                                break;
                                            }
                                        }
                                    }
                                    received
                                })
                            })
                            .collect();
                        let started = Instant::now();
                        for n in 1..=UPDATES {
                            hub.merge("quotes", json!({"SYM042": {"price": n}}))
                                .unwrap();
                            if n % 16 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                        for reader in readers {
                            black_box(reader.await.unwrap());
                        }
                        total += started.elapsed();
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

fn state(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub/state");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for (label, bytes) in [("1KB", 1 << 10), ("100KB", 100 << 10), ("1MB", 1 << 20)] {
        let board = support::dashboard(bytes);
        let middle = support::symbol(board.as_object().map_or(0, |board| board.len() / 2));
        let hub = Hub::new();
        hub.set("quotes", board.clone()).unwrap();
        let mut tick = 0u64;
        let mut price = move || {
            tick += 1;
            100.0 + (tick % 100) as f64 / 100.0
        };
        group.bench_function(BenchmarkId::new("merge", label), |b| {
            b.iter(|| {
                let patch = support::price_patch(&middle, price());
                black_box(hub.merge("quotes", patch).unwrap())
            })
        });
        group.bench_function(BenchmarkId::new("update", label), |b| {
            b.iter(|| {
                let next = json!(price());
                black_box(
                    hub.update("quotes", |board| board[&middle]["price"] = next)
                        .unwrap(),
                )
            })
        });
        let quote = format!("/{middle}");
        group.bench_function(BenchmarkId::new("update_at", label), |b| {
            b.iter(|| {
                let next = json!(price());
                black_box(
                    hub.update_at("quotes", &quote, |quote| quote["price"] = next)
                        .unwrap(),
                )
            })
        });
        let mut whole = board;
        group.bench_function(BenchmarkId::new("set", label), |b| {
            b.iter(|| {
                whole[&middle]["price"] = json!(price());
                black_box(hub.set("quotes", &whole).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, publish, fanout, state);
criterion_main!(benches);
