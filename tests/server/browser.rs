//! A real browser: headless Chromium loads the dashboard page and sees prices
//! and the job's progress change, through its own `EventSource`, `WebSocket`
//! and the page's few lines of merge code.
//!
//! Chromium is driven over the DevTools protocol with this crate's own
//! WebSocket dependency. Without Chromium the test is skipped with a reason;
//! with `LIVE_RESOURCE_REQUIRE_PEERS=1` (as in CI) a missing Chromium fails it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use live_resource::Hub;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::served::serve_app;

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Kills the browser however the test ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One DevTools call: sends it and waits for its answer, skipping events.
async fn call(socket: &mut Socket, id: u64, method: &str, params: Value) -> Value {
    let request = json!({"id": id, "method": method, "params": params});
    socket
        .send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("DevTools answers in time")
            .expect("DevTools connection open")
            .unwrap();
        if let Message::Text(text) = message {
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == id {
                return reply;
            }
        }
    }
}

#[tokio::test]
async fn the_dashboard_page_shows_prices_and_progress_changing() {
    let Some(chromium) = find_chromium() else {
        let reason = "chromium is not installed (apt-get install chromium)";
        if std::env::var_os("LIVE_RESOURCE_REQUIRE_PEERS").is_some_and(|v| v == "1") {
            panic!("LIVE_RESOURCE_REQUIRE_PEERS=1 and {reason}");
        }
        eprintln!("skipped: {reason}");
        return;
    };

    let hub = Hub::builder().first_version(0).build();
    hub.set(
        "quotes",
        json!({"AAPL": {"price": 189.5, "change": 0.0}, "MSFT": {"price": 410.0, "change": 0.0}}),
    )
    .unwrap();
    hub.set(
        "jobs/report",
        json!({"generated": 0, "total": 1000, "state": "running"}),
    )
    .unwrap();
    let publisher = hub.clone();
    let publishing = tokio::spawn(async move {
        for tick in 1..=600u32 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let price = 189.5 + f64::from(tick % 50) / 10.0;
            publisher
                .merge("quotes", json!({"AAPL": {"price": price, "change": 0.1}}))
                .unwrap();
            publisher
                .merge("jobs/report", json!({"generated": tick.min(1000)}))
                .unwrap();
        }
    });
    let app = live_resource::server::router(hub.clone()).route(
        "/",
        get(|| async { Html(include_str!("../../examples/dashboard/page.html")) }),
    );
    let addr = serve_app(app).await;

    let profile =
        std::env::temp_dir().join(format!("live-resource-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let _browser = Browser(
        Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts"),
    );

    // Chromium writes the port it chose into the profile.
    let port_file = profile.join("DevToolsActivePort");
    let mut port = None;
    for _ in 0..200 {
        if let Some(line) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
        {
            port = line.parse::<u16>().ok();
            if port.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let port = port.expect("chromium opened its DevTools port within 20 s");
    let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "page")
        .expect("a page target");
    let (mut devtools, _) =
        tokio_tungstenite::connect_async(page["webSocketDebuggerUrl"].as_str().unwrap())
            .await
            .unwrap();

    call(
        &mut devtools,
        1,
        "Page.navigate",
        json!({"url": format!("http://{addr}/")}),
    )
    .await;
    let probe = "JSON.stringify({price: document.querySelector('#quote-AAPL .price')?.textContent ?? null, \
                 updates: window.quoteUpdates || 0, \
                 job: document.getElementById('job')?.value ?? 0})";
    let mut seen_prices = std::collections::BTreeSet::new();
    let mut first_job = None;
    let mut last = Value::Null;
    for id in 2..200u64 {
        let reply = call(
            &mut devtools,
            id,
            "Runtime.evaluate",
            json!({"expression": probe, "returnByValue": true}),
        )
        .await;
        if let Some(text) = reply["result"]["result"]["value"].as_str() {
            last = serde_json::from_str(text).unwrap();
            if let Some(price) = last["price"].as_str() {
                seen_prices.insert(price.to_owned());
            }
            let job = last["job"].as_f64().unwrap_or(0.0);
            if job > 0.0 {
                first_job.get_or_insert(job);
            }
            if seen_prices.len() >= 3 && first_job.is_some_and(|first| job > first) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    publishing.abort();
    assert!(
        seen_prices.len() >= 3,
        "the AAPL price changed on the page: {seen_prices:?}, last {last}"
    );
    let job = last["job"].as_f64().unwrap_or(0.0);
    assert!(
        first_job.is_some_and(|first| job > first),
        "the job progressed on the page: {last}"
    );
    let _ = std::fs::remove_dir_all(&profile);
}
