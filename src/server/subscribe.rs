//! The subscribe rule, one for every live transport (the WebSocket route, the
//! multi-topic SSE route and the Socket.IO layer): count, authorize, then
//! snapshot or resume.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::request::Parts;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::Config;
use super::stats::Guard;
use crate::hub::{Delivery, Subscription};
use crate::protocol::ErrorCode;
use crate::{Hub, Snapshot};

/// A subscription the rule granted.
pub(crate) struct Granted {
    /// The snapshot to send before the updates, as the hub's shared JSON
    /// text, when the client gave no version to resume from.
    pub(crate) snapshot: Option<Snapshot<Bytes>>,
    /// The updates after the snapshot, or after the client's version.
    pub(crate) subscription: Subscription,
}

impl Granted {
    /// Whether this is a resume with nothing to send at once (no snapshot,
    /// nothing to replay, no resync): the server answers it with a heartbeat
    /// at the client's version, so that the client knows it is current even
    /// on a quiet topic.
    pub(crate) fn is_quiet_resume(&self) -> bool {
        self.snapshot.is_none() && !self.subscription.answers_at_once()
    }
}

/// Why a subscription was refused, as the `error` message says it.
pub(crate) struct Refused {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

/// Subscribes a connection that follows `followed` other topics to `topic`,
/// for the client whose request (its WebSocket upgrade or Socket.IO
/// handshake) is `request`: from `since`, or from a snapshot without it.
///
/// The caller drops any subscription it holds to `topic` first: a
/// subscription asked for again is replaced, and a refused one must not
/// leave the old one running.
pub(crate) async fn subscribe(
    config: &Config,
    hub: &Hub,
    request: &Parts,
    topic: &str,
    since: Option<u64>,
    followed: usize,
) -> Result<Granted, Refused> {
    // The count first: it is cheap, the hook may not be.
    let limit = config.topics_per_connection();
    if followed >= limit {
        return Err(Refused {
            code: ErrorCode::TooManySubscriptions,
            message: format!("a connection may follow at most {limit} topics"),
        });
    }
    if let Err(denied) = config.authorizer().authorize(request, topic).await {
        tracing::debug!(topic, reason = %denied, "subscription denied");
        return Err(Refused {
            code: ErrorCode::Forbidden,
            message: denied.to_string(),
        });
    }
    match hub.follow(topic).await {
        Ok(true) => {}
        Ok(false) => return Err(unknown(topic)),
        Err(error) => {
            tracing::warn!(topic, error = %crate::error::Chain(&error), "topic unavailable");
            return Err(Refused {
                code: ErrorCode::Unavailable,
                message: format!(
                    "topic `{topic}` is unavailable: {}",
                    crate::error::Chain(&error)
                ),
            });
        }
    }
    let granted = match since {
        Some(since) => hub
            .subscribe(topic, Some(since))
            .map(|subscription| Granted {
                snapshot: None,
                subscription,
            }),
        None => hub
            .subscribe_with_snapshot_text(topic)
            .map(|(snapshot, subscription)| Granted {
                snapshot: Some(snapshot),
                subscription,
            }),
    };
    // Gone since `follow` saw it: removed meanwhile.
    let granted = granted.map_err(|_| unknown(topic))?;
    tracing::debug!(topic, ?since, "subscribed");
    Ok(granted)
}

impl Refused {
    /// The refusal of a client message that [`Limits`](crate::Limits) refused.
    pub(crate) fn unreadable(error: &crate::Error) -> Self {
        let code = match error {
            crate::Error::TooLarge { .. } => ErrorCode::TooLarge,
            crate::Error::TooDeep { .. } => ErrorCode::TooDeep,
            _ => ErrorCode::BadMessage,
        };
        Self {
            code,
            message: crate::error::Chain(error).to_string(),
        }
    }
}

/// The refusal of a topic there is no such topic.
fn unknown(topic: &str) -> Refused {
    Refused {
        code: ErrorCode::UnknownTopic,
        message: format!("unknown topic `{topic}`"),
    }
}

/// The message that ends a subscription whose topic was removed.
pub(crate) fn removed(topic: &str) -> Refused {
    Refused {
        code: ErrorCode::UnknownTopic,
        message: format!("topic `{topic}` was removed"),
    }
}

/// One topic a multi-topic connection follows: its deliveries, then `None`
/// once when the topic is removed.
pub(super) struct Followed {
    subscription: Subscription,
    /// Whether the subscription ended and the `None` that says so was given.
    ended: bool,
    /// The `seq` of the last update sent for this topic, for heartbeats.
    pub(super) last_sent: Option<u64>,
    _counted: Guard,
}

impl Followed {
    /// Follows `subscription`, whose client holds the topic at `last_sent`.
    pub(super) fn new(subscription: Subscription, last_sent: Option<u64>, counted: Guard) -> Self {
        Self {
            subscription,
            ended: false,
            last_sent,
            _counted: counted,
        }
    }
}

impl Stream for Followed {
    type Item = Option<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let delivery = ready!(self.subscription.poll_next_unpin(cx));
        self.ended = delivery.is_none();
        Poll::Ready(Some(delivery))
    }
}
