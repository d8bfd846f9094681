//! Clients of a node while Redis goes away and comes back.

use std::time::{Duration, Instant};

use live_resource::client::ws::WsClient;
use live_resource::{Error, LiveResource, Status};
use serde_json::{Value, json};

use crate::redis_server::RedisServer;
use crate::support::follower::Follower;
use crate::support::served::serve;
use crate::support::{fast_backoff, within};

fn client(addr: std::net::SocketAddr, topic: &str) -> Follower {
    let ws = WsClient::new(format!("ws://{addr}/live/ws"));
    Follower::spawn(LiveResource::<Value>::connect(ws.source(topic)).backoff(fast_backoff()))
}

#[tokio::test]
async fn redis_restarted_empty_sends_every_client_to_a_new_snapshot_within_two_seconds() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (publisher, server) = (redis.node().await, redis.node().await);
    let first = publisher.set("board", json!({"a": 1})).await.unwrap();
    let addr = serve(server.hub()).await;
    let mut follower = client(addr, "board");
    assert_eq!(
        within(follower.next_state()).await,
        (json!({"a": 1}), Some(first))
    );

    redis.restart();
    let back = Instant::now();
    // The same state, under a version of a new history above the old.
    let (state, version) = within(follower.next_state()).await;
    assert!(
        back.elapsed() < Duration::from_secs(2),
        "took {:?}",
        back.elapsed()
    );
    assert_eq!(state, json!({"a": 1}));
    assert!(version > Some(first));
    // And it goes on from there, from any node.
    let next = publisher.merge("board", json!({"b": 2})).await.unwrap();
    assert_eq!(follower.until_version(next).await, json!({"a": 1, "b": 2}));
}

#[tokio::test]
async fn redis_stopped_fails_publishes_and_clients_keep_their_state_reconnecting() {
    let Some(mut redis) = RedisServer::start_persistent() else {
        return;
    };
    let (publisher, server) = (redis.node().await, redis.node().await);
    let first = publisher.set("board", json!({"a": 1})).await.unwrap();
    let addr = serve(server.hub()).await;
    let mut follower = client(addr, "board");
    assert_eq!(within(follower.next_state()).await.1, Some(first));

    redis.stop();
    let failed = within(publisher.merge("board", json!({"a": 2}))).await;
    assert!(matches!(failed, Err(Error::Backplane(_))), "{failed:?}");
    // Past the node's timeout (500 ms here) its replica may be stale: its
    // clients are sent away, and say so, with the state they had.
    // (`Resyncing`, refused, then `Reconnecting` with backoff.)
    let mut status = follower.status.clone();
    within(status.wait_for(|status| matches!(status, Status::Reconnecting { .. })))
        .await
        .unwrap();
    while let Some(seen) = follower.try_seen() {
        let error = seen.item.expect_err("no new state while Redis is away");
        assert!(!error.is_final(), "{error}");
        assert_eq!(seen.json, Some(json!({"a": 1})), "the state stays");
    }

    // Back with its data: the client goes on from where it was.
    redis.restart();
    let next = within(async {
        loop {
            match publisher.merge("board", json!({"a": 3})).await {
                Ok(version) => return version,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert_eq!(next, first + 1, "the failed publish was not made");
    // Refusals (retried) until the node is back, then the state.
    loop {
        let seen = within(follower.seen()).await;
        match seen.item {
            Ok(state) if seen.version == Some(next) => {
                assert_eq!(state, json!({"a": 3}));
                break;
            }
            Ok(_) => {}
            Err(error) => assert!(!error.is_final(), "{error}"),
        }
    }
    assert_eq!(*follower.status.borrow(), Status::Live);
}

#[tokio::test]
async fn a_node_that_cannot_reach_redis_answers_unavailable_not_unknown() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let server = redis.node().await;
    let addr = serve(server.hub()).await;
    redis.stop();
    let response = within(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /live/board HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    })
    .await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("unavailable"), "{response}");
}

#[tokio::test]
async fn announcement_connections_killed_while_publishing_cost_clients_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (publisher, server) = (redis.node().await, redis.node().await);
    let first = publisher.set("ticks", json!({"n": 0})).await.unwrap();
    let addr = serve(server.hub()).await;
    let ws = WsClient::new(format!("ws://{addr}/live/ws"));
    let mut follower = Follower::spawn(
        LiveResource::<Value>::connect(ws.source("ticks"))
            .backoff(fast_backoff())
            .every_state(),
    );
    assert_eq!(within(follower.next_state()).await.1, Some(first));

    let killer = redis.kill_pubsub_repeatedly(8, Duration::from_millis(40));
    let count = 200;
    for n in 1..=count {
        publisher.merge("ticks", json!({"n": n})).await.unwrap();
        if n % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    killer.await.unwrap();
    // Every version, in order, each once: no error, no resync, no reconnect.
    for n in 1..=count {
        let (state, version) = within(follower.next_state()).await;
        assert_eq!((state, version), (json!({"n": n}), Some(first + n)));
    }
    assert_eq!(*follower.status.borrow(), Status::Live);
}
