//! Subscribing and unsubscribing the announcement channels, in the order
//! asked: one task sends every request, so that an unsubscribe asked for
//! before a subscribe to the same channel can never land after it (and
//! leave a followed topic deaf).

use std::sync::Weak;

use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::connection::Connection;
use super::follower::backplane;
use super::keys::Keys;
use crate::Error;

/// A request to the channels task.
#[derive(Debug)]
pub(super) enum Request {
    /// Subscribe, and say when Redis confirmed it.
    Subscribe(String, oneshot::Sender<Result<(), Error>>),
    /// Unsubscribe, unless the channel's topic is followed again by then.
    Unsubscribe(String),
}

/// Sends the requests, one at a time, until the hub is dropped.
pub(super) async fn run(
    shared: Weak<Shared>,
    mut connection: Connection,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    while let Some(request) = requests.recv().await {
        match request {
            Request::Subscribe(channel, done) => {
                let subscribed = connection.subscribe(&channel).await.map_err(backplane);
                let _ = done.send(subscribed);
            }
            Request::Unsubscribe(channel) => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let followed = Keys::topic_of(&shared.settings.prefix, channel.as_bytes())
                    .is_some_and(|topic| shared.follower(&topic).is_some());
                drop(shared);
                if !followed {
                    // Failing leaves a channel whose announcements find no
                    // follower: they are dropped.
                    let _ = connection.unsubscribe(&channel).await;
                }
            }
        }
    }
}
