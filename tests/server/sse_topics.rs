//! `GET /live/sse`: many topics on one Server-Sent Events stream, in the
//! WebSocket protocol's messages, over real loopback connections.

use std::time::Duration;

use futures::StreamExt;
use live_resource::Hub;
use live_resource::server::Config;
use serde_json::{Value, json};

use crate::support::served::serve_with;

/// Topics with a `/`, a space, a `:`, a `&` and a `+` in their names.
const ODD: &str = "jobs/a b:c&d+e";

fn hub() -> Hub {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 1})).unwrap();
    hub.set(ODD, json!({"done": 0})).unwrap();
    hub.set("secret", json!({"s": 1})).unwrap();
    hub
}

/// An open stream, read event by event: `(id, message)`.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Events {
    async fn open(
        addr: std::net::SocketAddr,
        query: &[(&str, &str)],
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = reqwest::Client::new()
            .get(format!("http://{addr}/live/sse"))
            .header("accept", "text/event-stream")
            .query(query);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event with data (comments skipped).
    async fn next(&mut self) -> (Option<String>, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim());
                    }
                }
                if !data.is_empty() {
                    return (id, serde_json::from_str(&data).unwrap());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn several_topics_share_one_stream_with_snapshots_then_updates() {
    let hub = hub();
    let addr = serve_with(&hub, Config::default()).await;
    let mut events = Events::open(addr, &[("topic", "quotes"), ("topic", ODD)], None).await;
    let (id, first) = events.next().await;
    assert_eq!(
        first,
        json!({"type": "snapshot", "topic": "quotes", "version": 0, "data": {"AAPL": 1}})
    );
    assert_eq!(
        id.as_deref(),
        Some("0,"),
        "a version for each topic, in the query's order"
    );
    let (id, second) = events.next().await;
    assert_eq!(
        second,
        json!({"type": "snapshot", "topic": ODD, "version": 0, "data": {"done": 0}})
    );
    assert_eq!(id.as_deref(), Some("0,0"));
    hub.merge(ODD, json!({"done": 1})).unwrap();
    let (id, update) = events.next().await;
    assert_eq!(
        update,
        json!({"type": "update", "topic": ODD, "seq": 1, "merge": {"done": 1}})
    );
    assert_eq!(id.as_deref(), Some("0,1"));
    hub.merge("quotes", json!({"AAPL": 2})).unwrap();
    let (id, update) = events.next().await;
    assert_eq!(update["topic"], "quotes");
    assert_eq!(id.as_deref(), Some("1,1"));
}

#[tokio::test]
async fn each_topic_resumes_from_its_since_and_last_event_id_wins() {
    let hub = hub();
    for n in 2..=4 {
        hub.merge("quotes", json!({"AAPL": n})).unwrap();
    }
    let addr = serve_with(&hub, Config::default()).await;
    let since = "quotes:2";
    let mut events = Events::open(
        addr,
        &[("topic", "quotes"), ("topic", ODD), ("since", since)],
        None,
    )
    .await;
    // What answers the subscriptions comes first, then the replays.
    let (id, snapshot) = events.next().await;
    assert_eq!(
        (snapshot["type"].as_str(), snapshot["topic"].as_str()),
        (Some("snapshot"), Some(ODD))
    );
    assert_eq!(
        id.as_deref(),
        Some("2,0"),
        "quotes at its `since` until its replay"
    );
    let (id, replayed) = events.next().await;
    assert_eq!(
        replayed,
        json!({"type": "update", "topic": "quotes", "seq": 3, "merge": {"AAPL": 4}})
    );
    assert_eq!(id.as_deref(), Some("3,0"));

    // An `EventSource` reconnects to the same URL with the last `id`: each
    // topic resumes from its version there, with a heartbeat when it is
    // current.
    let query = [("topic", "quotes"), ("topic", ODD), ("since", "quotes:0")];
    let mut events = Events::open(addr, &query, Some("3,0")).await;
    let (_, beat) = events.next().await;
    assert_eq!(
        beat,
        json!({"type": "heartbeat", "topic": "quotes", "seq": 3})
    );
    let (_, beat) = events.next().await;
    assert_eq!(beat, json!({"type": "heartbeat", "topic": ODD, "seq": 0}));
}

#[tokio::test]
async fn a_refused_topic_gets_its_error_and_the_others_flow() {
    let hub = hub();
    let config = Config::default().allow_if(|_, topic: &str| topic != "secret");
    let addr = serve_with(&hub, config).await;
    let query = [("topic", "secret"), ("topic", "nope"), ("topic", "quotes")];
    let mut events = Events::open(addr, &query, None).await;
    let (id, denied) = events.next().await;
    assert_eq!(denied["type"], "error");
    assert_eq!(
        (denied["topic"].as_str(), denied["code"].as_str()),
        (Some("secret"), Some("forbidden"))
    );
    assert_eq!(id, None);
    let (_, unknown) = events.next().await;
    assert_eq!(
        (unknown["topic"].as_str(), unknown["code"].as_str()),
        (Some("nope"), Some("unknown_topic"))
    );
    let (id, snapshot) = events.next().await;
    assert_eq!(snapshot["topic"], "quotes");
    assert_eq!(id.as_deref(), Some(",,0"));
    hub.merge("secret", json!({"s": 2})).unwrap();
    hub.merge("quotes", json!({"AAPL": 2})).unwrap();
    let (_, update) = events.next().await;
    assert_eq!(
        (update["type"].as_str(), update["topic"].as_str()),
        (Some("update"), Some("quotes"))
    );
}

#[tokio::test]
async fn a_removed_topic_ends_with_an_error_and_heartbeats_name_each_topic() {
    let hub = hub();
    let addr = serve_with(
        &hub,
        Config::default().heartbeat(Duration::from_millis(100)),
    )
    .await;
    let mut events = Events::open(addr, &[("topic", "quotes"), ("topic", ODD)], None).await;
    events.next().await;
    events.next().await;
    assert!(hub.remove(ODD));
    let (_, ended) = events.next().await;
    assert_eq!(
        (ended["topic"].as_str(), ended["code"].as_str()),
        (Some(ODD), Some("unknown_topic"))
    );
    let (_, beat) = events.next().await;
    assert_eq!(
        beat,
        json!({"type": "heartbeat", "topic": "quotes", "seq": 0}),
        "only the topic still followed"
    );
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_told_to_resync_that_topic() {
    let hub = Hub::builder().first_version(0).subscriber_queue(4).build();
    hub.set("fast", json!({"n": 0})).unwrap();
    hub.set("slow", json!({"n": 0})).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let mut events = Events::open(addr, &[("topic", "fast"), ("topic", "slow")], None).await;
    events.next().await;
    events.next().await;
    // On this one thread the stream cannot run while these are published:
    // more than its queue holds.
    for n in 1..=20 {
        hub.merge("fast", json!({"n": n})).unwrap();
    }
    let (id, resync) = loop {
        let (id, message) = events.next().await;
        if message["type"] == "resync" {
            break (id, message);
        }
    };
    assert_eq!(resync, json!({"type": "resync", "topic": "fast"}));
    assert_eq!(
        id.as_deref(),
        Some(",0"),
        "the `id` no longer resumes it: a reconnect takes its snapshot"
    );
    hub.merge("slow", json!({"n": 1})).unwrap();
    let (_, update) = loop {
        let (id, message) = events.next().await;
        if message["topic"] == "slow" {
            break (id, message);
        }
    };
    assert_eq!(update["seq"], 1, "the other topic goes on");
}

#[tokio::test]
async fn bad_queries_are_refused_whole_with_a_clear_status() {
    let addr = serve_with(&hub(), Config::default().max_topics_per_connection(3)).await;
    let client = reqwest::Client::new();
    let status = |query: Vec<(String, String)>, id: Option<&'static str>| {
        let mut request = client
            .get(format!("http://{addr}/live/sse"))
            .header("accept", "text/event-stream")
            .query(&query);
        if let Some(id) = id {
            request = request.header("last-event-id", id);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            assert!(body["error"].is_string(), "{body}");
            status
        }
    };
    let pair = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    let topics = |n: usize| {
        (0..n)
            .map(|i| pair("topic", &format!("t{i}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(status(vec![], None).await, 400, "no topic");
    assert_eq!(
        status(topics(4), None).await,
        400,
        "more than the server allows"
    );
    let long = "x".repeat(9 * 1024);
    assert_eq!(status(vec![pair("topic", &long)], None).await, 414);
    assert_eq!(
        status(vec![pair("topic", "quotes"), pair("since", "quotes")], None).await,
        400
    );
    assert_eq!(
        status(
            vec![pair("topic", "quotes"), pair("since", "other:1")],
            None
        )
        .await,
        400
    );
    assert_eq!(
        status(topics(2), Some("1")).await,
        400,
        "a version for each topic"
    );
}

#[tokio::test]
async fn a_topic_named_sse_keeps_its_snapshot_for_plain_requests() {
    let hub = hub();
    hub.set("sse", json!({"named": "sse"})).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let body: Value = reqwest::get(format!("http://{addr}/live/sse"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"], json!({"named": "sse"}));
    let mut events = Events::open(addr, &[("topic", "sse")], None).await;
    assert_eq!(events.next().await.1["type"], "snapshot");
}

#[tokio::test]
async fn the_hook_sees_the_streams_request_and_revoked_access_ends_that_topic() {
    let allowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let rule = {
        let allowed = std::sync::Arc::clone(&allowed);
        move |request: &axum::http::request::Parts, topic: &str| {
            topic != "secret"
                || (request
                    .headers
                    .get("x-user")
                    .is_some_and(|user| user == "7")
                    && allowed.load(std::sync::atomic::Ordering::SeqCst))
        }
    };
    let config = Config::default()
        .allow_if(rule)
        .recheck_access(Duration::from_millis(100));
    let hub = hub();
    let addr = serve_with(&hub, config).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/live/sse"))
        .header("accept", "text/event-stream")
        .header("x-user", "7")
        .query(&[("topic", "secret"), ("topic", "quotes")])
        .send()
        .await
        .unwrap();
    let mut events = Events {
        body: response.bytes_stream().boxed(),
        buffer: String::new(),
    };
    assert_eq!(
        events.next().await.1["topic"],
        "secret",
        "the header let it in"
    );
    assert_eq!(events.next().await.1["topic"], "quotes");

    allowed.store(false, std::sync::atomic::Ordering::SeqCst);
    let (id, ended) = events.next().await;
    assert_eq!(
        (ended["topic"].as_str(), ended["code"].as_str()),
        (Some("secret"), Some("forbidden"))
    );
    assert_eq!(id, None);
    hub.merge("secret", json!({"s": 2})).unwrap();
    hub.merge("quotes", json!({"AAPL": 2})).unwrap();
    let (id, next) = loop {
        let (id, message) = events.next().await;
        if message["type"] != "heartbeat" {
            break (id, message);
        }
    };
    assert_eq!(next["topic"], "quotes", "nothing more of the revoked topic");
    assert_eq!(id.as_deref(), Some(",1"));
}
