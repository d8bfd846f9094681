//! A hub and typed consumers in one process, no network: a record-generation
//! job reporting its progress, and a finance quote board shared by two
//! screens, one of which joins late.
//!
//! Run it with `cargo run --example in_process`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use live_resource::{Hub, LiveResource};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Job {
    generated: u32,
    total: u32,
    state: String,
}

#[derive(Debug, Deserialize)]
struct Quote {
    price: f64,
    change: f64,
}

type Board = BTreeMap<String, Quote>;

const SYMBOLS: [(&str, f64); 3] = [("AAPL", 189.5), ("MSFT", 410.0), ("NVDA", 120.25)];

#[tokio::main]
async fn main() -> live_resource::Result<()> {
    let hub = Hub::new();
    hub.set(
        "jobs/42",
        json!({"generated": 0, "total": 500, "state": "running"}),
    )?;
    let board: serde_json::Map<_, _> = SYMBOLS
        .iter()
        .map(|(symbol, price)| (symbol.to_string(), json!({"price": price, "change": 0.0})))
        .collect();
    hub.set("quotes", &board)?;

    // The producers: the job generates records in batches, the market ticks.
    let producer = hub.clone();
    tokio::spawn(async move {
        for generated in (50..=500).step_by(50) {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let state = if generated == 500 { "done" } else { "running" };
            producer
                .merge("jobs/42", json!({"generated": generated, "state": state}))
                .expect("the job topic exists");
        }
    });
    let market = hub.clone();
    tokio::spawn(async move {
        let mut seed = 0x2545_f491_u64;
        for tick in 0u32.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (symbol, base) = SYMBOLS[tick as usize % SYMBOLS.len()];
            let change = ((seed >> 33) % 200) as f64 / 100.0 - 1.0;
            // One price of one symbol: subscribers receive just this.
            market
                .merge(
                    "quotes",
                    json!({symbol: {"price": base + change, "change": change}}),
                )
                .expect("the quotes topic exists");
        }
    });

    // A typed consumer of the job, with a connection status.
    let mut job = LiveResource::<Job>::connect(hub.source("jobs/42"));
    let job_screen = tokio::spawn(async move {
        while let Some(state) = job.next().await {
            let Ok(state) = state else { continue };
            let filled = (state.generated * 20 / state.total) as usize;
            println!(
                "[job 42]  [{}{}] {:>3}/{} {}",
                "#".repeat(filled),
                ".".repeat(20 - filled),
                state.generated,
                state.total,
                state.state,
            );
            if state.state == "done" {
                break;
            }
        }
    });

    // One upstream for the quote board, shared by two screens.
    let quotes = LiveResource::<Board>::connect(hub.source("quotes")).shared();
    let mut first_screen = quotes.subscribe();
    let board_screen = tokio::spawn(async move {
        for _ in 0..8 {
            let Some(Ok(board)) = first_screen.next().await else {
                break;
            };
            let line: Vec<String> = board
                .iter()
                .map(|(symbol, quote)| {
                    format!("{symbol} {:>7.2} ({:+.2})", quote.price, quote.change)
                })
                .collect();
            println!("[screen 1] {}", line.join("  "));
        }
    });

    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut late_screen = quotes.subscribe();
    if let Some(Ok(board)) = late_screen.next().await {
        println!(
            "[screen 2] joined late at version {:?}: sees {} symbols at once",
            quotes.version(),
            board.len()
        );
    }

    job_screen.await.expect("the job screen ran");
    board_screen.await.expect("the board screen ran");
    let stats = hub.stats();
    println!(
        "hub: {} topics, {} updates published, {} subscribers now",
        stats.topics, stats.published, stats.subscribers
    );
    Ok(())
}
