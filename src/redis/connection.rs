//! One Redis or a Redis Cluster, behind one connection type: commands go to
//! the master of their keys' slot, and announcements travel by pub/sub on
//! one Redis, by sharded pub/sub (`SPUBLISH`, `SSUBSCRIBE`) on a cluster, so
//! that a node hears only the shards of the topics it follows.

use std::time::Duration;

use redis::aio::{AsyncPushSender, ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, ProtocolVersion, RedisFuture, RedisResult, Value};

/// Where the topics live.
#[derive(Clone, Debug)]
pub(super) enum Target {
    /// One Redis (or a primary with replicas behind one address).
    Single(String),
    /// A Redis Cluster, by the addresses of some of its nodes.
    Cluster(Vec<String>),
}

/// A connection to the target, cheap to clone (clones share it).
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects; with `pushes`, over RESP3, delivering what Redis pushes
    /// (announcements, and word of a dropped connection) to it.
    pub(super) async fn open(
        target: &Target,
        timeout: Duration,
        pushes: Option<impl AsyncPushSender>,
    ) -> RedisResult<Self> {
        match target {
            Target::Single(url) => {
                let mut client = redis::Client::open(url.as_str())?;
                let mut config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                if let Some(pushes) = pushes {
                    let info = client.get_connection_info().clone();
                    let settings = info
                        .redis_settings()
                        .clone()
                        .set_protocol(ProtocolVersion::RESP3);
                    client = redis::Client::open(info.set_redis_settings(settings))?;
                    config = config
                        .set_push_sender(pushes)
                        .set_automatic_resubscription();
                }
                let manager = client.get_connection_manager_with_config(config).await?;
                Ok(Self::Single(manager))
            }
            Target::Cluster(nodes) => {
                let mut builder = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3);
                if let Some(pushes) = pushes {
                    builder = builder
                        .use_protocol(ProtocolVersion::RESP3)
                        .push_sender(pushes);
                }
                let cluster = builder.build()?.get_async_connection().await?;
                Ok(Self::Cluster(cluster))
            }
        }
    }

    /// The command that announces a change to the nodes that follow a
    /// topic: what the scripts call.
    pub(super) fn announce_command(target: &Target) -> &'static str {
        match target {
            Target::Single(_) => "PUBLISH",
            Target::Cluster(_) => "SPUBLISH",
        }
    }

    pub(super) async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(manager) => manager.subscribe(channel).await,
            Self::Cluster(cluster) => cluster.ssubscribe(channel).await,
        }
    }

    pub(super) async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(manager) => manager.unsubscribe(channel).await,
            Self::Cluster(cluster) => cluster.sunsubscribe(channel).await,
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(manager) => manager.req_packed_command(cmd),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(manager) => manager.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
        }
    }
}
