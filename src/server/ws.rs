//! `GET /live/ws`: many topics over one WebSocket connection.

mod fragment;
mod handshake;

use std::task::Poll;

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio_stream::StreamMap;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::Instrument;

use self::fragment::{Fragments, fragments};
use self::handshake::{Socket, Upgrade};
use super::AppState;
use super::authorize::detach;
use super::sse::heartbeat_timer;
use super::stats::{Counter, Gauge, Guard};
use super::subscribe::{self, Followed, Refused};
use crate::Snapshot;
use crate::hub::Delivery;
use crate::metrics::{self, Transport};
use crate::protocol::reply::{self, Reply};
use crate::protocol::{ErrorCode, Request};

pub(super) async fn upgrade(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let (mut request, _body) = request.into_parts();
    // A topic named `ws` has its snapshot here, for a plain GET.
    if !request.headers.contains_key(axum::http::header::UPGRADE)
        && request.method == axum::http::Method::GET
        && state.hub.follow("ws").await.unwrap_or(false)
    {
        return super::snapshot::snapshot(State(state), "ws".to_owned(), request).await;
    }
    // Checked first: the check takes the upgrade out of the request's
    // extensions, which keeps it out of the copy the connection keeps.
    let upgrade = match Upgrade::check(&mut request) {
        Ok(upgrade) => upgrade,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(why) = state.config.check_origin(&request.headers) {
        tracing::info!(reason = %why, "websocket refused");
        return super::error(axum::http::StatusCode::FORBIDDEN, why);
    }
    let request = Box::new(detach(&request));
    let limit = state.config.client_limits().max_message_bytes;
    let config = WebSocketConfig::default()
        // tungstenite zero-fills its whole read buffer before each read, and
        // our loop reads after every delivery: a small buffer keeps an idle
        // subscriber small, and halves the CPU. Client messages are small
        // requests, so 1 KiB reads cost nothing.
        .read_buffer_size(1024)
        // The write buffer keeps the capacity of the most it ever held: past
        // this much a batch goes out in more than one write, so a burst, or a
        // stalled subscriber, leaves no more than this and one frame behind.
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let span = super::peer::span("websocket", &request);
    upgrade.accept(config, move |socket| {
        Connection::new(state, request)
            .run(socket)
            .map(|reason| tracing::info!(%reason, "websocket disconnected"))
            .instrument(span)
    })
}

/// What a connection keeps for its whole life: the task that runs it holds
/// it, so everything here is paid per idle subscriber.
struct Connection {
    state: AppState,
    /// The upgrade request, for the hook at each subscription; boxed, as it
    /// is large and the task's future holds it in more than one place.
    request: Box<Parts>,
    /// The subscribed topics.
    streams: StreamMap<String, Followed>,
    _client: Guard,
}

/// Why the connection ended, for the log.
type Reason = String;

/// How many ready deliveries one write gathers before it flushes.
const BATCH: usize = 64;

/// Pings in a row a WebSocket client may leave unanswered (one goes with
/// every heartbeat) before the connection is taken for gone.
const UNANSWERED_PINGS: u32 = 3;

/// How many bytes the socket's write buffer gathers before it writes.
const WRITE_BUFFER: usize = 8 * 1024;

// A fragment that did not fit would make the buffer grow past its size.
const _: () = assert!(fragment::FRAGMENT + fragment::HEADER <= WRITE_BUFFER);

impl Connection {
    fn new(state: AppState, request: Box<Parts>) -> Self {
        let client = state.stats.open(Gauge::Clients, Transport::Ws);
        Self {
            state,
            request,
            // Most connections follow one topic: room for more is made when
            // they ask.
            streams: StreamMap::with_capacity(1),
            _client: client,
        }
    }

    /// Serves the connection until it ends.
    ///
    /// Not an `async fn`: the socket is split before the future is made, so
    /// that the future holds the two small halves and not the socket itself.
    fn run(self, socket: Socket) -> impl Future<Output = Reason> + Send {
        let (sink, inbound) = socket.split();
        self.serve(sink, inbound)
    }

    async fn serve(
        mut self,
        mut sink: SplitSink<Socket, Message>,
        mut inbound: SplitStream<Socket>,
    ) -> Reason {
        tracing::info!(uri = %self.request.uri, "websocket connected");
        let mut heartbeat = heartbeat_timer(&self.state);
        let mut recheck = self.state.config.recheck_timer();
        let stall_limit = 2 * self.state.config.heartbeat_period();
        // Every heartbeat carries a Ping, which any WebSocket client that
        // reads answers with a Pong: a client that answers none of
        // `UNANSWERED_PINGS` in a row is gone (its host or its link, or it
        // stopped reading) and would otherwise hold its subscriptions until
        // TCP gives up or the buffers fill. Pings, not time: while this task
        // is busy writing, no heartbeat is due and none goes unanswered.
        let mut unanswered = 0;
        loop {
            let outgoing = tokio::select! {
                // In this order: a Pong already here is read before the next
                // heartbeat counts the Pings.
                biased;
                message = inbound.next() => {
                    if matches!(message, Some(Ok(_))) {
                        unanswered = 0;
                    }
                    match message {
                        None => return "the client went away".into(),
                        Some(Err(error)) => {
                            // Say why with RFC 6455's codes (§7.4.1): an oversized
                            // message, text that is not UTF-8, a broken frame.
                            let code = match error {
                                WsError::Capacity(_) => CloseCode::Size,
                                WsError::Utf8(_) => CloseCode::Invalid,
                                _ => CloseCode::Protocol,
                            };
                            let close = CloseFrame { code, reason: "message refused".into() };
                            let _ = sink.send(Message::Close(Some(close))).await;
                            return format!("read failed: {error}");
                        }
                        Some(Ok(Message::Close(frame))) => {
                            // tungstenite has queued the Close that answers it
                            // (RFC 6455 §5.5.1): send it before going.
                            let _ = sink.flush().await;
                            return format!("the client closed: {:?}", frame.map(|f| f.code));
                        }
                        // Boxed: requests are rare, and their futures would
                        // otherwise make every connection's task larger.
                        Some(Ok(Message::Text(text))) => Box::pin(self.handle(text.as_bytes())).await,
                        Some(Ok(Message::Binary(_))) => vec![self.refusal(None, Refused {
                            code: ErrorCode::BadMessage,
                            message: "binary frames are not part of the protocol".to_owned(),
                        })],
                        // tungstenite answers pings itself, and never reads a
                        // message as a raw frame; a Pong is a sign of life.
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Vec::new(),
                    }
                }
                _ = heartbeat.tick() => {
                    if unanswered == UNANSWERED_PINGS {
                        return format!("the client answered none of {UNANSWERED_PINGS} pings");
                    }
                    unanswered += 1;
                    let mut beats = vec![Message::Ping(Default::default())];
                    beats.extend(self.streams.iter().map(|(topic, followed)| {
                        text(&Reply::Heartbeat { topic, seq: followed.last_sent })
                    }));
                    beats
                }
                () = recheck.tick() => Box::pin(self.recheck_access()).await,
                Some((topic, delivery)) = self.streams.next(), if !self.streams.is_empty() => {
                    let mut batch = vec![self.deliver(&topic, delivery)];
                    self.ready_deliveries(&mut batch).await;
                    batch
                }
            };
            // A client that stays connected but takes in nothing would hold
            // this task and its subscriptions for ever: a write that makes no
            // progress (not one frame of at most 8 KiB taken) for two
            // heartbeat periods ends the connection; a slow client that reads
            // steadily is not cut off, however large the batch. (Not in the
            // `select!`: a write stopped halfway would let other messages in
            // between the fragments of a large one.)
            match write(&mut sink, outgoing, stall_limit).await {
                Ok(()) => {}
                Err(Stalled::Failed(error)) => return format!("write failed: {error}"),
                Err(Stalled::TookNothing) => {
                    metrics::write_timeout(Transport::Ws);
                    return format!("the client took in nothing for {stall_limit:?}");
                }
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
        let request = match read(bytes, self.state.config.client_limits()) {
            Ok(request) => request,
            Err(refused) => return vec![self.refusal(None, refused)],
        };
        match request {
            Request::Subscribe { topic, since } => self.subscribe(topic.into_owned(), since).await,
            Request::Unsubscribe { topic } => {
                tracing::debug!(%topic, "unsubscribed");
                self.streams.remove(&*topic);
                Vec::new()
            }
        }
    }

    async fn subscribe(&mut self, topic: String, since: Option<u64>) -> Vec<Message> {
        self.streams.remove(&topic);
        let state = &self.state;
        let granted = subscribe::subscribe(
            &state.config,
            &state.hub,
            &self.request,
            &topic,
            since,
            self.streams.len(),
        )
        .await;
        let granted = match granted {
            Ok(granted) => granted,
            Err(refused) => return vec![self.refusal(Some(&topic), refused)],
        };
        let quiet = granted.is_quiet_resume();
        let (last_sent, replies) = match granted.snapshot {
            Some(snapshot) => (snapshot.version, snapshot_reply(&topic, snapshot)),
            None if quiet => {
                let heartbeat = Reply::Heartbeat {
                    topic: &topic,
                    seq: since,
                };
                (since, vec![text(&heartbeat)])
            }
            None => (since, Vec::new()),
        };
        let counted = self.state.stats.open(Gauge::Subscriptions, Transport::Ws);
        let followed = Followed::new(granted.subscription, last_sent, counted);
        self.streams.insert(topic, followed);
        replies
    }

    /// Asks the hook again for every subscription: those that lost access
    /// end, each with a `forbidden` error.
    async fn recheck_access(&mut self) -> Vec<Message> {
        let topics: Vec<String> = self.streams.keys().cloned().collect();
        let mut refusals = Vec::new();
        for topic in topics {
            let authorizer = self.state.config.authorizer();
            if let Err(denied) = authorizer.authorize(&self.request, &topic).await {
                tracing::info!(topic, reason = %denied, "access revoked");
                self.streams.remove(&topic);
                let refused = Refused {
                    code: ErrorCode::Forbidden,
                    message: denied.to_string(),
                };
                refusals.push(self.refusal(Some(&topic), refused));
            }
        }
        refusals
    }

    /// A hub delivery for `topic`, as the message to send.
    fn deliver(&mut self, topic: &str, delivery: Option<Delivery>) -> Message {
        match delivery {
            Some(Delivery::Update(frame)) => {
                let followed = self.streams.iter_mut().find(|(name, _)| name == topic);
                if let Some((_, followed)) = followed {
                    followed.last_sent = Some(frame.seq());
                }
                self.state.stats.count(Counter::UpdatesSent, Transport::Ws);
                let envelope =
                    Utf8Bytes::try_from(frame.envelope().clone()).expect("serde_json writes UTF-8");
                Message::Text(envelope)
            }
            Some(Delivery::Resync) => {
                self.state.stats.count(Counter::Resyncs, Transport::Ws);
                text(&Reply::Resync { topic })
            }
            None => {
                self.streams.remove(topic);
                let Refused { code, message } = subscribe::removed(topic);
                text(&Reply::Error {
                    topic: Some(topic),
                    code,
                    message,
                })
            }
        }
    }

    fn refusal(&self, topic: Option<&str>, Refused { code, message }: Refused) -> Message {
        self.state
            .stats
            .count(Counter::Refused(code), Transport::Ws);
        text(&Reply::Error {
            topic,
            code,
            message,
        })
    }
}

/// The snapshot reply, `{"type":"snapshot","topic":..,"version":..,"data":..}`,
/// around the topic's shared JSON text. A large one goes out as frames that
/// carry the shared text itself: a thousand subscribers of a 1 MB topic share
/// one copy of it, instead of each holding a message of their own.
fn snapshot_reply(topic: &str, snapshot: Snapshot<Bytes>) -> Vec<Message> {
    let parts = reply::snapshot_parts(topic, snapshot);
    if parts.iter().map(Bytes::len).sum::<usize>() > fragment::FRAGMENT {
        return Fragments::of(parts).map(Message::Frame).collect();
    }
    let whole = Bytes::from(parts.concat());
    vec![Message::Text(
        Utf8Bytes::try_from(whole).expect("JSON text is UTF-8"),
    )]
}

/// Why a write ended early.
enum Stalled {
    /// The socket failed.
    Failed(WsError),
    /// The client took nothing in for the stall limit.
    TookNothing,
}

/// Writes `messages` together and flushes once: one syscall for a burst.
///
/// A text message larger than a fragment goes out as frames, each flushed
/// before the next is made, after what came before it: the write buffer
/// never holds more than one frame of it. Frames made beforehand (a large
/// snapshot) go out the same way. Each step (a frame, a flush) must be done
/// within `stall`: the bound is on progress, not on the whole batch.
async fn write(
    sink: &mut SplitSink<Socket, Message>,
    messages: Vec<Message>,
    stall: std::time::Duration,
) -> Result<(), Stalled> {
    async fn step<F: Future<Output = Result<(), WsError>>>(
        stall: std::time::Duration,
        step: F,
    ) -> Result<(), Stalled> {
        match tokio::time::timeout(stall, step).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Stalled::Failed(error)),
            Err(_) => Err(Stalled::TookNothing),
        }
    }
    let mut sent = 0;
    let written = async {
        for message in messages {
            let size = payload_len(&message);
            let frames = match &message {
                Message::Text(text) => fragments(text),
                _ => None,
            };
            match (frames, message) {
                (Some(frames), _) => {
                    step(stall, sink.flush()).await?;
                    for frame in frames {
                        step(stall, sink.send(Message::Frame(frame))).await?;
                    }
                }
                (None, frame @ Message::Frame(_)) => {
                    step(stall, sink.flush()).await?;
                    step(stall, sink.feed(frame)).await?;
                }
                (None, message) => step(stall, sink.feed(message)).await?,
            }
            sent += size;
        }
        step(stall, sink.flush()).await
    }
    .await;
    metrics::sent(Transport::Ws, sent);
    written
}

/// The bytes of a message's text, without its frame's header: what the
/// `sent_bytes` metric counts. Pings and closes carry none.
fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) => bytes.len(),
        Message::Frame(frame) => frame.payload().len(),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => 0,
    }
}

/// Reads a client's message, checked against `limits`: a request, or the
/// refusal to answer it with.
fn read(bytes: &[u8], limits: &crate::Limits) -> Result<Request<'static>, Refused> {
    limits
        .parse_message::<Request<'static>>(bytes)
        .map_err(|error| Refused::unreadable(&error))
}

fn text(reply: &Reply<'_>) -> Message {
    Message::Text(reply.to_text().into())
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): checks
/// `request` as a WebSocket upgrade; `Err` with the refusal's status and why.
#[cfg(feature = "__fuzz")]
pub(crate) fn check_for_fuzzing(
    request: &mut Parts,
) -> Result<(), (axum::http::StatusCode, &'static str)> {
    Upgrade::check(request)
        .map(drop)
        .map_err(|refusal| (refusal.status, refusal.why))
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): reads a
/// client's message as the connection does; `Ok` with the request's type,
/// topic and `since`, `Err` with the refusal's code and message.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_for_fuzzing(
    bytes: &[u8],
    limits: &crate::Limits,
) -> Result<(&'static str, String, Option<u64>), (ErrorCode, String)> {
    match read(bytes, limits) {
        Ok(Request::Subscribe { topic, since }) => Ok(("subscribe", topic.into_owned(), since)),
        Ok(Request::Unsubscribe { topic }) => Ok(("unsubscribe", topic.into_owned(), None)),
        Err(Refused { code, message }) => Err((code, message)),
    }
}
