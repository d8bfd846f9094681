//! Network benchmarks over loopback, server and clients in one process.
//!
//! - `server/snapshot`: `GET /live/quotes` of a 100-symbol board, 32 requests
//!   in flight from one reqwest client; throughput counts requests.
//! - `server/ws_fanout/{100,1000}`: that many WebSocket clients subscribed to
//!   one topic; 50 single-price updates published; the time until every
//!   client has received the last one. Throughput counts deliveries.
//!   Publish-to-receipt latency is measured apart, with updates paced one
//!   every 2 ms so that it shows the path of one update rather than the
//!   queue of a burst; its percentiles are printed (`latency p50 .. p99 ..`),
//!   since criterion reports means, not tails.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::{SinkExt, StreamExt, stream};
use live_resource::Hub;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn board() -> Value {
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

async fn serve(hub: Hub) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, live_resource::server::router(hub)).await });
    addr
}

fn snapshot(c: &mut Criterion) {
    const REQUESTS: u64 = 256;
    let runtime = runtime();
    let hub = Hub::new();
    hub.set("quotes", board()).unwrap();
    let addr = runtime.block_on(serve(hub));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/live/quotes");
    let mut group = c.benchmark_group("server");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    group.throughput(Throughput::Elements(REQUESTS));
    group.bench_function("snapshot", |b| {
        b.to_async(&runtime).iter(|| async {
            stream::iter(0..REQUESTS)
                .map(|_| async {
                    let response = client.get(&url).send().await.unwrap();
                    assert!(response.status().is_success());
                    response.bytes().await.unwrap().len()
                })
                .buffer_unordered(32)
                .count()
                .await
        })
    });
    group.finish();
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `count` clients subscribed to `bench` from version 0.
async fn subscribers(addr: SocketAddr, count: usize) -> Vec<Socket> {
    stream::iter(0..count)
        .map(|_| async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/live/ws"))
                .await
                .unwrap();
            let subscribe = json!({"type": "subscribe", "topic": "bench", "since": 0});
            socket
                .send(Message::Text(subscribe.to_string().into()))
                .await
                .unwrap();
            socket
        })
        .buffer_unordered(64)
        .collect()
        .await
}

/// What a client reads of each message: just enough to time it.
#[derive(serde::Deserialize)]
struct Received {
    #[serde(rename = "type")]
    kind: String,
    seq: Option<u64>,
    merge: Option<Sent>,
}

#[derive(serde::Deserialize)]
struct Sent {
    sent: u64,
}

/// Publishes `updates` timestamped prices, one per `pace` or as fast as it
/// can, and waits until every client has the last: the elapsed time, and
/// every delivery's latency.
async fn round(
    hub: &Hub,
    sockets: &mut [Socket],
    updates: u64,
    pace: Option<Duration>,
    epoch: Instant,
) -> (Duration, Vec<Duration>) {
    let base = hub.version("bench").unwrap();
    let last = base + updates;
    let readers: Vec<_> = sockets
        .iter_mut()
        .map(|socket| async move {
            let mut latencies = Vec::new();
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let received: Received = serde_json::from_str(&text).unwrap();
                let (Some(seq), Some(merge)) = (received.seq, received.merge) else {
                    continue;
                };
                if received.kind != "update" {
                    continue;
                }
                latencies.push(
                    epoch
                        .elapsed()
                        .saturating_sub(Duration::from_nanos(merge.sent)),
                );
                if seq == last {
                    break;
                }
            }
            latencies
        })
        .collect();
    let started = Instant::now();
    let publisher = async {
        for n in 1..=updates {
            let sent = epoch.elapsed().as_nanos() as u64;
            hub.merge("bench", json!({"sent": sent, "SYM042": {"price": n}}))
                .unwrap();
            match pace {
                Some(pace) => tokio::time::sleep(pace).await,
                None => tokio::task::yield_now().await,
            }
        }
    };
    let (_, latencies) = tokio::join!(publisher, futures::future::join_all(readers));
    (started.elapsed(), latencies.into_iter().flatten().collect())
}

fn ws_fanout(c: &mut Criterion) {
    const UPDATES: u64 = 50;
    let runtime = runtime();
    let epoch = Instant::now();
    let mut group = c.benchmark_group("server/ws_fanout");
    group
        .measurement_time(Duration::from_secs(8))
        .sample_size(10);
    for count in [100usize, 1000] {
        let hub = Hub::builder().subscriber_queue(4096).build();
        hub.set("bench", board()).unwrap();
        let addr = runtime.block_on(serve(hub.clone()));
        let mut sockets = runtime.block_on(subscribers(addr, count));
        runtime.block_on(async {
            // Every subscription is in place once a first update reaches all.
            round(&hub, &mut sockets, 1, None, epoch).await;
        });

        let paced = Some(Duration::from_millis(2));
        let (_, mut latencies) = runtime.block_on(round(&hub, &mut sockets, 200, paced, epoch));
        latencies.sort();
        let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        println!(
            "server/ws_fanout/{count}: latency p50 {:?} p99 {:?} over {} deliveries",
            percentile(50),
            percentile(99),
            latencies.len()
        );

        group.throughput(Throughput::Elements(UPDATES * count as u64));
        group.bench_function(BenchmarkId::from_parameter(count), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += round(&hub, &mut sockets, UPDATES, None, epoch).await.0;
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, snapshot, ws_fanout);
criterion_main!(benches);
