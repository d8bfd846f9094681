//! The server a NestJS team would write first, in Rust: a job's progress and
//! an orders table published as typed values, per-user topics behind a token,
//! CORS and live connections for one named front-end origin, bounded
//! connections and a graceful shutdown; and a typed client that prints its
//! status while the server restarts under it.
//!
//! ```sh
//! cargo run --all-features --example gateway            # runs for 6 seconds
//! cargo run --all-features --example gateway -- --for 20
//! ```
//!
//! Halfway through, the server stops and a new one (a new process would do
//! the same: a new hub, its versions from the clock) starts on the same
//! address. The client shows `Reconnecting`, then `Resyncing` (its version
//! belongs to the old history, so it takes a new snapshot), then `Live`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use live_resource::client::ws::WsClient;
use live_resource::server::{self, Config, OwnedTopics};
use live_resource::{Backoff, Hub, LiveResource, Status};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

/// The front end allowed to read the live routes from a browser.
const FRONT_END: &str = "http://localhost:4200";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Job {
    done: u32,
    total: u32,
    state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Order {
    item: String,
    quantity: u32,
    status: String,
}

/// A partial change of a job: what a progress event carries.
#[derive(Serialize)]
struct Progress {
    done: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
}

/// The user a request's `Authorization: Bearer ..` token stands for. A real
/// server verifies a signed token or looks the session up; never does it
/// take a user name from the client as it is.
fn user_of(request: &axum::http::request::Parts) -> Option<String> {
    let token = request
        .headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let sessions = BTreeMap::from([("t0k3n-alice", "alice"), ("t0k3n-bob", "bob")]);
    sessions.get(token).map(|user| (*user).to_owned())
}

/// The server: its hub's topics over HTTP, SSE and WebSocket at `/live`.
async fn start_server(listener: TcpListener) -> (Hub, tokio::sync::oneshot::Sender<()>) {
    // Versions from the clock (the default, said here for the reader): a
    // client resuming across a restart is sent to a new snapshot instead of
    // being replayed another history's updates.
    let hub = Hub::builder().versions_from_clock().build();
    hub.set(
        "jobs/42",
        Job {
            done: 0,
            total: 100,
            state: "running".into(),
        },
    )
    .expect("a new topic");
    hub.set("users/alice/orders", BTreeMap::<String, Order>::new())
        .expect("a new topic");

    let config = Config::default()
        .authorize(OwnedTopics::new("users/", user_of))
        .allowed_origins([FRONT_END]);
    let cors = CorsLayer::new()
        .allow_origin([FRONT_END.parse().expect("an origin is a header value")])
        .allow_headers([axum::http::header::AUTHORIZATION])
        .allow_credentials(true);
    let app = server::router_with(hub.clone(), config).layer(cors);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        server::serve(listener, app)
            .max_connections(1_000)
            .shutdown_timeout(Duration::from_millis(200))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    (hub, stop)
}

/// What the application does: progress on the job, and orders coming in.
async fn publish(hub: Hub) {
    for tick in 1..=u32::MAX {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let done = (tick * 5).min(100);
        let state = (done == 100).then_some("done");
        if hub.merge("jobs/42", Progress { done, state }).is_err() {
            return;
        }
        if tick % 3 == 0 {
            let order = Order {
                item: format!("widget-{tick}"),
                quantity: tick % 7 + 1,
                status: "placed".into(),
            };
            // A table: one row per key, a change costs its row.
            let row = BTreeMap::from([(format!("order-{tick}"), order)]);
            let _ = hub.merge("users/alice/orders", row);
        }
    }
}

/// The client: alice's app, following the job and her orders over one
/// WebSocket connection, printing each change and each status.
async fn follow(addr: SocketAddr) {
    let client =
        WsClient::new(format!("ws://{addr}/live/ws")).header("authorization", "Bearer t0k3n-alice");
    let backoff = Backoff::default()
        .initial(Duration::from_millis(100))
        .max(Duration::from_secs(1));
    let mut job = LiveResource::<Job>::connect(client.source("jobs/42")).backoff(backoff.clone());
    let mut orders =
        LiveResource::<BTreeMap<String, Order>>::connect(client.source("users/alice/orders"))
            .backoff(backoff);
    let mut status = job.status();
    let mut last = Status::Connecting;
    loop {
        tokio::select! {
            Some(item) = job.next() => match item {
                Ok(job) => println!("job      {}/{} {}", job.done, job.total, job.state),
                Err(error) => println!("job      ({error})"),
            },
            Some(item) = orders.next() => match item {
                Ok(orders) => println!("orders   {} placed", orders.len()),
                Err(error) => println!("orders   ({error})"),
            },
            Ok(()) = status.changed() => {
                let now = status.borrow_and_update().clone();
                if now != last {
                    println!("status   {now:?}");
                    last = now;
                }
            }
            else => return,
        }
    }
}

fn run_for() -> Result<Duration, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(Duration::from_secs(6)),
        (Some("--for"), Some(seconds)) => seconds
            .parse()
            .map(Duration::from_secs)
            .map_err(|error| format!("--for {seconds}: {error}")),
        _ => Err("usage: gateway [--for SECONDS]".into()),
    }
}

#[tokio::main]
async fn main() {
    let run_for = match run_for() {
        Ok(run_for) => run_for,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("listening on http://{addr}");
    let (hub, stop) = start_server(listener).await;
    let publisher = tokio::spawn(publish(hub));
    tokio::spawn(follow(addr));

    // Halfway: the server goes away, and a new one takes its place.
    tokio::time::sleep(run_for / 2).await;
    println!("-- restarting the server --");
    publisher.abort();
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let listener = TcpListener::bind(addr)
        .await
        .expect("the same address again");
    let (hub, _stop) = start_server(listener).await;
    tokio::spawn(publish(hub));

    tokio::time::sleep(run_for / 2).await;
}
