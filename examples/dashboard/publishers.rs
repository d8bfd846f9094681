//! What the dashboard's server publishes: each topic changes the way its kind
//! of data does in a real application.

use std::pin::Pin;
use std::time::Duration;

use live_resource::hub::Publish;
use serde_json::{Value, json};

pub(crate) const SYMBOLS: [(&str, f64); 6] = [
    ("AAPL", 189.5),
    ("AMZN", 178.2),
    ("GOOG", 141.8),
    ("MSFT", 410.0),
    ("NVDA", 120.3),
    ("TSLA", 248.6),
];

pub(crate) const CLIENTS: [&str; 2] = ["alice", "bob"];

/// How many lines the log console keeps: every topic of the example stays
/// bounded however long it runs.
pub(crate) const LOG_LINES_KEPT: usize = 50;

/// How many notifications each client's inbox keeps.
pub(crate) const NOTIFICATIONS_KEPT: usize = 20;

/// A small deterministic random walk, so runs look alike.
struct Walk(u64);

impl Walk {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % 2001) as f64 / 1000.0 - 1.0
    }
}

/// Makes the topics and starts changing them, on any hub: the in-process
/// `Hub`, or a `RedisHub` shared by several dashboards (`--redis URL`).
pub(crate) async fn start<P: Publish + Clone + 'static>(hub: &P) -> live_resource::Result<()> {
    let quotes: serde_json::Map<String, Value> = SYMBOLS
        .iter()
        .map(|(symbol, price)| (symbol.to_string(), json!({"price": price, "change": 0.0})))
        .collect();
    hub.set("quotes", &quotes).await?;
    hub.set(
        "activity",
        json!({"online": 0, "sessions": {"web": 0, "mobile": 0}}),
    )
    .await?;
    hub.set("log", json!({"lines": []})).await?;
    hub.set(
        "jobs/report",
        json!({"generated": 0, "total": 1000, "state": "running"}),
    )
    .await?;
    for client in CLIENTS {
        hub.set(
            &format!("clients/{client}/notifications"),
            json!({"items": []}),
        )
        .await?;
    }

    spawn_every(hub, Duration::from_millis(200), |hub, tick| {
        Box::pin(async move {
            // One price of one symbol per tick: subscribers get just that.
            let (symbol, base) = SYMBOLS[tick as usize % SYMBOLS.len()];
            let change = (Walk(tick).next() * 100.0).round() / 100.0;
            hub.merge(
                "quotes",
                json!({symbol: {"price": base + change, "change": change}}),
            )
            .await
        })
    });
    spawn_every(hub, Duration::from_secs(1), |hub, tick| {
        Box::pin(async move {
            let web = 40 + (tick * 7) % 25;
            let mobile = 20 + (tick * 3) % 15;
            hub.merge(
                "activity",
                json!({"online": web + mobile, "sessions": {"web": web, "mobile": mobile}}),
            )
            .await
        })
    });
    spawn_every(hub, Duration::from_millis(500), |hub, tick| {
        Box::pin(async move {
            // A console keeps its last lines: append and trim in one
            // change, made against the latest state.
            let line = format!("[{tick:>5}] generated batch {}", tick % 40);
            hub.update_at("log", "/lines", move |lines| {
                if let Some(lines) = lines.as_array_mut() {
                    lines.push(json!(line.clone()));
                    let excess = lines.len().saturating_sub(LOG_LINES_KEPT);
                    lines.drain(..excess);
                }
            })
            .await
        })
    });
    spawn_every(hub, Duration::from_millis(300), |hub, tick| {
        Box::pin(async move {
            let generated = (tick * 25) % 1100;
            if generated > 1000 {
                return hub.merge("jobs/report", json!({"state": "done"})).await;
            }
            let state = if generated == 1000 { "done" } else { "running" };
            hub.merge(
                "jobs/report",
                json!({"generated": generated, "state": state}),
            )
            .await
        })
    });
    spawn_every(hub, Duration::from_secs(2), |hub, tick| {
        Box::pin(async move {
            // Each client has a private topic: "emit to one client". Its
            // inbox keeps the last few: one change appends the new one and
            // drops the oldest, made against the latest state.
            let client = CLIENTS[tick as usize % CLIENTS.len()];
            let priority = ["low", "normal", "high"][tick as usize % 3];
            let item = json!({"id": tick, "priority": priority, "text": format!("message {tick} for {client}")});
            let topic = format!("clients/{client}/notifications");
            hub.update_at(&topic, "/items", move |items| {
                if let Some(items) = items.as_array_mut() {
                    items.push(item.clone());
                    let excess = items.len().saturating_sub(NOTIFICATIONS_KEPT);
                    items.drain(..excess);
                }
            })
            .await
        })
    });
    crate::records::start(hub).await?;
    Ok(())
}

type Change = Pin<Box<dyn Future<Output = live_resource::Result<u64>> + Send>>;

fn spawn_every<P: Publish + Clone + 'static>(
    hub: &P,
    period: Duration,
    mut change: impl FnMut(P, u64) -> Change + Send + 'static,
) {
    let hub = hub.clone();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(period);
        for tick in 1u64.. {
            timer.tick().await;
            if let Err(error) = change(hub.clone(), tick).await {
                eprintln!("publishing failed: {error}");
            }
        }
    });
}
