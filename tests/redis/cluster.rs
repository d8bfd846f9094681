//! Nodes on a Redis Cluster of three masters: topics spread over the
//! shards, announcements by sharded pub/sub, and a master killed mid-stream
//! with its replica promoted.

use std::time::Duration;

use futures::StreamExt;
use live_resource::hub::Delivery;
use live_resource::redis::RedisHub;
use serde_json::json;

use crate::redis_cluster::RedisCluster;
use crate::support::within;

async fn node(cluster: &RedisCluster) -> RedisHub {
    RedisHub::cluster(cluster.urls())
        .timeout(Duration::from_millis(1000))
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_spread_over_shards_and_survive_a_master_failover() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let (publisher, server) = (node(&cluster).await, node(&cluster).await);
    let topics: Vec<String> = (0..12).map(|i| format!("shard/{i}")).collect();
    let masters: std::collections::HashSet<u16> = topics
        .iter()
        .map(|topic| cluster.master_of(&format!("{{{topic}}}")))
        .collect();
    assert_eq!(masters.len(), 3, "the topics spread over every master");

    let mut firsts = Vec::new();
    let mut subscriptions = Vec::new();
    for topic in &topics {
        let first = publisher.set(topic, json!({"n": 0})).await.unwrap();
        assert!(server.snapshot(topic).await.unwrap().is_some());
        subscriptions.push(server.hub().subscribe(topic, Some(first)).unwrap());
        firsts.push(first);
    }
    for n in 1..=20 {
        for topic in &topics {
            publisher.merge(topic, json!({"n": n})).await.unwrap();
        }
    }

    // A master dies; its replica takes over. Changes to its shard fail
    // until then, and are made again.
    let victim = &topics[0];
    cluster.kill_master_of(&format!("{{{victim}}}"));
    for n in 21..=40 {
        for topic in &topics {
            within(async {
                while publisher.merge(topic, json!({"n": n})).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
        }
    }

    // The server's replicas end on every topic's state, and what its
    // subscribers saw is a numbered run with no gap, or a resync.
    for ((topic, first), mut subscription) in topics.iter().zip(firsts).zip(subscriptions) {
        let end = publisher.snapshot(topic).await.unwrap().unwrap();
        assert_eq!(end.data, json!({"n": 40}));
        let mut expected = first + 1;
        loop {
            match within(subscription.next()).await.unwrap() {
                Delivery::Update(frame) => {
                    assert_eq!(frame.seq(), expected, "{topic}");
                    expected += 1;
                    if Some(frame.seq()) == end.version {
                        break;
                    }
                }
                Delivery::Resync => {
                    // A new history: the replica must reach the end.
                    within(async {
                        while server.hub().snapshot(topic).map(|s| s.data) != Some(json!({"n": 40}))
                        {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    })
                    .await;
                    break;
                }
            }
        }
    }
}
