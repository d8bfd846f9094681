//! Several nodes on one Redis, in this process: one numbering, local
//! replicas fed by announcements, repaired from the log, and new histories
//! when Redis loses its data.

use std::time::Duration;

use futures::StreamExt;
use live_resource::hub::Delivery;
use live_resource::redis::RedisHub;
use live_resource::{Error, Patch};
use serde_json::{Value, json};

use crate::redis_server::RedisServer;
use crate::support::within;

/// Waits until `node`'s replica of `topic` is at `version`; its state.
async fn replica_at(node: &RedisHub, topic: &str, version: u64) -> Value {
    within(async {
        loop {
            // Through the node: it follows the topic from then on.
            if let Some(snapshot) = node.snapshot(topic).await.unwrap() {
                if snapshot.version >= Some(version) {
                    assert_eq!(snapshot.version, Some(version), "went past {version}");
                    return snapshot.data;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

#[tokio::test]
async fn changes_from_every_node_share_one_numbering() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b, c) = (redis.node().await, redis.node().await, redis.node().await);
    let first = a
        .set("jobs/1", json!({"done": 0, "total": 3}))
        .await
        .unwrap();
    assert_eq!(
        b.merge("jobs/1", json!({"done": 1})).await.unwrap(),
        first + 1
    );
    assert_eq!(
        c.update("jobs/1", |job| job["done"] = json!(2))
            .await
            .unwrap(),
        first + 2
    );
    let ops = serde_json::from_value(json!([{"op": "replace", "path": "/done", "value": 3}]));
    assert_eq!(
        a.publish("jobs/1", Patch::Json(ops.unwrap()))
            .await
            .unwrap(),
        first + 3
    );
    for node in [&a, &b, &c] {
        assert_eq!(
            node.snapshot("jobs/1").await.unwrap().unwrap().data,
            json!({"done": 3, "total": 3})
        );
        assert_eq!(replica_at(node, "jobs/1", first + 3).await["done"], 3);
    }
    // `set` to the same value changes nothing and publishes nothing.
    assert_eq!(
        b.set("jobs/1", json!({"done": 3, "total": 3}))
            .await
            .unwrap(),
        first + 3
    );
}

#[tokio::test]
async fn concurrent_updates_from_three_nodes_lose_no_increment() {
    // Half of them change the whole value, half only the counter's place.
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let nodes = [redis.node().await, redis.node().await, redis.node().await];
    let first = nodes[0].set("counter", json!({"n": 0})).await.unwrap();
    let per_node = 40;
    let tasks: Vec<_> = nodes
        .iter()
        .cloned()
        .map(|node| {
            tokio::spawn(async move {
                for round in 0..per_node {
                    if round % 2 == 0 {
                        node.update("counter", |counter| {
                            counter["n"] = json!(counter["n"].as_u64().unwrap() + 1);
                        })
                        .await
                    } else {
                        node.update_at("counter", "/n", |n| *n = json!(n.as_u64().unwrap() + 1))
                            .await
                    }
                    .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        within(task).await.unwrap();
    }
    let total = 3 * per_node;
    for node in &nodes {
        let state = replica_at(node, "counter", first + total).await;
        assert_eq!(state, json!({"n": total}));
    }
}

#[tokio::test]
async fn a_subscriber_on_another_node_sees_every_version_in_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (publisher, server) = (redis.node().await, redis.node().await);
    let first = publisher.set("quotes", json!({"AAPL": 0})).await.unwrap();
    assert!(server.snapshot("quotes").await.unwrap().is_some());
    let mut subscription = server.hub().subscribe("quotes", Some(first)).unwrap();
    for price in 1..=200 {
        publisher
            .merge("quotes", json!({"AAPL": price}))
            .await
            .unwrap();
    }
    for expected in first + 1..=first + 200 {
        match within(subscription.next()).await.unwrap() {
            Delivery::Update(frame) => assert_eq!(frame.seq(), expected),
            Delivery::Resync => panic!("resync at {expected}"),
        }
    }
}

#[tokio::test]
async fn a_replica_is_read_only() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = redis.node().await;
    node.set("t", json!(1)).await.unwrap();
    assert!(matches!(
        node.hub().set("t", json!(2)),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        node.hub().merge("t", json!({})),
        Err(Error::ReadOnly { .. })
    ));
    assert!(!node.hub().remove("t"));
    assert_eq!(node.snapshot("t").await.unwrap().unwrap().data, json!(1));
}

#[tokio::test]
async fn unknown_topics_are_errors_and_removed_topics_leave_every_node() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (redis.node().await, redis.node().await);
    assert!(matches!(
        a.merge("nope", json!({"a": 1})).await,
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        a.update("nope", |_| {}).await,
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(a.snapshot("nope").await.unwrap(), None);
    a.set("gone", json!({"a": 1})).await.unwrap();
    assert!(b.snapshot("gone").await.unwrap().is_some());
    let mut subscription = b.hub().subscribe("gone", None).unwrap();
    assert!(a.remove("gone").await.unwrap());
    assert!(
        within(subscription.next()).await.is_none(),
        "its subscription ends"
    );
    assert_eq!(b.hub().version("gone"), None);
    assert_eq!(b.snapshot("gone").await.unwrap(), None);
    assert!(!a.remove("gone").await.unwrap());
}

#[tokio::test]
async fn killed_announcement_connections_lose_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (publisher, server) = (redis.node().await, redis.node().await);
    let first = publisher.set("ticks", json!({"n": 0})).await.unwrap();
    assert!(server.snapshot("ticks").await.unwrap().is_some());
    let mut subscription = server.hub().subscribe("ticks", Some(first)).unwrap();
    let count = 300;
    let killer = redis.kill_pubsub_repeatedly(10, Duration::from_millis(30));
    for n in 1..=count {
        publisher.merge("ticks", json!({"n": n})).await.unwrap();
        if n % 30 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    killer.await.unwrap();
    for expected in first + 1..=first + count {
        match within(subscription.next()).await.unwrap() {
            Delivery::Update(frame) => assert_eq!(frame.seq(), expected),
            Delivery::Resync => panic!("resync at {expected}: a gap reached the client"),
        }
    }
}

#[tokio::test]
async fn a_node_that_joins_late_loads_the_snapshot_and_the_log() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let publisher = RedisHub::builder(redis.url())
        .retain(8)
        .connect()
        .await
        .unwrap();
    let first = publisher.set("big", json!({"rows": {}})).await.unwrap();
    for n in 0..500u64 {
        publisher
            .merge("big", json!({"rows": {(n % 50).to_string(): n}}))
            .await
            .unwrap();
    }
    let late = redis.node().await;
    let loaded = late.snapshot("big").await.unwrap().unwrap();
    assert_eq!(loaded.version, Some(first + 500));
    assert_eq!(
        loaded.data,
        publisher.snapshot("big").await.unwrap().unwrap().data
    );
    assert_eq!(loaded.data["rows"]["49"], 499);
    // What Redis keeps is bounded: snapshots were written and the log trimmed.
    within(async {
        loop {
            let entries: usize = redis.cli(&["XLEN", "lr:{big}:log"]).parse().unwrap();
            if entries <= 2 * 8 + 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn redis_restarted_empty_gives_a_new_history_above_the_old() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (publisher, server) = (redis.node().await, redis.node().await);
    let first = publisher.set("board", json!({"a": 1})).await.unwrap();
    publisher.merge("board", json!({"b": 2})).await.unwrap();
    assert!(server.snapshot("board").await.unwrap().is_some());
    replica_at(&server, "board", first + 1).await;
    let mut subscription = server.hub().subscribe("board", Some(first + 1)).unwrap();

    redis.restart();
    // The node that follows the topic makes it again from its state, above
    // every version it had: its subscribers resync.
    match within(subscription.next()).await.unwrap() {
        Delivery::Resync => {}
        Delivery::Update(frame) => panic!("an update {} across the loss", frame.seq()),
    }
    let snapshot = within(async {
        loop {
            if let Ok(Some(snapshot)) = publisher.snapshot("board").await {
                if snapshot.version > Some(first + 1) {
                    return snapshot;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(snapshot.data, json!({"a": 1, "b": 2}));
    let next = publisher.merge("board", json!({"c": 3})).await.unwrap();
    assert!(next > first + 2);
}

#[tokio::test]
async fn redis_stopped_fails_changes_clearly_and_keeps_the_replicas() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let node = redis.node().await;
    let first = node.set("t", json!({"a": 1})).await.unwrap();
    redis.stop();
    let failed = within(node.merge("t", json!({"a": 2}))).await;
    assert!(matches!(failed, Err(Error::Backplane(_))), "{failed:?}");
    assert_eq!(node.hub().snapshot("t").unwrap().data, json!({"a": 1}));
    assert_eq!(node.hub().version("t"), Some(first));
}

#[tokio::test]
async fn a_history_that_went_back_starts_again_above_every_version_seen() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (redis.node().await, redis.node().await);
    let first = a.set("t", json!({"n": 0})).await.unwrap();
    for n in 1..=5 {
        a.merge("t", json!({"n": n})).await.unwrap();
    }
    let seen = first + 5;
    replica_at(&b, "t", seen).await;
    let mut subscription = b.hub().subscribe("t", Some(seen)).unwrap();

    // A failover to a replica that had not received the last two changes:
    // Redis's history goes back to `seen - 2` while the nodes saw `seen`.
    let back = (seen - 2).to_string();
    redis.cli(&["HSET", "lr:{t}:meta", "v", &back]);
    let lost = [format!("{}-1", seen - 1), format!("{seen}-1")];
    redis.cli(&["XDEL", "lr:{t}:log", &lost[0], &lost[1]]);
    redis.cli(&["XSETID", "lr:{t}:log", &format!("{back}-1")]);
    assert_eq!(redis.cli(&["XLEN", "lr:{t}:log"]), "3");

    // The next change is numbered `seen - 1` again, with other contents: a
    // node must not serve two states under one version.
    a.merge("t", json!({"other": true})).await.unwrap();
    match within(subscription.next()).await.unwrap() {
        Delivery::Resync => {}
        Delivery::Update(frame) => panic!("update {} served across the seam", frame.seq()),
    }
    let after = within(async {
        loop {
            if let Some(snapshot) = b.hub().snapshot("t") {
                if snapshot.version > Some(seen) {
                    return snapshot;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The state is Redis's (what survived, with the change made after).
    assert_eq!(after.data, json!({"n": 3, "other": true}));
    // Every node continues above every version seen, from the same state.
    let next = b.merge("t", json!({"n": 6})).await.unwrap();
    assert!(next > seen + 1, "{next} > {seen}");
    assert_eq!(
        replica_at(&a, "t", next).await,
        json!({"n": 6, "other": true})
    );
    // A client that resumes with a version of the lost history resyncs.
    let mut stale = a.hub().subscribe("t", Some(seen)).unwrap();
    assert!(matches!(within(stale.next()).await, Some(Delivery::Resync)));
}

#[tokio::test]
async fn the_node_that_made_a_topic_hears_every_later_change() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (redis.node().await, redis.node().await);
    // Making a topic looks for it first (and finds nothing), then follows
    // it: the channel must stay subscribed.
    for round in 0..20 {
        let topic = format!("made/{round}");
        let first = a.set(&topic, json!({"n": 0})).await.unwrap();
        let next = b.merge(&topic, json!({"n": 1})).await.unwrap();
        assert_eq!(next, first + 1);
        assert_eq!(replica_at(&a, &topic, next).await, json!({"n": 1}));
    }
}

#[tokio::test]
async fn with_persistence_every_topic_survives_a_restart_of_everything() {
    let Some(mut redis) = RedisServer::start_persistent() else {
        return;
    };
    let version = {
        let node = redis.node().await;
        node.set("kept", json!({"a": 1})).await.unwrap();
        node.merge("kept", json!({"b": 2})).await.unwrap()
    };
    redis.restart();
    let node = redis.node().await;
    let snapshot = node.snapshot("kept").await.unwrap().unwrap();
    assert_eq!(snapshot.version, Some(version));
    assert_eq!(snapshot.data, json!({"a": 1, "b": 2}));
    assert_eq!(
        node.merge("kept", json!({"c": 3})).await.unwrap(),
        version + 1
    );
}

#[tokio::test]
async fn topics_no_one_changes_expire_from_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let publisher = RedisHub::builder(redis.url())
        .expire_after(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    publisher.set("brief", json!({"a": 1})).await.unwrap();
    publisher.merge("brief", json!({"a": 2})).await.unwrap();
    assert!(
        redis
            .cli(&["PTTL", "lr:{brief}:meta"])
            .parse::<i64>()
            .unwrap()
            > 0
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        redis.cli(&[
            "EXISTS",
            "lr:{brief}:meta",
            "lr:{brief}:log",
            "lr:{brief}:snapshot"
        ]),
        "0"
    );
    let late = redis.node().await;
    assert_eq!(late.snapshot("brief").await.unwrap(), None);
}

#[tokio::test]
async fn a_node_drops_topics_no_client_follows_and_loads_them_again() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let publisher = redis.node().await;
    let server = RedisHub::builder(redis.url())
        .unfollow_after(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    publisher.set("kept", json!(1)).await.unwrap();
    publisher.set("dropped", json!(1)).await.unwrap();
    assert!(server.snapshot("kept").await.unwrap().is_some());
    assert!(server.snapshot("dropped").await.unwrap().is_some());
    let _client = server.hub().subscribe("kept", None).unwrap();
    within(async {
        while server.hub().version("dropped").is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        server.hub().version("kept").is_some(),
        "a followed topic stays"
    );
    // Asked for again, it loads again, current.
    let version = publisher.merge("dropped", json!(2)).await.unwrap();
    let snapshot = server.snapshot("dropped").await.unwrap().unwrap();
    assert_eq!((snapshot.version, snapshot.data), (Some(version), json!(2)));
}

#[tokio::test]
async fn a_node_that_follows_an_expired_topic_makes_it_again() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = RedisHub::builder(redis.url())
        .expire_after(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let first = node.set("brief", json!({"a": 1})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(redis.cli(&["EXISTS", "lr:{brief}:meta"]), "0");
    // This node still holds it: the change lands on it, in a new history.
    let next = node.merge("brief", json!({"b": 2})).await.unwrap();
    assert!(next > first + 1);
    assert_eq!(
        node.snapshot("brief").await.unwrap().unwrap().data,
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        node.update("brief", |v| v["c"] = json!(3)).await.unwrap(),
        next + 1
    );
}

#[tokio::test]
async fn asking_for_topics_that_do_not_exist_subscribes_to_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = redis.node().await;
    node.set("real", json!(1)).await.unwrap();
    for n in 0..100 {
        assert_eq!(node.snapshot(&format!("typo/{n}")).await.unwrap(), None);
    }
    // Only the real topic's channel; no keys for the names asked about.
    assert_eq!(redis.cli(&["PUBSUB", "CHANNELS"]), "lr:{real}");
    assert_eq!(redis.cli(&["KEYS", "lr:{typo*"]), "");
}

#[tokio::test]
async fn a_table_written_from_two_nodes_is_one_numbered_history_of_row_updates() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (redis.node().await, redis.node().await);
    // The first row makes the topic.
    let first = a
        .collection("records")
        .insert("r1", json!({"status": "generated"}))
        .await
        .unwrap();
    let batch = live_resource::hub::Batch::new()
        .patch_row("r1", json!({"status": "done"}))
        .upsert("r2", json!({"status": "generated", "note": null}));
    assert_eq!(
        b.collection("records").write(batch).await.unwrap(),
        first + 1
    );
    let missing = a.collection("records").patch_row("r9", json!({})).await;
    assert!(matches!(missing, Err(Error::Row { key, .. }) if key == "r9"));
    assert_eq!(
        a.collection("records").remove("r1").await.unwrap(),
        first + 2
    );
    for node in [&a, &b] {
        assert_eq!(
            replica_at(node, "records", first + 2).await,
            json!({"r2": {"status": "generated", "note": null}})
        );
    }
}
