//! The axum server over real loopback connections: snapshots, SSE and
//! WebSocket, and every kind of bad request.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use live_resource::Hub;
use live_resource::server::{Config, OwnedTopics, router_with};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::served::{serve_app, serve_with};

fn hub() -> Hub {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 189.5})).unwrap();
    hub.set("users/7/notifications", json!({"items": []}))
        .unwrap();
    hub
}

#[tokio::test]
async fn snapshots_carry_an_etag_and_honour_if_none_match() {
    let hub = hub();
    hub.merge("quotes", json!({"AAPL": 190.0})).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("http://{addr}/live/quotes"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    // A cache between client and server must check with the server before
    // it answers: a resync never gets the same stale snapshot again.
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"version": 1, "data": {"AAPL": 190.0}}));

    let cached = client
        .get(format!("http://{addr}/live/quotes"))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let stale = client
        .get(format!("http://{addr}/live/quotes"))
        .header("if-none-match", "\"0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn topics_may_contain_slashes_and_unknown_ones_are_404() {
    let addr = serve_with(&hub(), Config::default()).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/live/users/7/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let missing = client
        .get(format!("http://{addr}/live/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");

    let missing_events = client
        .get(format!("http://{addr}/live/nope/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_events.status(), 404);
    let body: Value = missing_events.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
}

#[tokio::test]
async fn topics_whose_names_meet_a_route_still_have_their_snapshots() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("ws", json!({"name": "ws"})).unwrap();
    hub.set("x", json!({"name": "x"})).unwrap();
    hub.set("x/events", json!({"name": "x/events"})).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}/live/{path}")).send();
    let body = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(body(get("ws").await.unwrap()).await["data"]["name"], "ws");
    assert_eq!(
        body(get("x/events").await.unwrap()).await["data"]["name"],
        "x/events"
    );
    // What asks for an event stream gets the one of `x`.
    let events = client
        .get(format!("http://{addr}/live/x/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    // And the WebSocket route is still the WebSocket route.
    let mut socket = ws(addr).await;
    send(&mut socket, json!({"type": "subscribe", "topic": "ws"})).await;
    assert_eq!(receive(&mut socket).await["data"]["name"], "ws");
}

#[tokio::test]
async fn the_authorization_hook_denies_with_403() {
    let config = private_users();
    let addr = serve_with(&hub(), config).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/live/users/7/notifications");
    let denied = client.get(&url).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.unwrap();
    assert!(body["error"].is_string());
    let allowed = client
        .get(&url)
        .header("authorization", "Bearer x")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let events = client.get(format!("{url}/events")).send().await.unwrap();
    assert_eq!(events.status(), 403);
    let body: Value = events.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn owned_topics_are_read_by_their_owner_only_over_every_route() {
    let rule = OwnedTopics::new("users/", |request| {
        let user = request.headers.get("x-authenticated-user")?;
        user.to_str().ok().map(str::to_owned)
    });
    let addr = serve_with(&hub(), Config::default().authorize(rule)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/live/users/7/notifications");
    let as_user = |user: &str| client.get(&url).header("x-authenticated-user", user).send();
    assert_eq!(as_user("7").await.unwrap().status(), 200);
    assert_eq!(as_user("77").await.unwrap().status(), 403);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 403);
    let quotes = client.get(format!("http://{addr}/live/quotes")).send();
    assert_eq!(
        quotes.await.unwrap().status(),
        200,
        "public topics stay public"
    );

    // The same rule over WebSocket, with the upgrade request's header.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/live/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-authenticated-user", "77".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(
        &mut socket,
        json!({"type": "subscribe", "topic": "users/7/notifications"}),
    )
    .await;
    let refused = receive(&mut socket).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
}

#[tokio::test]
async fn access_revoked_ends_live_subscriptions_within_the_recheck_period() {
    let allowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let rule = {
        let allowed = std::sync::Arc::clone(&allowed);
        move |_: &axum::http::request::Parts, topic: &str| {
            topic == "quotes" || allowed.load(std::sync::atomic::Ordering::SeqCst)
        }
    };
    let config = Config::default()
        .allow_if(rule)
        .recheck_access(Duration::from_millis(100));
    let hub = hub();
    let addr = serve_with(&hub, config).await;
    let mut socket = ws(addr).await;
    for topic in ["quotes", "users/7/notifications"] {
        send(&mut socket, json!({"type": "subscribe", "topic": topic})).await;
        assert_eq!(receive(&mut socket).await["type"], "snapshot");
    }
    let sse = reqwest::Client::new()
        .get(format!("http://{addr}/live/users/7/notifications/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);

    // The session is revoked: within a period, the subscription ends with
    // `forbidden`, the public one goes on, and the SSE stream ends.
    allowed.store(false, std::sync::atomic::Ordering::SeqCst);
    let ended = loop {
        let message = receive(&mut socket).await;
        if message["type"] == "error" {
            break message;
        }
    };
    assert_eq!(ended["code"], "forbidden");
    assert_eq!(ended["topic"], "users/7/notifications");
    tokio::time::timeout(Duration::from_secs(5), sse.text())
        .await
        .expect("the SSE stream ends")
        .unwrap();
    hub.merge("users/7/notifications", json!({"items": ["secret"]}))
        .unwrap();
    hub.merge("quotes", json!({"AAPL": 2.0})).unwrap();
    let next = loop {
        let message = receive(&mut socket).await;
        if message["type"] == "update" {
            break message;
        }
    };
    assert_eq!(next["topic"], "quotes", "nothing more of the revoked topic");
}

/// `users/..` topics need an `Authorization` header; the rest are public.
fn private_users() -> Config {
    Config::default().authorize(|request: &axum::http::request::Parts, topic: &str| {
        !topic.starts_with("users/") || request.headers.get("authorization").is_some()
    })
}

async fn listing(addr: SocketAddr) -> Value {
    let response = reqwest::get(format!("http://{addr}/live")).await.unwrap();
    response.json().await.unwrap()
}

fn topic_names(listing: &Value) -> Vec<&str> {
    let topics = listing["topics"].as_array().unwrap();
    topics.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_listing_shows_topics_and_counters_only_when_asked() {
    let addr = serve_with(&hub(), Config::default().show_totals(true)).await;
    let body = listing(addr).await;
    let names = topic_names(&body);
    assert_eq!(names, ["quotes", "users/7/notifications"]);
    assert!(body["server"]["clients"].is_u64());
    assert!(body["hub"]["published"].is_u64());

    // By default the counters, which speak of every client, are not shown,
    // and a request that may read nothing sees nothing.
    let addr = serve_with(&hub(), Config::default()).await;
    let body = listing(addr).await;
    assert_eq!(topic_names(&body).len(), 2);
    assert!(
        body.get("server").is_none() && body.get("hub").is_none(),
        "{body}"
    );
    let deny_all = Config::default().allow_if(|_, _| false);
    let addr = serve_with(&hub(), deny_all).await;
    assert_eq!(listing(addr).await, json!({"topics": []}));
}

/// Reads SSE events (name, id, data) from a response until `count` are read.
async fn sse_events(
    response: reqwest::Response,
    count: usize,
) -> Vec<(String, Option<String>, String)> {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time");
        buffer.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut id, mut data) = (String::from("message"), None, String::new());
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("id:") {
                    id = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            events.push((name, id, data));
        }
    }
    events
}

#[tokio::test]
async fn sse_replays_since_and_last_event_id_wins() {
    let hub = hub();
    for price in [191.0, 192.0, 193.0] {
        hub.merge("quotes", json!({"AAPL": price})).unwrap();
    }
    let addr = serve_with(&hub, Config::default()).await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("http://{addr}/live/quotes/events?since=0"))
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let publisher = hub.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        publisher.merge("quotes", json!({"AAPL": 194.0})).unwrap();
    });
    let events = sse_events(response, 2).await;
    assert_eq!(
        events[0],
        (
            "update".into(),
            Some("3".into()),
            r#"{"seq":3,"merge":{"AAPL":193.0}}"#.into()
        )
    );
    assert_eq!(events[1].1.as_deref(), Some("4"));
}

#[tokio::test]
async fn sse_says_resync_when_it_cannot_replay_and_sends_heartbeats_with_the_seq() {
    let hub = Hub::builder().first_version(0).replay(2).build();
    hub.set("t", json!({"n": 0})).unwrap();
    for n in 1..=5 {
        hub.merge("t", json!({"n": n})).unwrap();
    }
    let config = Config::default().heartbeat(Duration::from_millis(100));
    let addr = serve_with(&hub, config).await;
    let response = reqwest::get(format!("http://{addr}/live/t/events?since=1"))
        .await
        .unwrap();
    let events = sse_events(response, 2).await;
    assert_eq!(events[0].0, "resync");
    assert_eq!(events[1], ("heartbeat".into(), None, r#"{"seq":1}"#.into()));
}

#[tokio::test]
async fn sse_rejects_a_bad_resume_point() {
    let addr = serve_with(&hub(), Config::default()).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/live/quotes/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(addr: SocketAddr) -> Socket {
    tokio_tungstenite::connect_async(format!("ws://{addr}/live/ws"))
        .await
        .unwrap()
        .0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON text message, skipping pings.
async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Subscribes `socket` to `topic` from version `since`, with nothing to
/// replay: the server answers at once with a heartbeat at that version, so
/// that the client knows it is current even on a quiet topic.
async fn resume(socket: &mut Socket, topic: &str, since: u64) {
    send(
        socket,
        json!({"type": "subscribe", "topic": topic, "since": since}),
    )
    .await;
    assert_eq!(
        receive(socket).await,
        json!({"type": "heartbeat", "topic": topic, "seq": since})
    );
}

#[tokio::test]
async fn websocket_carries_many_topics_with_snapshots_and_replays() {
    let hub = hub();
    hub.merge("quotes", json!({"AAPL": 190.0})).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let mut socket = ws(addr).await;

    send(&mut socket, json!({"type": "subscribe", "topic": "quotes"})).await;
    assert_eq!(
        receive(&mut socket).await,
        json!({"type": "snapshot", "topic": "quotes", "version": 1, "data": {"AAPL": 190.0}})
    );
    resume(&mut socket, "users/7/notifications", 0).await;
    // Make sure the second subscription is in place before publishing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.merge("users/7/notifications", json!({"items": ["hello"]}))
        .unwrap();
    hub.merge("quotes", json!({"AAPL": 191.0})).unwrap();
    let mut received = [receive(&mut socket).await, receive(&mut socket).await];
    received.sort_by_key(|m| m["topic"].as_str().unwrap().to_owned());
    assert_eq!(
        received[0],
        json!({"type": "update", "topic": "quotes", "seq": 2, "merge": {"AAPL": 191.0}})
    );
    assert_eq!(received[1]["topic"], "users/7/notifications");
    assert_eq!(received[1]["seq"], 1);

    send(
        &mut socket,
        json!({"type": "unsubscribe", "topic": "quotes"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.merge("quotes", json!({"AAPL": 192.0})).unwrap();
    hub.merge("users/7/notifications", json!({"items": ["again"]}))
        .unwrap();
    assert_eq!(receive(&mut socket).await["topic"], "users/7/notifications");
}

#[tokio::test]
async fn websocket_garbage_gets_an_error_and_the_connection_survives() {
    let hub = hub();
    let addr = serve_with(&hub, Config::default()).await;
    let mut socket = ws(addr).await;
    let mut bystander = ws(addr).await;
    resume(&mut bystander, "quotes", 0).await;

    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    let reply = receive(&mut socket).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("bad_message"))
    );
    send(&mut socket, json!({"type": "dance"})).await;
    assert_eq!(receive(&mut socket).await["code"], "bad_message");
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(receive(&mut socket).await["code"], "bad_message");
    let deep = (0..40).fold(json!(1), |inner, _| json!([inner]));
    send(
        &mut socket,
        json!({"type": "subscribe", "topic": "quotes", "since": deep}),
    )
    .await;
    assert_eq!(receive(&mut socket).await["code"], "too_deep");
    send(&mut socket, json!({"type": "subscribe", "topic": "nope"})).await;
    let unknown = receive(&mut socket).await;
    assert_eq!(
        (unknown["code"].as_str(), unknown["topic"].as_str()),
        (Some("unknown_topic"), Some("nope"))
    );

    // Still alive, and the other client never noticed.
    send(&mut socket, json!({"type": "subscribe", "topic": "quotes"})).await;
    assert_eq!(receive(&mut socket).await["type"], "snapshot");
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.merge("quotes", json!({"AAPL": 1.0})).unwrap();
    assert_eq!(receive(&mut bystander).await["seq"], 1);
    assert_eq!(receive(&mut socket).await["seq"], 1);
}

#[tokio::test]
async fn websocket_limits_topics_and_closes_on_oversized_frames() {
    let hub = hub();
    for n in 0..3 {
        hub.set(&format!("t{n}"), json!(n)).unwrap();
    }
    let config = Config::default()
        .max_topics_per_connection(2)
        .limits(live_resource::Limits::default().max_message_bytes(1024));
    let addr = serve_with(&hub, config).await;
    let mut socket = ws(addr).await;
    for n in 0..2 {
        send(
            &mut socket,
            json!({"type": "subscribe", "topic": format!("t{n}")}),
        )
        .await;
        assert_eq!(receive(&mut socket).await["type"], "snapshot");
    }
    send(&mut socket, json!({"type": "subscribe", "topic": "t2"})).await;
    let refused = receive(&mut socket).await;
    assert_eq!(
        (refused["code"].as_str(), refused["topic"].as_str()),
        (Some("too_many_subscriptions"), Some("t2"))
    );
    // Resubscribing to a followed topic is not a new one.
    send(&mut socket, json!({"type": "subscribe", "topic": "t1"})).await;
    assert_eq!(receive(&mut socket).await["type"], "snapshot");

    let huge = format!(r#"{{"type":"subscribe","topic":"{}"}}"#, "x".repeat(4096));
    let _ = socket.send(Message::Text(huge.into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "an oversized frame closes the connection");
}

#[tokio::test]
async fn websocket_heartbeats_name_each_topic_and_its_last_seq() {
    let hub = hub();
    let addr = serve_with(
        &hub,
        Config::default().heartbeat(Duration::from_millis(100)),
    )
    .await;
    let mut socket = ws(addr).await;
    resume(&mut socket, "quotes", 0).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    hub.merge("quotes", json!({"AAPL": 2.0})).unwrap();
    assert_eq!(receive(&mut socket).await["seq"], 1);
    let beat = receive(&mut socket).await;
    assert_eq!(
        beat,
        json!({"type": "heartbeat", "topic": "quotes", "seq": 1})
    );
}

#[tokio::test]
async fn websocket_tells_subscribers_when_a_topic_is_removed() {
    let hub = hub();
    let addr = serve_with(&hub, Config::default()).await;
    let mut socket = ws(addr).await;
    resume(&mut socket, "quotes", 0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.remove("quotes");
    let reply = receive(&mut socket).await;
    assert_eq!(
        (reply["code"].as_str(), reply["topic"].as_str()),
        (Some("unknown_topic"), Some("quotes"))
    );
}

#[tokio::test]
async fn the_listing_shows_only_topics_the_request_may_read() {
    let config = private_users();
    let addr = serve_with(&hub(), config).await;
    let body = listing(addr).await;
    let names = topic_names(&body);
    assert_eq!(names, ["quotes"]);
}

#[tokio::test]
async fn a_refused_resubscribe_ends_the_old_subscription() {
    let allowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let gate = std::sync::Arc::clone(&allowed);
    let config = Config::default().authorize(move |_: &axum::http::request::Parts, _: &str| {
        gate.load(std::sync::atomic::Ordering::SeqCst)
    });
    let hub = hub();
    let addr = serve_with(&hub, config).await;
    let mut socket = ws(addr).await;
    resume(&mut socket, "quotes", 0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.merge("quotes", json!({"AAPL": 1.0})).unwrap();
    assert_eq!(receive(&mut socket).await["seq"], 1);

    // Access is revoked; the client asks again and is refused.
    allowed.store(false, std::sync::atomic::Ordering::SeqCst);
    send(
        &mut socket,
        json!({"type": "subscribe", "topic": "quotes", "since": 1}),
    )
    .await;
    assert_eq!(receive(&mut socket).await["code"], "forbidden");
    hub.merge("quotes", json!({"AAPL": 2.0})).unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
    assert!(
        quiet.is_err(),
        "no more updates of a refused topic: {quiet:?}"
    );
}

/// Who the request says it is, as an authentication layer would record it.
#[derive(Clone, Debug, PartialEq)]
struct User(&'static str);

#[tokio::test]
async fn the_websocket_hook_sees_the_upgrade_request_at_every_subscription() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    let config =
        Config::default().authorize(move |request: &axum::http::request::Parts, topic: &str| {
            let original = request.extensions.get::<axum::extract::OriginalUri>();
            record.lock().unwrap().push((
                topic.to_owned(),
                request.uri.to_string(),
                original.map(|uri| uri.0.to_string()),
                request.headers.get("x-tenant").cloned(),
                request.extensions.get::<User>().cloned(),
            ));
            true
        });
    let app = axum::Router::new()
        .nest("/api", router_with(hub(), config))
        .layer(axum::Extension(User("ann")));
    let addr = serve_app(app).await;

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/api/live/ws?room=7"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for topic in ["quotes", "users/7/notifications"] {
        send(&mut socket, json!({"type": "subscribe", "topic": topic})).await;
        assert_eq!(receive(&mut socket).await["type"], "snapshot");
    }

    let seen = seen.lock().unwrap();
    let topics: Vec<&str> = seen.iter().map(|(topic, ..)| topic.as_str()).collect();
    assert_eq!(topics, ["quotes", "users/7/notifications"]);
    for (_, uri, original, tenant, user) in seen.iter() {
        assert_eq!(
            uri, "/live/ws?room=7",
            "the URI as the nested router saw it"
        );
        assert_eq!(original.as_deref(), Some("/api/live/ws?room=7"));
        assert_eq!(
            tenant.as_ref().map(|value| value.to_str().unwrap()),
            Some("acme")
        );
        assert_eq!(user.as_ref(), Some(&User("ann")));
    }
}

#[tokio::test]
async fn websocket_batches_larger_than_the_write_buffer_arrive_whole_and_in_order() {
    let hub = Hub::builder().first_version(0).build();
    let big: serde_json::Map<String, Value> =
        (0..4000).map(|n| (format!("key{n}"), json!(n))).collect();
    hub.set("big", Value::Object(big.clone())).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let mut socket = ws(addr).await;
    send(&mut socket, json!({"type": "subscribe", "topic": "big"})).await;
    let snapshot = receive(&mut socket).await;
    assert_eq!(snapshot["data"], Value::Object(big));

    // Ready together, these go out in one batch of many writes.
    let padding = "x".repeat(2000);
    for n in 1..=40 {
        hub.merge("big", json!({"key0": n, "padding": padding}))
            .unwrap();
    }
    for n in 1..=40 {
        let update = receive(&mut socket).await;
        assert_eq!(
            (update["seq"].as_u64(), update["merge"]["key0"].as_u64()),
            (Some(n), Some(n))
        );
    }
}

/// A state whose JSON is larger than `bytes`, with characters of every UTF-8
/// width, so that fragment boundaries fall inside some of them.
fn large_state(bytes: usize) -> Value {
    let piece = "aé€🦀";
    let items: Vec<Value> = (0..bytes / 1000 + 1)
        .map(|n| json!({"n": n, "text": piece.repeat(100)}))
        .collect();
    json!({ "items": items })
}

#[tokio::test]
async fn a_snapshot_larger_than_a_megabyte_arrives_as_one_message() {
    let hub = Hub::builder().first_version(0).build();
    let state = large_state(1 << 20);
    hub.set("big", state.clone()).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let mut socket = ws(addr).await;
    send(&mut socket, json!({"type": "subscribe", "topic": "big"})).await;
    let snapshot = receive(&mut socket).await;
    assert!(snapshot.to_string().len() > 1 << 20);
    assert_eq!(
        snapshot,
        json!({"type": "snapshot", "topic": "big", "version": 0, "data": state})
    );

    // What follows a fragmented message comes after it, whole.
    hub.merge("big", json!({"tail": "🦀".repeat(20_000)}))
        .unwrap();
    hub.merge("big", json!({"small": 1})).unwrap();
    let large = receive(&mut socket).await;
    assert_eq!(large["seq"], 1);
    assert_eq!(large["merge"]["tail"].as_str().unwrap().len(), 80_000);
    assert_eq!(receive(&mut socket).await["seq"], 2);
}

#[tokio::test]
async fn our_client_reads_a_snapshot_larger_than_a_megabyte() {
    use live_resource::client::ws::WsClient;
    use live_resource::source::SnapshotSource;

    let hub = Hub::builder().first_version(0).build();
    let state = large_state(1 << 20);
    hub.set("big", state.clone()).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let client = WsClient::new(format!("ws://{addr}/live/ws"));
    let snapshot = tokio::time::timeout(Duration::from_secs(10), client.source("big").snapshot())
        .await
        .expect("a snapshot in time")
        .unwrap();
    assert_eq!((snapshot.version, snapshot.data), (Some(0), state));
}

/// One frame as it came over the wire: its opcode, FIN bit and payload.
struct RawFrame {
    opcode: u8,
    fin: bool,
    payload: Vec<u8>,
}

/// Reads one unmasked frame, as a server sends them.
async fn raw_frame(stream: &mut tokio::net::TcpStream) -> RawFrame {
    use tokio::io::AsyncReadExt;
    let mut head = [0; 2];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(head[1] & 0x80, 0, "a server does not mask its frames");
    let len = match head[1] & 0x7f {
        126 => u64::from(stream.read_u16().await.unwrap()),
        127 => stream.read_u64().await.unwrap(),
        len => u64::from(len),
    };
    let mut payload = vec![0; usize::try_from(len).unwrap()];
    stream.read_exact(&mut payload).await.unwrap();
    RawFrame {
        opcode: head[0] & 0x0f,
        fin: head[0] & 0x80 != 0,
        payload,
    }
}

/// Opens a WebSocket by hand, with RFC 6455's sample key, and checks the 101.
async fn raw_websocket(addr: SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /live/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive, Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Byte by byte, so that nothing after the head is read into a buffer.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
    stream
}

/// A masked text frame of under 126 bytes, as every client must send.
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [1, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | u8::try_from(payload.len()).unwrap()];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

#[tokio::test]
async fn a_client_reading_a_large_snapshot_slowly_but_steadily_is_not_cut_off() {
    // The stall limit is two heartbeats (2 s here); taking a 12 MB snapshot
    // at about 3 MB/s takes longer than that, even after the socket buffers
    // took their part at once, but every frame goes in time.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let state = large_state(12_000_000);
    let size = serde_json::to_vec(&state).unwrap().len();
    let hub = Hub::builder()
        .first_version(0)
        .limits(live_resource::Limits::default().max_state_bytes(64 << 20))
        .build();
    hub.set("big", state).unwrap();
    let config = Config::default().heartbeat(Duration::from_secs(1));
    let addr = serve_with(&hub, config).await;
    let mut stream = raw_websocket(addr).await;
    let subscribe = json!({"type": "subscribe", "topic": "big"}).to_string();
    stream
        .write_all(&masked_text_frame(subscribe.as_bytes()))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut read = 0usize;
    let mut buffer = vec![0u8; 16 * 1024];
    while read < size {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "cut off after {read} of {size} bytes");
        read += n;
        // 16 KiB every 5 ms: about 3 MB/s.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "slower than the stall limit, or the test proves nothing"
    );
}

#[tokio::test]
async fn a_broken_frame_is_answered_with_the_close_code_rfc_6455_gives_it() {
    use tokio::io::AsyncWriteExt;
    let addr = serve_with(&hub(), Config::default()).await;
    // Text that is not UTF-8: 1007; a frame with reserved bits set: 1002.
    let mut bad_text = masked_text_frame(&[0xff, 0xfe, b'{']);
    let mut reserved = masked_text_frame(b"{}");
    reserved[0] |= 0x40;
    for (frame, expected) in [(&mut bad_text, 1007u16), (&mut reserved, 1002)] {
        let mut stream = raw_websocket(addr).await;
        stream.write_all(frame).await.unwrap();
        let close = loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), raw_frame(&mut stream))
                .await
                .expect("a close frame in time");
            if frame.opcode == 0x8 {
                break frame;
            }
        };
        let code = u16::from_be_bytes([close.payload[0], close.payload[1]]);
        assert_eq!(code, expected);
    }
}

#[tokio::test]
async fn large_messages_go_out_in_frames_of_at_most_8_kib() {
    use tokio::io::AsyncWriteExt;
    let hub = Hub::builder().first_version(0).build();
    let state = large_state(200_000);
    hub.set("big", state.clone()).unwrap();
    let addr = serve_with(&hub, Config::default()).await;
    let mut stream = raw_websocket(addr).await;

    let request = masked_text_frame(br#"{"type":"subscribe","topic":"big"}"#);
    stream.write_all(&request).await.unwrap();

    let mut frames = Vec::new();
    loop {
        let frame = raw_frame(&mut stream).await;
        // No ping comes between fragments: the heartbeat is 15 s away.
        assert!(matches!(frame.opcode, 0 | 1), "opcode {}", frame.opcode);
        let fin = frame.fin;
        frames.push(frame);
        if fin {
            break;
        }
    }
    assert!(frames.len() > 10, "{} frames", frames.len());
    assert_eq!(frames[0].opcode, 1, "the first frame says text");
    assert!(frames[1..].iter().all(|frame| frame.opcode == 0));
    assert!(frames.iter().all(|frame| frame.payload.len() <= 8 * 1024));
    let mut message = Vec::new();
    for frame in &frames {
        // No character is split, though the RFC would allow it.
        assert!(std::str::from_utf8(&frame.payload).is_ok());
        message.extend_from_slice(&frame.payload);
    }
    let snapshot: Value = serde_json::from_slice(&message).unwrap();
    assert_eq!(snapshot["data"], state);
}

#[tokio::test]
async fn a_bad_upgrade_request_gets_a_clear_http_error() {
    let addr = serve_with(&hub(), Config::default()).await;
    let client = reqwest::Client::new();
    let upgrade = |key: Option<&str>, version: &str| {
        let mut request = client
            .get(format!("http://{addr}/live/ws"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", version);
        if let Some(key) = key {
            request = request.header("sec-websocket-key", key);
        }
        request.send()
    };
    let wrong_version = upgrade(Some("dGhlIHNhbXBsZSBub25jZQ=="), "8")
        .await
        .unwrap();
    assert_eq!(
        wrong_version.headers()["sec-websocket-version"],
        "13",
        "RFC 6455 §4.4: say which version is spoken"
    );
    let refusals = [
        (upgrade(None, "13").await.unwrap(), 400, "Sec-WebSocket-Key"),
        (
            upgrade(Some("x"), "13").await.unwrap(),
            400,
            "Sec-WebSocket-Key",
        ),
        (
            upgrade(Some("dGhlIHNhbXBsZSBub25jZR=="), "13")
                .await
                .unwrap(),
            400,
            "Sec-WebSocket-Key",
        ),
        (wrong_version, 400, "Sec-WebSocket-Version"),
        (
            client
                .get(format!("http://{addr}/live/ws"))
                .send()
                .await
                .unwrap(),
            400,
            "Connection",
        ),
        (
            client
                .get(format!("http://{addr}/live/ws"))
                .header("connection", "upgrade")
                .header("upgrade", "h2c")
                .send()
                .await
                .unwrap(),
            400,
            "Upgrade",
        ),
    ];
    for (response, status, names) in refusals {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(names), "{message}");
    }
    let post = client
        .post(format!("http://{addr}/live/ws"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

/// Opens `/live/ws` as a browser page at `origin` would, or as a program
/// (no `Origin`): the HTTP status of the answer.
async fn upgrade_from(addr: SocketAddr, origin: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/live/ws")
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    request
        .headers_mut()
        .insert("cookie", "session=alice".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert!(body["error"].as_str().unwrap().contains("origin"), "{body}");
            response.status().as_u16()
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_websocket_from_a_page_of_another_site_is_refused() {
    // Cross-site WebSocket hijacking: CORS does not apply to WebSockets, so
    // without this check any page could read private topics with the
    // visitor's cookies.
    let addr = serve_with(&hub(), Config::default()).await;
    assert_eq!(upgrade_from(addr, Some("http://evil.example")).await, 403);
    assert_eq!(upgrade_from(addr, Some("null")).await, 403);
    let own = format!("http://{addr}");
    assert_eq!(
        upgrade_from(addr, Some(&own)).await,
        101,
        "the server's own pages"
    );
    assert_eq!(
        upgrade_from(addr, None).await,
        101,
        "programs send no Origin"
    );

    let listed = Config::default().allowed_origins(["https://app.example/"]);
    let addr = serve_with(&hub(), listed).await;
    assert_eq!(upgrade_from(addr, Some("https://app.example")).await, 101);
    assert_eq!(upgrade_from(addr, Some("http://app.example")).await, 403);
    assert_eq!(upgrade_from(addr, Some("http://evil.example")).await, 403);

    let addr = serve_with(&hub(), Config::default().any_origin()).await;
    assert_eq!(upgrade_from(addr, Some("http://evil.example")).await, 101);
}

#[tokio::test]
async fn websocket_answers_a_close_with_a_close() {
    let addr = serve_with(&hub(), Config::default()).await;
    let mut socket = ws(addr).await;
    socket.close(None).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an answer within 5 s");
    assert!(
        matches!(answer, Some(Ok(Message::Close(_)))),
        "RFC 6455 §5.5.1: {answer:?}"
    );
}

/// Waits (boundedly) until the server counts `expected` clients.
async fn clients_become(addr: SocketAddr, expected: u64) -> Value {
    let mut clients = Value::Null;
    for _ in 0..100 {
        clients = listing(addr).await["server"]["clients"].clone();
        if clients == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clients
}

#[tokio::test]
async fn a_websocket_client_that_vanishes_mid_frame_is_let_go() {
    use tokio::io::AsyncWriteExt;
    let hub = hub();
    let config = Config::default()
        .heartbeat(Duration::from_millis(300))
        .show_totals(true);
    let addr = serve_with(&hub, config).await;
    let mut stream = raw_websocket(addr).await;
    let request = masked_text_frame(br#"{"type":"subscribe","topic":"quotes","since":1}"#);
    stream.write_all(&request).await.unwrap();
    assert_eq!(clients_become(addr, 1).await, 1);
    let subscribed = async {
        while hub.subscribers("quotes") == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), subscribed)
        .await
        .expect("subscribed");

    // Half of the next frame, and then nothing: no more bytes, no Pong for
    // the server's Pings, no close. The topic is quiet, so no write stalls
    // either: only the silence tells.
    stream
        .write_all(&[0x81, 0x80 | 60, 1, 2, 3, 4, b'{'])
        .await
        .unwrap();
    assert_eq!(
        clients_become(addr, 0).await,
        0,
        "a client that answers none of three Pings in a row is let go"
    );
    assert_eq!(hub.subscribers("quotes"), 0, "and its subscription with it");
    drop(stream);
}

/// The server of `hub`, with heartbeats 100 ms apart, and a WebSocket
/// client that asked to follow `topic` from version `since`.
async fn subscribed(hub: &Hub, topic: &str, since: u64) -> (SocketAddr, Socket) {
    let config = Config::default()
        .heartbeat(Duration::from_millis(100))
        .show_totals(true);
    let addr = serve_with(hub, config).await;
    let mut socket = ws(addr).await;
    let request = json!({"type": "subscribe", "topic": topic, "since": since});
    send(&mut socket, request).await;
    (addr, socket)
}

#[tokio::test]
async fn a_websocket_client_that_reads_stays_however_quiet_the_topic() {
    let hub = hub();
    let (addr, mut socket) = subscribed(&hub, "quotes", 1).await;
    // Reading answers the server's Pings (tungstenite sends the Pongs);
    // the client sends nothing else for ten heartbeat periods.
    let mut heartbeats = 0;
    let reading = async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let message: Value = serde_json::from_str(&text).unwrap();
                heartbeats += usize::from(message["type"] == "heartbeat");
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), reading).await;
    assert!(heartbeats >= 3, "{heartbeats} heartbeats");
    assert_eq!(listing(addr).await["server"]["clients"], 1);
    assert_eq!(hub.subscribers("quotes"), 1);
}

#[tokio::test]
async fn a_websocket_client_that_takes_in_nothing_is_let_go() {
    let hub = hub();
    hub.set("big", json!({"v": ""})).unwrap();
    let (addr, socket) = subscribed(&hub, "big", 0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(listing(addr).await["server"]["clients"], 1);

    // 24 MB of updates, more than loopback's socket buffers hold, and the
    // client reads none of it: the server's writes stall.
    let filler = "x".repeat(60_000);
    for i in 0..400 {
        hub.merge("big", json!({"v": format!("{filler}{i}")}))
            .unwrap();
    }
    let mut clients = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        clients = listing(addr).await["server"]["clients"].clone();
        if clients == 0 {
            break;
        }
    }
    assert_eq!(clients, 0, "the stalled connection was let go");
    drop(socket);
}
