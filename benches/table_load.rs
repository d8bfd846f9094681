//! A table's initial load, end to end over the WebSocket transport: a hub
//! holding 100,000 rows of about 200 bytes (20 MB of JSON) served on
//! loopback, and a `LiveCollection` that connects, takes the snapshot and
//! decodes every row, until its first event (the reset with every row).
//! Before the timed runs, a few loads polled by hand, over WebSocket, over
//! SSE (its snapshot fetched over HTTP) and in process (`Hub::source`),
//! print their longest poll
//! (what the consumer's task stalls for at most) and their 99th
//! percentile.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::collection::LiveCollection;
use live_resource::{Hub, Limits};
use serde_json::{Map, Value, json};

#[path = "support/load_rows.rs"]
mod load_rows;
use load_rows::LoadRecord;

const ROWS: u64 = 100_000;

/// Loads polled by hand, each printing its longest poll.
const LOADS_BY_HAND: usize = 5;

fn initial_load(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let limits = Limits::default().max_message_bytes(64 << 20);
    let hub = Hub::builder().limits(limits.clone()).build();
    let rows: Map<String, Value> = (0..ROWS)
        .map(|n| {
            let id = format!("r{n:07}");
            let record = json!({"id": id, "status": "processing", "value": n as f64 / 7.0,
                "created_ms": 1_700_000_000_000u64 + n, "updated_ms": 1_700_000_000_000u64 + n,
                "owner": load_rows::owner(n), "note": load_rows::NOTE});
            (id, record)
        })
        .collect();
    let bytes = serde_json::to_vec(&rows).unwrap().len();
    hub.set("records", rows).unwrap();
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = live_resource::server::Config::default().limits(limits.clone());
        let app = live_resource::server::router_with(hub.clone(), config);
        tokio::spawn(live_resource::server::serve(listener, app).into_future());
        addr
    });
    // A few loads polled by hand, over WebSocket (the snapshot on the
    // update stream), over SSE (the snapshot fetched over HTTP) and from
    // the hub in the same process (its own text of the state): the
    // machine's other work shows in one load's longest poll, so each is
    // printed.
    for transport in ["ws", "sse", "in process"] {
        for _ in 0..LOADS_BY_HAND {
            runtime.block_on(async {
                let mut table = match transport {
                    "ws" => {
                        let client =
                            WsClient::new(format!("ws://{addr}/live/ws")).limits(limits.clone());
                        LiveCollection::<String, LoadRecord>::connect(client.source("records"))
                    }
                    "sse" => LiveCollection::connect(
                        SseSource::new(&format!("http://{addr}"), "records").limits(limits.clone()),
                    ),
                    _ => LiveCollection::connect(hub.source("records")),
                };
                by_hand(transport, &mut table).await;
            });
        }
    }
    let mut group = c.benchmark_group("tables/initial_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(format!("ws_{ROWS}_rows_{}_mb", bytes >> 20), |b| {
        b.to_async(&runtime).iter(|| async {
            let client = WsClient::new(format!("ws://{addr}/live/ws")).limits(limits.clone());
            let mut table = LiveCollection::<String, LoadRecord>::connect(client.source("records"));
            let first = table.next().await.unwrap().unwrap();
            assert_eq!(first.changes().len(), ROWS as usize);
        })
    });
    group.finish();
}

/// Takes `table` to its first event, timing each poll, and prints the
/// load's time, its longest poll (and which) and its 99th percentile.
async fn by_hand(transport: &str, table: &mut LiveCollection<String, LoadRecord>) {
    let mut polls = Vec::new();
    let started = Instant::now();
    let first = std::future::poll_fn(|cx| {
        let at = Instant::now();
        let poll = table.poll_next_unpin(cx);
        polls.push(at.elapsed());
        poll
    })
    .await;
    let took = started.elapsed();
    assert_eq!(first.unwrap().unwrap().changes().len(), ROWS as usize);
    // Which poll was the longest: the first opens the connection.
    let (longest, at) = polls
        .iter()
        .zip(0usize..)
        .max()
        .unwrap_or((&Duration::ZERO, 0));
    let longest = format!("{longest:?} (poll {at})");
    polls.sort();
    let p99 = polls[polls.len() * 99 / 100];
    let count = polls.len();
    eprintln!(
        "initial load of {ROWS} rows over {transport}: {took:?} in {count} polls, the longest {longest}, p99 {p99:?}"
    );
}

criterion_group!(benches, initial_load);
criterion_main!(benches);
