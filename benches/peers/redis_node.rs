//! One node of live-resource's two-node Redis benchmark (`fanout cluster`,
//! run by `bash benches/peers/run.sh`): a `RedisHub` on the Redis at
//! `$REDIS_URL`, its local replica served by `live_resource::server::router`
//! (WebSocket at /live/ws), plus `GET /bench/publish?count=M&pace_us=P` as
//! in `fanout serve`, which publishes M single-price merges of topic
//! `quotes` through Redis, each stamped with the wall clock (µs).
//!
//! The node with `NODE_INDEX=0` makes the topic (the dashboard of BYTES,
//! default 1 KB) before it prints its port; the others load it from Redis
//! when their first client asks for it. Listens on 127.0.0.1 port 0, prints
//! {"port":..,"pid":..}, exits after 15 minutes at most.
//!
//! `NODE_WORKERS=N` sets its runtime's worker threads (default: one per
//! core). `run.sh` gives each of its two nodes one (`REDIS_NODE_WORKERS`):
//! two nodes on two cores, as two Node.js processes are.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 NODE_INDEX=0 [NODE_WORKERS=1] redis_node [BYTES]
//! ```

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use live_resource::redis::RedisHub;
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

const TOPIC: &str = "quotes";
const STATE_BYTES: usize = 1 << 10;
const LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Merges of a burst in flight at once: Redis numbers them in the order
/// they are sent on the one connection, so they stay in order.
const IN_FLIGHT: usize = 64;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

#[derive(serde::Deserialize)]
struct Publish {
    count: u64,
    #[serde(default)]
    pace_us: u64,
}

fn main() -> Result<(), Error> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Ok(workers) = std::env::var("NODE_WORKERS") {
        runtime.worker_threads(workers.parse()?);
    }
    runtime.enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").map_err(|_| "redis_node: set REDIS_URL")?;
    let index: u32 = std::env::var("NODE_INDEX").map_or(Ok(0), |index| index.parse())?;
    let bytes = std::env::args()
        .nth(1)
        .map_or(Ok(STATE_BYTES), |bytes| bytes.parse())?;
    let board = support::dashboard(bytes);
    let symbol = support::symbol(board.as_object().map_or(0, |board| board.len() / 2));

    let redis = RedisHub::connect(&url).await?;
    if index == 0 {
        redis.set(TOPIC, board).await?;
    }

    let publisher = redis.clone();
    let publish = move |axum::extract::Query(publish): axum::extract::Query<Publish>| async move {
        let patch = |n: u64| {
            let price = 100.0 + (n % 100) as f64 / 100.0;
            json!({ &symbol: { "price": price, "ts": now_us() } })
        };
        let published = if publish.pace_us == 0 {
            futures::stream::iter(0..publish.count)
                .map(|n| publisher.merge(TOPIC, patch(n)))
                .buffered(IN_FLIGHT)
                .try_for_each(|_| async { Ok(()) })
                .await
        } else {
            let started = tokio::time::Instant::now();
            let pace = Duration::from_micros(publish.pace_us);
            let mut published = Ok(());
            for n in 0..publish.count {
                tokio::time::sleep_until(started + pace * n as u32).await;
                if let Err(error) = publisher.merge(TOPIC, patch(n)).await {
                    published = Err(error);
                    break;
                }
            }
            published
        };
        match published {
            Ok(()) => format!("published {}", publish.count),
            Err(error) => format!("publish failed: {error}"),
        }
    };
    let app = live_resource::server::router(redis.hub().clone())
        .route("/bench/publish", axum::routing::get(publish));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("{}", json!({"port": port, "pid": std::process::id()}));
    tokio::select! {
        served = axum::serve(listener, app).into_future() => served?,
        () = tokio::time::sleep(LIFETIME) => eprintln!("redis_node: lifetime of {LIFETIME:?} is over"),
    }
    // The hub lives until here: its replica serves only while it does.
    drop(redis);
    Ok(())
}
