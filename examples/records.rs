//! Follows the dashboard's `records` table as a `LiveCollection` over
//! WebSocket, printing each row event, and a top-5 view of the finished
//! records by value kept from the same events.
//!
//! ```sh
//! cargo run --all-features --example records -- --serve         # its own server running the record job
//! cargo run --all-features --example dashboard -- --serve-only  # or follow a dashboard: start it,
//! cargo run --all-features --example records                    # then this, in another terminal
//! ```
//!
//! `--addr HOST:PORT` names another dashboard (default `127.0.0.1:7878`);
//! `--for SECONDS` stops after that long.

#[path = "dashboard/records.rs"]
#[allow(dead_code)] // The job's own helpers: this example runs it only with `--serve`.
mod records;

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use live_resource::Hub;
use live_resource::client::ws::WsClient;
use live_resource::collection::{Event, LiveCollection, RowChange, View, ViewChangeKind};
use records::{Record, Status};

#[tokio::main]
async fn main() {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 7878).into();
    let mut serve = false;
    let mut run_for = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--serve" => serve = true,
            "--addr" => {
                addr = value("--addr")
                    .parse()
                    .unwrap_or_else(|_| usage("--addr HOST:PORT"))
            }
            "--for" => {
                let seconds = value("--for")
                    .parse()
                    .unwrap_or_else(|_| usage("--for SECONDS"));
                run_for = Some(Duration::from_secs(seconds));
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    if serve {
        let hub = Hub::new();
        records::start(&hub).await.expect("a fresh table");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        addr = listener.local_addr().expect("an address");
        let app = live_resource::server::router(hub);
        tokio::spawn(live_resource::server::serve(listener, app).into_future());
        println!("serving the record job on http://{addr}");
    }
    let follow = follow(addr);
    match run_for {
        Some(duration) => {
            let _ = tokio::time::timeout(duration, follow).await;
        }
        None => follow.await,
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: records [--serve] [--addr HOST:PORT] [--for SECONDS]");
    std::process::exit(2);
}

async fn follow(addr: SocketAddr) {
    let socket = WsClient::new(format!("ws://{addr}/live/ws"));
    let mut table = LiveCollection::<String, Record>::connect(socket.source(records::TOPIC));
    // The five finished records of highest value.
    let mut top = View::new()
        .filter(|_, record: &Record| record.status == Status::Done)
        .order_by_key_with(|record: &Record| record.value, |a, b| b.total_cmp(a))
        .limit(5);
    while let Some(event) = table.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                eprintln!("records: {error}");
                continue;
            }
        };
        let version = event.version().unwrap_or_default();
        match &event {
            Event::Reset { changes, .. } => {
                println!(
                    "v{version} reset: {} rows changed, {} in the table",
                    changes.len(),
                    table.len()
                );
            }
            Event::Row { change, .. } => match change {
                RowChange::Added { key, row } => {
                    println!("v{version} + {key} {:?}", row.status);
                }
                RowChange::Modified { key, row, patch } => {
                    let patch = serde_json::to_string(&live_resource::Update {
                        seq: None,
                        patch: patch.clone(),
                    })
                    .unwrap_or_default();
                    println!(
                        "v{version} ~ {key} {:?} {:.1}  {patch}",
                        row.status, row.value
                    );
                }
                RowChange::Removed { key, .. } => println!("v{version} - {key}"),
                _ => {}
            },
            _ => {}
        }
        let moved = top.apply(&event).iter().any(|change| {
            change.kind != ViewChangeKind::Modified || change.old_index != change.new_index
        });
        if moved {
            let line: Vec<String> = top
                .iter()
                .map(|(key, record)| format!("{key} {:.1}", record.value))
                .collect();
            println!("      top 5 done: {}", line.join(", "));
        }
    }
}
