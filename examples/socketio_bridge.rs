//! A bridge from an existing Socket.IO gateway to live-resource.
//!
//! Many apps already have a gateway (NestJS, Node) that emits bare partial
//! objects over Socket.IO, `socket.emit("stats", {online: 12})`, beside a
//! REST endpoint for the whole resource. This service consumes both as one
//! typed `LiveResource<Stats>` (the client in legacy mode: partials merged
//! in arrival order on the REST snapshot, a new snapshot after each
//! reconnect), and republishes it through a `Hub`, with `seq`, resume and
//! resync, over HTTP, SSE, WebSocket and Socket.IO.
//!
//! Run it standalone: it starts a small gateway of its own (socketioxide
//! emitting partials, plus the REST route), bridges it, follows the
//! republished topic as a downstream client would, and prints the states.
//!
//! ```sh
//! cargo run --example socketio_bridge --features socketio,socketio-client,http
//! ```
//!
//! Point it at a real gateway with `GATEWAY=http://127.0.0.1:3000` (events
//! named `stats`, REST at `/api/stats`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use futures::StreamExt;
use live_resource::client::http::HttpSnapshot;
use live_resource::client::socketio::SocketIoClient;
use live_resource::socketio::socketioxide::SocketIo;
use live_resource::{Hub, LiveResource, Patch};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The gateway's resource.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct Stats {
    online: u32,
    rooms: BTreeMap<String, u32>,
}

/// How many changes the demo gateway makes before the demo ends.
const TICKS: u32 = 12;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = match std::env::var("GATEWAY") {
        Ok(url) => url,
        Err(_) => demo_gateway().await?,
    };
    println!("gateway: {gateway}");

    // The bridge: the gateway's partials on its REST snapshot, typed.
    let source = SocketIoClient::new(&gateway)
        .event("stats")
        .with_snapshot(HttpSnapshot::rest(&format!("{gateway}/api/stats")));
    let mut stats = LiveResource::<Stats>::connect(source);

    // Republished: every state goes into the hub, which numbers the changes
    // and sends each subscriber the smallest patch.
    let hub = Hub::new();
    let (socketio, _io) = live_resource::socketio::layer(hub.clone());
    let app = live_resource::server::router(hub.clone()).layer(socketio);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let republished = format!("http://{}", listener.local_addr()?);
    tokio::spawn(live_resource::server::serve(listener, app).into_future());
    println!("republished: {republished}/live/stats (also SSE, WebSocket and Socket.IO)");

    let bridge = tokio::spawn({
        let hub = hub.clone();
        async move {
            while let Some(state) = stats.next().await {
                match state {
                    Ok(state) => {
                        println!("bridge     {state:?}");
                        let version = hub.set("stats", serde_json::to_value(&state)?)?;
                        println!("           republished as version {version}");
                    }
                    // Reported, and recovered from by the resource itself.
                    Err(error) => eprintln!("bridge     {error}"),
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
    });

    // A downstream service, over Socket.IO envelopes this time: with `seq`.
    while hub.version("stats").is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let downstream = SocketIoClient::new(&republished).topic("stats");
    let mut mirror = LiveResource::<Stats>::connect(downstream);
    let demo = tokio::time::timeout(
        Duration::from_millis(u64::from(TICKS) * 300 + 1500),
        async {
            while let Some(state) = mirror.next().await {
                println!("downstream {:?} at version {:?}", state?, mirror.version());
            }
            Ok::<_, live_resource::Error>(())
        },
    );
    match demo.await {
        Ok(result) => result?,
        Err(_) => println!("demo over"),
    }
    bridge.abort();
    Ok(())
}

/// A gateway as many apps have one: a Socket.IO server that emits each
/// change as a bare partial object, and a REST route with the whole.
async fn demo_gateway() -> Result<String, Box<dyn std::error::Error>> {
    let state = Arc::new(Mutex::new(json!({"online": 10, "rooms": {"lobby": 10}})));
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async || {});
    let rest = {
        let state = Arc::clone(&state);
        get(move || async move { axum::Json(state.lock().unwrap().clone()) })
    };
    let app = axum::Router::new().route("/api/stats", rest).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    tokio::spawn(async move {
        for tick in 1..=TICKS {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let partial = match tick % 3 {
                0 => json!({"online": 10 + tick}),
                1 => json!({"rooms": {format!("room{tick}"): tick}}),
                _ => json!({"rooms": {format!("room{}", tick - 1): null}}),
            };
            let changed = Patch::Merge(partial.clone().into()).apply(&mut state.lock().unwrap());
            if changed.is_ok() {
                println!("gateway    emits {partial}");
                io.emit("stats", &partial).await.ok();
            }
        }
    });
    Ok(url)
}
