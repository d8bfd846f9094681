//! Redis backplane benchmarks: publishes per second through a `RedisHub`,
//! against a `redis-server` the bench starts on a free loopback port (it
//! keeps nothing on disk).
//!
//! - `redis/publish/sequential`: one merge at a time, each awaited: the
//!   round trip and the script, per publish.
//! - `redis/publish/one-topic/{1,3}`: 256 publishers at once on one topic,
//!   from one node, or three nodes (a `RedisHub` each) sharing the work.
//! - `redis/publish/1000-topics`: 256 publishers at once, spread over 1,000
//!   topics.
//! - `redis/update/one-topic`: 3 nodes × 32 tasks incrementing one counter
//!   with `update` (compare-and-set, made again on conflict): changes that
//!   land, per second.
//!
//! Each merge is one price of a 100-symbol board, as in `benches/hub.rs`,
//! whose `hub/publish/1` is the in-process cost to compare with.
//!
//! ```sh
//! cargo bench --features redis --bench redis
//! ```

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use live_resource::redis::RedisHub;
use serde_json::json;

/// Publishes per measured iteration of the concurrent benchmarks.
const BATCH: u64 = 4096;
/// Publishers at once.
const CONCURRENCY: u64 = 256;

struct Server(Child, u16);

impl Server {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self(child, port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

/// `count` merges from `CONCURRENCY` tasks over `nodes`, on `topics`.
async fn publish_all(nodes: &[RedisHub], topics: &[String], count: u64) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let node = nodes[(task as usize) % nodes.len()].clone();
            let topics = topics.to_vec();
            tokio::spawn(async move {
                let mut n = task;
                while n < count {
                    let topic = &topics[(n as usize) % topics.len()];
                    let price = 100.0 + (n % 100) as f64 / 100.0;
                    node.merge(topic, json!({"SYM042": {"price": price}}))
                        .await
                        .unwrap();
                    n += CONCURRENCY;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn benches(c: &mut Criterion) {
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let connect = || runtime.block_on(RedisHub::connect(&server.url())).unwrap();
    let nodes = [connect(), connect(), connect()];
    let one = vec!["quotes".to_owned()];
    let many: Vec<String> = (0..1000).map(|i| format!("quotes/{i}")).collect();
    runtime.block_on(async {
        for topic in one.iter().chain(&many).chain(["counter".to_owned()].iter()) {
            nodes[0].set(topic, board()).await.unwrap();
        }
    });

    let mut group = c.benchmark_group("redis/publish");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    group.throughput(Throughput::Elements(1));
    let mut tick = 0u64;
    group.bench_function("sequential", |b| {
        b.to_async(&runtime).iter(|| {
            tick += 1;
            let price = 100.0 + (tick % 100) as f64 / 100.0;
            let node = nodes[0].clone();
            async move {
                node.merge("quotes", json!({"SYM042": {"price": price}}))
                    .await
                    .unwrap()
            }
        });
    });
    group.throughput(Throughput::Elements(BATCH));
    for count in [1usize, 3] {
        group.bench_function(BenchmarkId::new("one-topic", count), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(publish_all(&nodes[..count], &one, BATCH * iterations))
            });
        });
    }
    group.bench_function("1000-topics", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(publish_all(&nodes, &many, BATCH * iterations))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("redis/update");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    let changes = 256u64;
    group.throughput(Throughput::Elements(changes));
    group.bench_function("one-topic", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                let per_task = changes * iterations / 96;
                let tasks: Vec<_> = (0..96)
                    .map(|task| {
                        let node = nodes[task % 3].clone();
                        tokio::spawn(async move {
                            for _ in 0..per_task.max(1) {
                                node.update("counter", |board| {
                                    let volume = board["SYM000"]["volume"].as_u64().unwrap();
                                    board["SYM000"]["volume"] = json!(volume + 1);
                                })
                                .await
                                .unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(redis, benches);
criterion_main!(redis);
