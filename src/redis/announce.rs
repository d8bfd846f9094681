//! The announcements connection: what Redis pushes to a node (changes of
//! the topics it follows), and what the node does when that connection
//! drops (every announcement meanwhile is lost: every topic catches up from
//! its log once the connection is back).

use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;
use redis::{PushInfo, PushKind};
use tokio::sync::mpsc::UnboundedReceiver;

use super::Shared;
use super::keys::Keys;

/// Reads what Redis pushes until the hub is dropped.
pub(super) async fn dispatch(shared: Weak<Shared>, mut pushes: UnboundedReceiver<PushInfo>) {
    while let Some(push) = pushes.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let Some((channel, message)) = channel_and_message(push.data) else {
                    continue;
                };
                let Some(topic) = Keys::topic_of(&shared.settings.prefix, &channel) else {
                    continue;
                };
                if let Some(follower) = shared.follower(&topic) {
                    shared.announced(&follower, message);
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("redis: the announcements connection dropped");
                tokio::spawn(catch_up_when_back(Shared::downgrade(&shared)));
            }
            _ => {}
        }
    }
}

/// Waits until the announcements connection is back (and subscribed again),
/// then has every followed topic catch up from its log.
async fn catch_up_when_back(shared: Weak<Shared>) {
    let mut delay = Duration::from_millis(20);
    let dropped = tokio::time::Instant::now();
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut announcements = strong.announcements.clone();
        let grace = strong.settings.timeout;
        drop(strong);
        let ping: redis::RedisResult<String> =
            redis::cmd("PING").query_async(&mut announcements).await;
        if ping.is_ok() {
            break;
        }
        // A short drop (a killed connection, a restart) costs clients
        // nothing; a long one means this node may hold stale states.
        if dropped.elapsed() > grace {
            if let Some(shared) = shared.upgrade() {
                shared.unreachable();
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    tracing::info!("redis: the announcements connection is back; catching up");
    // Again a while later: on a cluster, a shard's subscriptions come back
    // when its failover is over, which the first pass may precede.
    for wait in [
        Duration::ZERO,
        Duration::from_secs(1),
        Duration::from_secs(3),
    ] {
        tokio::time::sleep(wait).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.repair_all();
        shared.reachable();
    }
}

fn channel_and_message(data: Vec<redis::Value>) -> Option<(Vec<u8>, Bytes)> {
    let mut data = data.into_iter();
    let channel = match data.next()? {
        redis::Value::BulkString(channel) => channel,
        _ => return None,
    };
    let message = match data.next()? {
        redis::Value::BulkString(message) => Bytes::from(message),
        _ => return None,
    };
    Some((channel, message))
}
