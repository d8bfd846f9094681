//! The dashboard's Rust clients: the quote board and the job over one
//! WebSocket connection, user activity over Server-Sent Events, and one
//! client's private notifications; each printed as it changes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use live_resource::client::Tls;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::{Backoff, LiveResource};
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Deserialize)]
struct Quote {
    price: f64,
    change: f64,
}

#[derive(Debug, Deserialize)]
struct Job {
    generated: u32,
    total: u32,
    state: String,
}

#[derive(Debug, Deserialize)]
struct Activity {
    online: u32,
    sessions: Sessions,
}

#[derive(Debug, Deserialize)]
struct Sessions {
    web: u32,
    mobile: u32,
}

#[derive(Debug, Deserialize)]
struct Notifications {
    items: Vec<Notification>,
}

#[derive(Debug, Deserialize)]
struct Notification {
    priority: String,
    text: String,
}

/// Follows the dashboard at `addr`, over TLS with these settings if given.
pub(crate) fn start(addr: SocketAddr, tls: Option<Tls>) {
    let (http, ws) = match tls {
        Some(_) => ("https", "wss"),
        None => ("http", "ws"),
    };
    let tls = tls.unwrap_or_default();
    let base = format!("{http}://{addr}");
    let socket = WsClient::new(format!("{ws}://{addr}/live/ws")).tls(tls.clone());
    let backoff = Backoff::default().max(Duration::from_secs(5));

    follow(
        "ws ",
        LiveResource::<BTreeMap<String, Quote>>::connect(socket.source("quotes"))
            .backoff(backoff.clone()),
        |board| {
            let line: Vec<String> = board
                .iter()
                .map(|(symbol, quote)| {
                    format!("{symbol} {:.2} ({:+.2})", quote.price, quote.change)
                })
                .collect();
            format!("quotes   {}", line.join("  "))
        },
    );
    follow(
        "ws ",
        LiveResource::<Job>::connect(socket.source("jobs/report")).backoff(backoff.clone()),
        |job| {
            format!(
                "job      {:>4}/{} records, {}",
                job.generated, job.total, job.state
            )
        },
    );
    follow(
        "sse",
        LiveResource::<Activity>::connect(SseSource::new(&base, "activity").tls(tls.clone()))
            .backoff(backoff.clone()),
        |activity| {
            format!(
                "activity {} online ({} web, {} mobile)",
                activity.online, activity.sessions.web, activity.sessions.mobile
            )
        },
    );
    follow(
        "sse",
        LiveResource::<Notifications>::connect(
            SseSource::new(&base, "clients/alice/notifications").tls(tls),
        )
        .backoff(backoff),
        |inbox| match inbox.items.last() {
            Some(last) => format!(
                "alice    {} notifications, last [{}] {}",
                inbox.items.len(),
                last.priority,
                last.text
            ),
            None => "alice    no notifications yet".to_owned(),
        },
    );
}

/// Prints each state of `resource`, and each error it recovers from.
fn follow<T: DeserializeOwned + Send + 'static>(
    transport: &'static str,
    mut resource: LiveResource<T>,
    show: impl Fn(&T) -> String + Send + 'static,
) {
    tokio::spawn(async move {
        while let Some(state) = resource.next().await {
            match state {
                Ok(state) => println!(
                    "[{transport} v{:<4}] {}",
                    resource.version().unwrap_or_default(),
                    show(&state)
                ),
                Err(error) => println!("[{transport}] recovering: {error}"),
            }
        }
    });
}
