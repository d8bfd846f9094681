//! The server's metrics in Prometheus' text format at `GET /metrics`, beside
//! the live routes: `metrics-exporter-prometheus` installed as the recorder,
//! and its handle rendered by an axum route. A client follows a topic over
//! WebSocket while the hub publishes; at the end the example scrapes
//! `/metrics` as Prometheus would and prints this crate's lines.
//!
//! ```sh
//! cargo run --features full --example metrics              # runs for 3 seconds
//! cargo run --features full --example metrics -- --for 60  # scrape it yourself meanwhile
//! ```

use std::time::Duration;

use axum::routing::get;
use futures::StreamExt;
use live_resource::client::ws::WsClient;
use live_resource::{Hub, LiveResource};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;
use tokio::net::TcpListener;

fn run_for() -> Result<Duration, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(Duration::from_secs(3)),
        (Some("--for"), Some(seconds)) => seconds
            .parse()
            .map(Duration::from_secs)
            .map_err(|error| format!("--for {seconds}: {error}")),
        _ => Err("usage: metrics [--for SECONDS]".into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_for = run_for()?;

    // The recorder first: what is recorded before it is lost.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    live_resource::metrics::describe();

    let hub = Hub::new();
    hub.set("ticks", json!({"n": 0}))?;
    let app = live_resource::server::router(hub.clone()).route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("metrics at http://{addr}/metrics");
    tokio::spawn(live_resource::server::serve(listener, app).into_future());

    // A publisher, and a client that follows what it publishes.
    let publisher = hub.clone();
    tokio::spawn(async move {
        for n in 1.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = publisher.merge("ticks", json!({"n": n}));
        }
    });
    let client = WsClient::new(format!("ws://{addr}/live/ws"));
    let mut ticks = LiveResource::<serde_json::Value>::connect(client.source("ticks"));
    let follow = async {
        while let Some(item) = ticks.next().await {
            if let Ok(state) = item {
                println!("ticks    {state}");
            }
        }
    };
    let _ = tokio::time::timeout(run_for, follow).await;

    let scrape = reqwest::get(format!("http://{addr}/metrics"))
        .await?
        .text()
        .await?;
    for line in scrape.lines() {
        if line.starts_with("live_resource_") {
            println!("{line}");
        }
    }
    if !scrape.contains(r#"live_resource_updates_delivered_total{transport="ws"}"#) {
        return Err("the scrape shows no update delivered over WebSocket".into());
    }
    Ok(())
}
