//! `GET /live/ws`: many topics over one WebSocket connection.

use std::collections::HashMap;
use std::task::Poll;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::response::Response;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_stream::StreamMap;

use super::AppState;
use super::protocol::{Deliveries, Reply};
use super::sse::heartbeat_timer;
use super::stats::{Counter, Gauge, Guard};
use crate::Error;
use crate::hub::Delivery;

pub(super) async fn upgrade(
    State(state): State<AppState>,
    request: Parts,
    upgrade: WebSocketUpgrade,
) -> Response {
    let limit = state.config.client_limits().message_bytes();
    upgrade
        // tungstenite zero-fills its whole read buffer before each read, and
        // our loop reads after every delivery: a small buffer keeps an idle
        // subscriber near 16 KiB instead of 148 KiB, and halves the CPU.
        // Client messages are small requests, so 1 KiB reads cost nothing.
        .read_buffer_size(1024)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            let reason = Connection::new(state, request).run(socket).await;
            tracing::info!(%reason, "websocket disconnected");
        })
}

/// What a client sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Request {
    Subscribe {
        topic: String,
        #[serde(default)]
        since: Option<u64>,
    },
    Unsubscribe {
        topic: String,
    },
}

/// One subscribed topic.
struct Followed {
    /// The `seq` of the last update sent for this topic, for heartbeats.
    last_sent: Option<u64>,
    _counted: Guard,
}

struct Connection {
    state: AppState,
    request: Parts,
    streams: StreamMap<String, Deliveries>,
    followed: HashMap<String, Followed>,
    _client: Guard,
}

/// Why the connection ended, for the log.
type Reason = String;

/// How many ready deliveries one write gathers before it flushes.
const BATCH: usize = 64;

impl Connection {
    fn new(state: AppState, request: Parts) -> Self {
        let client = state.stats.open(Gauge::Clients);
        Self {
            state,
            request,
            streams: StreamMap::new(),
            followed: HashMap::new(),
            _client: client,
        }
    }

    async fn run(mut self, socket: WebSocket) -> Reason {
        tracing::info!(uri = %self.request.uri, "websocket connected");
        let (mut sink, mut inbound) = socket.split();
        let mut heartbeat = heartbeat_timer(&self.state);
        loop {
            let outgoing = tokio::select! {
                message = inbound.next() => match message {
                    None => return "the client went away".into(),
                    Some(Err(error)) => {
                        let reason = error.to_string();
                        // tungstenite refuses an oversized message with a capacity
                        // error and stops reading; say so with the standard code.
                        let code = if reason.contains("too long") || reason.contains("Space limit") { 1009 } else { 1011 };
                        let close = CloseFrame { code, reason: "message refused".into() };
                        let _ = sink.send(Message::Close(Some(close))).await;
                        return format!("read failed: {reason}");
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return format!("the client closed: {:?}", frame.map(|f| f.code));
                    }
                    Some(Ok(Message::Text(text))) => self.handle(text.as_bytes()).await,
                    Some(Ok(Message::Binary(_))) => vec![self.refusal(None, "bad_message", "binary frames are not part of the protocol")],
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Vec::new(),
                },
                Some((topic, delivery)) = self.streams.next(), if !self.streams.is_empty() => {
                    let mut batch = vec![self.deliver(&topic, delivery)];
                    self.ready_deliveries(&mut batch).await;
                    batch
                }
                _ = heartbeat.tick() => {
                    let mut beats = vec![Message::Ping(Default::default())];
                    beats.extend(self.followed.iter().map(|(topic, followed)| {
                        text(&Reply::Heartbeat { topic, seq: followed.last_sent })
                    }));
                    beats
                }
            };
            // Written together and flushed once: one syscall for a burst.
            for message in outgoing {
                if let Err(error) = sink.feed(message).await {
                    return format!("write failed: {error}");
                }
            }
            if let Err(error) = sink.flush().await {
                return format!("write failed: {error}");
            }
        }
    }

    /// Adds the deliveries that are ready now (at most [`BATCH`]) to `batch`,
    /// without waiting. Polled with this task's own waker, so nothing that
    /// becomes ready later is missed.
    async fn ready_deliveries(&mut self, batch: &mut Vec<Message>) {
        while batch.len() < BATCH {
            let ready = std::future::poll_fn(|cx| match self.streams.poll_next_unpin(cx) {
                Poll::Ready(next) => Poll::Ready(next),
                Poll::Pending => Poll::Ready(None),
            })
            .await;
            let Some((topic, delivery)) = ready else {
                return;
            };
            batch.push(self.deliver(&topic, delivery));
        }
    }

    /// A client's request: the replies it gets.
    async fn handle(&mut self, bytes: &[u8]) -> Vec<Message> {
        let request = match self
            .state
            .config
            .client_limits()
            .parse_message::<Request>(bytes)
        {
            Ok(request) => request,
            Err(error) => {
                let code = match error {
                    Error::TooLarge { .. } => "too_large",
                    Error::TooDeep { .. } => "too_deep",
                    _ => "bad_message",
                };
                return vec![self.refusal(None, code, error.to_string())];
            }
        };
        match request {
            Request::Subscribe { topic, since } => self.subscribe(topic, since).await,
            Request::Unsubscribe { topic } => {
                tracing::debug!(topic, "unsubscribed");
                self.streams.remove(&topic);
                self.followed.remove(&topic);
                Vec::new()
            }
        }
    }

    async fn subscribe(&mut self, topic: String, since: Option<u64>) -> Vec<Message> {
        let state = self.state.clone();
        let config = &state.config;
        // A subscription asked for again is replaced, and a refused one must
        // not leave the old one running: drop it first.
        self.streams.remove(&topic);
        self.followed.remove(&topic);
        // The count first: it is cheap, the hook may not be.
        let limit = config.topics_per_connection();
        if self.followed.len() >= limit {
            let message = format!("a connection may follow at most {limit} topics");
            return vec![self.refusal(Some(&topic), "too_many_subscriptions", message)];
        }
        if let Err(denied) = config.authorizer().authorize(&self.request, &topic).await {
            tracing::debug!(topic, reason = %denied, "subscription denied");
            return vec![self.refusal(Some(&topic), "forbidden", denied.to_string())];
        }
        let hub = &self.state.hub;
        let (replies, subscription) = match since {
            Some(since) => (Vec::new(), hub.subscribe(&topic, Some(since))),
            None => match hub.subscribe_with_snapshot(&topic) {
                Ok((snapshot, subscription)) => {
                    let version = snapshot.version.expect("the hub numbers its states");
                    let reply = Reply::Snapshot {
                        topic: &topic,
                        version,
                        data: &snapshot.data,
                    };
                    (vec![text(&reply)], Ok(subscription))
                }
                Err(error) => (Vec::new(), Err(error)),
            },
        };
        let subscription = match subscription {
            Ok(subscription) => subscription,
            Err(error) => {
                return vec![self.refusal(Some(&topic), "unknown_topic", error.to_string())];
            }
        };
        tracing::debug!(topic, ?since, "subscribed");
        let deliveries = subscription
            .map(Some)
            .chain(futures::stream::once(async { None }));
        self.streams.insert(topic.clone(), deliveries.boxed());
        self.followed.insert(
            topic,
            Followed {
                last_sent: since,
                _counted: self.state.stats.open(Gauge::Subscriptions),
            },
        );
        replies
    }

    /// A hub delivery for `topic`, as the message to send.
    fn deliver(&mut self, topic: &str, delivery: Option<Delivery>) -> Message {
        match delivery {
            Some(Delivery::Update(frame)) => {
                if let Some(followed) = self.followed.get_mut(topic) {
                    followed.last_sent = Some(frame.seq());
                }
                self.state.stats.count(Counter::UpdatesSent);
                let envelope =
                    Utf8Bytes::try_from(frame.envelope().clone()).expect("serde_json writes UTF-8");
                Message::Text(envelope)
            }
            Some(Delivery::Resync) => {
                self.state.stats.count(Counter::Resyncs);
                text(&Reply::Resync { topic })
            }
            None => {
                self.followed.remove(topic);
                let reply = Reply::Error {
                    topic: Some(topic),
                    code: "unknown_topic",
                    message: format!("topic `{topic}` was removed"),
                };
                text(&reply)
            }
        }
    }

    fn refusal(
        &self,
        topic: Option<&str>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Message {
        self.state.stats.count(Counter::Refused);
        text(&Reply::Error {
            topic,
            code,
            message: message.into(),
        })
    }
}

fn text(reply: &Reply<'_>) -> Message {
    Message::Text(
        serde_json::to_string(reply)
            .expect("replies always serialize")
            .into(),
    )
}
