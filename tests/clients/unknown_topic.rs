//! An unknown topic over every transport of the crate's own server: each
//! says so in the one way a resource recognizes (`Error::is_unknown_topic`),
//! so that `UnknownTopic::Retry` waits for the topic and `UnknownTopic::End`
//! ends the resource, whichever the transport.

use std::sync::Arc;

use futures::StreamExt;
use live_resource::client::http::HttpSnapshot;
use live_resource::client::socketio::SocketIoClient;
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::server::Config;
use live_resource::source::{SnapshotSource, Source};
use live_resource::{Error, Hub, LiveResource, Status, UnknownTopic};
use serde_json::{Value, json};

use crate::support::served::serve_app;
use crate::support::{chain, fast_backoff, within};

/// The crate's server, with Socket.IO beside the router: `http://{addr}`.
async fn serve(hub: &Hub) -> String {
    let config = Config::default();
    let (layer, _io) = live_resource::socketio::layer_with(hub.clone(), config.clone());
    let app = live_resource::server::router_with(hub.clone(), config).layer(layer);
    format!("http://{}", serve_app(app).await)
}

/// Each transport's source of `topic` on the server at `base`.
fn sources(base: &str, topic: &str) -> Vec<(&'static str, Arc<dyn Source>)> {
    let ws = format!("{}/live/ws", base.replacen("http", "ws", 1));
    vec![
        ("sse", Arc::new(SseSource::new(base, topic))),
        ("ws", Arc::new(WsClient::new(ws).source(topic))),
        (
            "socket.io",
            Arc::new(SocketIoClient::new(base).topic(topic)),
        ),
    ]
}

async fn next_error(resource: &mut LiveResource<Value>) -> Error {
    match within(resource.next()).await {
        Some(Err(error)) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_topic_is_retried_until_it_comes_over_every_transport() {
    let hub = Hub::new();
    let base = serve(&hub).await;
    for (name, source) in sources(&base, "jobs/1") {
        hub.remove("jobs/1");
        let mut job = LiveResource::<Value>::connect(source).backoff(fast_backoff());
        for _ in 0..2 {
            let error = next_error(&mut job).await;
            assert!(error.is_unknown_topic(), "{name}: {}", chain(&error));
            assert!(!error.is_final(), "{name}: {}", chain(&error));
            assert!(
                chain(&error).ends_with(": unknown topic `jobs/1`"),
                "{name}"
            );
        }
        hub.set("jobs/1", json!({"done": 1})).unwrap();
        let state = within(async {
            loop {
                if let Some(Ok(state)) = job.next().await {
                    return state;
                }
            }
        })
        .await;
        assert_eq!(state, json!({"done": 1}), "{name}");
        assert_eq!(*job.status().borrow(), Status::Live, "{name}");
    }
}

#[tokio::test]
async fn an_unknown_topic_ends_the_resource_when_told_so_over_every_transport() {
    let hub = Hub::new();
    let base = serve(&hub).await;
    for (name, source) in sources(&base, "jobs/2") {
        let mut job = LiveResource::<Value>::connect(source)
            .backoff(fast_backoff())
            .unknown_topic(UnknownTopic::End);
        let error = next_error(&mut job).await;
        assert!(error.is_unknown_topic(), "{name}: {}", chain(&error));
        assert!(error.is_final(), "{name}: {}", chain(&error));
        assert!(within(job.next()).await.is_none(), "{name}: it ended");
        assert_eq!(*job.status().borrow(), Status::Failed, "{name}");
    }

    // A topic removed while followed ends it too.
    hub.set("jobs/3", json!({"done": 0})).unwrap();
    for (name, source) in sources(&base, "jobs/3") {
        let mut job = LiveResource::<Value>::connect(source)
            .backoff(fast_backoff())
            .unknown_topic(UnknownTopic::End);
        assert_eq!(
            within(job.next()).await.unwrap().unwrap(),
            json!({"done": 0})
        );
        hub.remove("jobs/3");
        let error = loop {
            let error = next_error(&mut job).await;
            if error.is_final() {
                break error;
            }
        };
        assert!(error.is_unknown_topic(), "{name}: {}", chain(&error));
        assert!(within(job.next()).await.is_none(), "{name}: it ended");
        hub.set("jobs/3", json!({"done": 0})).unwrap();
    }
}

#[tokio::test]
async fn a_snapshot_of_an_unknown_topic_says_so() {
    let hub = Hub::new();
    let base = serve(&hub).await;
    let error = Error::Snapshot(
        HttpSnapshot::live(&base, "nope")
            .snapshot()
            .await
            .unwrap_err(),
    );
    assert!(error.is_unknown_topic());
    assert_eq!(
        chain(&error),
        format!(
            "fetching the snapshot failed: GET {base}/live/nope: 404 Not Found: unknown topic `nope`"
        )
    );
}
