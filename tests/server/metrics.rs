//! The metrics a server records (feature `metrics`), read from a recorder of
//! the test's own: a client connects over each transport, subscribes, is
//! refused, is sent an update and a resync, and goes; the counters say so,
//! and the gauges are back to 0.
//!
//! The recorder is local to the test's thread (`metrics::with_local_recorder`)
//! and the server runs on a current-thread runtime on that thread: tests in
//! this binary run in parallel, and none records into another's recorder.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use live_resource::Hub;
use live_resource::server::Config;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{AtomicStorage, Registry};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::served::serve_with;

/// Counters and gauges by name and labels, read without resetting them.
struct Recorded(Registry<Key, AtomicStorage>);

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |counter| Counter::from_arc(Arc::clone(counter)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Recorded {
    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(key, value)| Label::new(*key, *value))
            .collect();
        Key::from_parts(name, labels)
    }

    /// A counter's value; 0 if never recorded.
    fn counter(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> u64 {
        let key = Self::key(name, labels);
        self.0
            .get_counter(&key)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// A gauge's value; 0 if never recorded.
    fn gauge(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> f64 {
        let key = Self::key(name, labels);
        self.0.get_gauge(&key).map_or(0.0, |gauge: Arc<AtomicU64>| {
            f64::from_bits(gauge.load(Ordering::Relaxed))
        })
    }

    /// Waits until every connection and subscription gauge is back to 0.
    async fn all_closed(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let open: f64 = ["http", "sse", "ws", "socketio"]
                .into_iter()
                .flat_map(|transport| {
                    let labels = [("transport", transport)];
                    [
                        self.gauge("live_resource_connections_open", &labels),
                        self.gauge("live_resource_subscriptions_open", &labels),
                    ]
                })
                .map(f64::abs)
                .sum();
            if open == 0.0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gauges still open: {open}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs `test` on a current-thread runtime with `recorder` as this thread's
/// recorder.
fn with_recorder<F: Future<Output = ()>>(recorder: &Recorded, test: impl FnOnce() -> F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test()));
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(socket: &mut Socket, text: String) {
    socket.send(Message::Text(text.into())).await.unwrap();
}

/// The next JSON text message, skipping pings.
async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[test]
fn a_client_is_counted_from_connect_to_disconnect_over_every_transport() {
    let recorded = Recorded(Registry::atomic());
    with_recorder(&recorded, || async {
        // Two updates are kept for replay: a client at version 0 is told to
        // resync once three have been published.
        let hub = Hub::builder().first_version(0).replay(2).build();
        hub.set("quotes", json!({"AAPL": 189.5})).unwrap();
        hub.set("private/x", json!({})).unwrap();
        for price in [190.0, 191.0, 192.0] {
            hub.merge("quotes", json!({"AAPL": price})).unwrap();
        }
        let config = Config::default()
            .allow_if(|_, topic| !topic.starts_with("private/"))
            // A stream whose client went is found out at its next write.
            .heartbeat(Duration::from_millis(100));
        let addr = serve_with(&hub, config).await;
        let http = reqwest::Client::new();

        // HTTP snapshots: one read, one refused.
        let snapshot = http
            .get(format!("http://{addr}/live/quotes"))
            .send()
            .await
            .unwrap();
        let body = snapshot.bytes().await.unwrap();
        let denied = http
            .get(format!("http://{addr}/live/private/x"))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 403);

        // WebSocket: a snapshot, a refused subscription, a message that is
        // not a request, an update, and a resync.
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/live/ws"))
            .await
            .unwrap();
        send(
            &mut socket,
            json!({"type": "subscribe", "topic": "quotes"}).to_string(),
        )
        .await;
        assert_eq!(receive(&mut socket).await["type"], "snapshot");
        send(
            &mut socket,
            json!({"type": "subscribe", "topic": "private/x"}).to_string(),
        )
        .await;
        assert_eq!(receive(&mut socket).await["code"], "forbidden");
        send(&mut socket, "not a request".to_owned()).await;
        assert_eq!(receive(&mut socket).await["code"], "bad_message");
        hub.merge("quotes", json!({"AAPL": 193.0})).unwrap();
        assert_eq!(receive(&mut socket).await["seq"], 4);
        let resume = json!({"type": "subscribe", "topic": "quotes", "since": 0});
        send(&mut socket, resume.to_string()).await;
        assert_eq!(receive(&mut socket).await["type"], "resync");

        // SSE: one stream, open until the response is dropped.
        let mut events = http
            .get(format!("http://{addr}/live/quotes/events?since=4"))
            .send()
            .await
            .unwrap()
            .bytes_stream();
        let first = events.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"event: heartbeat"), "{first:?}");

        let ws = [("transport", "ws")];
        let sse = [("transport", "sse")];
        let http_label = [("transport", "http")];
        assert_eq!(recorded.gauge("live_resource_connections_open", &ws), 1.0);
        assert_eq!(recorded.gauge("live_resource_subscriptions_open", &ws), 1.0);
        assert_eq!(recorded.gauge("live_resource_connections_open", &sse), 1.0);
        assert_eq!(
            recorded.gauge("live_resource_subscriptions_open", &sse),
            1.0
        );

        socket.close(None).await.unwrap();
        drop(socket);
        drop(events);
        recorded.all_closed().await;

        let counter = |name, labels: &[_]| recorded.counter(name, labels);
        assert_eq!(counter("live_resource_updates_published_total", &[]), 4);
        assert_eq!(
            counter("live_resource_connections_opened_total", &http_label),
            2
        );
        assert_eq!(counter("live_resource_connections_opened_total", &ws), 1);
        assert_eq!(counter("live_resource_connections_opened_total", &sse), 1);
        // The resume replaced the first subscription to `quotes`.
        assert_eq!(counter("live_resource_subscriptions_opened_total", &ws), 2);
        assert_eq!(counter("live_resource_subscriptions_opened_total", &sse), 1);
        assert_eq!(counter("live_resource_updates_delivered_total", &ws), 1);
        assert_eq!(counter("live_resource_resyncs_total", &ws), 1);
        let refused = |transport, reason| {
            counter(
                "live_resource_refused_total",
                &[("transport", transport), ("reason", reason)],
            )
        };
        assert_eq!(refused("http", "forbidden"), 1);
        assert_eq!(refused("ws", "forbidden"), 1);
        assert_eq!(refused("ws", "bad_message"), 1);
        assert_eq!(refused("ws", "unknown_topic"), 0);
        assert_eq!(
            counter("live_resource_sent_bytes_total", &http_label),
            body.len() as u64
        );
        assert!(counter("live_resource_sent_bytes_total", &ws) > 0);
        assert!(counter("live_resource_sent_bytes_total", &sse) > 0);
        assert_eq!(counter("live_resource_write_timeouts_total", &ws), 0);
    });
}

#[cfg(all(feature = "socketio", feature = "socketio-client"))]
#[test]
fn a_socketio_client_is_counted_until_it_goes() {
    use live_resource::LiveResource;
    use live_resource::client::socketio::SocketIoClient;
    use live_resource::server::router_with;
    use live_resource::source::UpdateSource;

    use crate::support::served::serve_app;

    /// The next state of `resource`, within 10 s.
    async fn next(resource: &mut LiveResource<Value>) -> Value {
        let next = tokio::time::timeout(Duration::from_secs(10), resource.next());
        next.await.expect("a state in time").unwrap().unwrap()
    }

    let recorded = Recorded(Registry::atomic());
    with_recorder(&recorded, || async {
        let hub = Hub::builder().first_version(0).build();
        hub.set("quotes", json!({"AAPL": 189.5})).unwrap();
        hub.set("private/x", json!({})).unwrap();
        let config = Config::default().allow_if(|_, topic| !topic.starts_with("private/"));
        let (layer, _io) = live_resource::socketio::layer_with(hub.clone(), config.clone());
        let addr = serve_app(router_with(hub.clone(), config).layer(layer)).await;

        let client = SocketIoClient::new(format!("http://{addr}"));
        let mut quotes = LiveResource::<Value>::connect(client.topic("quotes"));
        assert_eq!(next(&mut quotes).await, json!({"AAPL": 189.5}));
        hub.merge("quotes", json!({"AAPL": 190.0})).unwrap();
        assert_eq!(next(&mut quotes).await, json!({"AAPL": 190.0}));
        let mut denied = client.topic("private/x").updates(None).await.unwrap();
        // Heartbeats may come first; the refusal ends the stream's start.
        let refused = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match denied.next().await {
                    Some(Ok(live_resource::source::Event::Heartbeat(_))) => continue,
                    other => return other,
                }
            }
        });
        let refusal = refused.await.unwrap().unwrap();
        assert!(refusal.is_err(), "{refusal:?}");

        // Each stream has a connection of its own.
        let sio = [("transport", "socketio")];
        assert_eq!(recorded.gauge("live_resource_connections_open", &sio), 2.0);
        assert_eq!(
            recorded.gauge("live_resource_subscriptions_open", &sio),
            1.0
        );
        drop((quotes, denied, client));
        recorded.all_closed().await;

        let counter = |name, labels: &[_]| recorded.counter(name, labels);
        assert_eq!(counter("live_resource_connections_opened_total", &sio), 2);
        assert_eq!(counter("live_resource_subscriptions_opened_total", &sio), 1);
        assert_eq!(counter("live_resource_updates_delivered_total", &sio), 1);
        let forbidden = [("transport", "socketio"), ("reason", "forbidden")];
        assert_eq!(counter("live_resource_refused_total", &forbidden), 1);
        assert!(counter("live_resource_sent_bytes_total", &sio) > 0);
    });
}
