//! One Socket.IO client: the topics it follows, in a task of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::StreamMap;

use super::Shared;
use super::request::{Command, Kind, Requests};
use crate::hub::Delivery;
use crate::metrics::{self, Transport};
use crate::protocol::ErrorCode;
use crate::protocol::reply;
use crate::server::subscribe::{self, Refused};

/// How many requests of one client may wait for its task.
const REQUESTS: usize = 64;

/// How many ready deliveries the task sends before it looks at anything else.
const BATCH: usize = 64;

/// The first and the longest wait before a packet is offered again to a
/// client whose queue is full. socketioxide's writer empties a socket's
/// whole queue each time it runs, so there is room again soon: a long wait
/// would leave the socket idle in the middle of a burst, its queue already
/// empty and its last updates late.
const FULL_WAIT: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(50));

use crate::protocol::reply::Reply;

/// A topic's deliveries, then `None` once when the topic is removed.
type Deliveries = futures::stream::BoxStream<'static, Option<crate::hub::Delivery>>;

/// The socket is gone: nothing more can be sent to it.
struct Gone;

/// Sets the socket's handlers and starts its task. Called while the socket
/// connects, before the client can send anything.
pub(super) fn start(shared: Arc<Shared>, socket: SocketRef, auth: Option<super::Auth>) {
    let (commands, receiver) = mpsc::channel(REQUESTS);
    let limits = shared.config.client_limits().clone();
    for (event, kind) in [
        ("subscribe", Kind::Subscribe),
        ("unsubscribe", Kind::Unsubscribe),
    ] {
        let handler = Requests {
            kind,
            limits: limits.clone(),
            commands: commands.clone(),
        };
        socket.on(event, handler);
    }
    socket.on_disconnect(move |socket: SocketRef, reason: DisconnectReason| {
        let commands = commands.clone();
        async move {
            tracing::info!(id = %socket.id, namespace = socket.ns(), %reason, "socket.io client disconnected");
            let _ = commands.send(Command::Closed(reason)).await;
        }
    });
    // The handshake request as the hook sees it: owning its text (see
    // `detach`), with the client's `auth` payload in its extensions.
    let mut request = crate::server::authorize::detach(socket.req_parts());
    if let Some(auth) = auth {
        request.extensions.insert(auth);
    }
    let connection = Connection {
        shared,
        socket,
        request: Box::new(request),
        commands: receiver,
        streams: StreamMap::new(),
        last_sent: HashMap::default(),
        _open: metrics::open(metrics::Kind::Connection, Transport::SocketIo),
    };
    tokio::spawn(connection.run());
}

struct Connection {
    shared: Arc<Shared>,
    socket: SocketRef,
    /// The handshake request, for the hook at each subscription.
    request: Box<axum::http::request::Parts>,
    commands: mpsc::Receiver<Command>,
    streams: StreamMap<String, Deliveries>,
    /// The topics followed, each with the `seq` of the last update sent for
    /// it, for heartbeats.
    last_sent: HashMap<String, Option<u64>, foldhash::fast::RandomState>,
    _open: metrics::Open,
}

impl Connection {
    async fn run(mut self) {
        let period = self.shared.config.heartbeat_period();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut recheck = self.shared.config.recheck_timer();
        let ended = loop {
            let sent = tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Subscribe { topic, since }) => self.subscribe(topic, since).await,
                    Some(Command::Unsubscribe { topic }) => {
                        tracing::debug!(id = %self.socket.id, topic, "unsubscribed");
                        self.streams.remove(&topic);
                        self.last_sent.remove(&topic);
                        Ok(())
                    }
                    Some(Command::Closed(reason)) => break reason.to_string(),
                    None => break "its handlers are gone".to_owned(),
                },
                Some((topic, delivery)) = self.streams.next(), if !self.streams.is_empty() => {
                    self.deliver_ready(topic, delivery).await
                }
                _ = heartbeat.tick() => self.beat().await,
                () = recheck.tick() => self.recheck_access().await,
            };
            if sent.is_err() {
                break "it cannot be written to".to_owned();
            }
        };
        tracing::debug!(id = %self.socket.id, topics = self.last_sent.len(), ended, "socket.io client task ended");
    }

    async fn subscribe(&mut self, topic: String, since: Option<u64>) -> Result<(), Gone> {
        self.streams.remove(&topic);
        self.last_sent.remove(&topic);
        let shared = Arc::clone(&self.shared);
        let granted = subscribe::subscribe(
            &shared.config,
            &shared.hub,
            &self.request,
            &topic,
            since,
            self.last_sent.len(),
        )
        .await;
        let granted = match granted {
            Ok(granted) => granted,
            Err(refused) => return refuse(&self.socket, Some(&topic), refused).await,
        };
        let mut last_sent = since;
        if granted.is_quiet_resume() {
            let reply = Reply::Heartbeat {
                topic: &topic,
                seq: since,
            };
            emit(&self.socket, "heartbeat", &reply).await?;
        }
        if let Some(snapshot) = granted.snapshot {
            let version = snapshot.version;
            // The hub's shared text, checked once here rather than a state
            // serialized again for each subscriber.
            let message = reply::snapshot_parts(&topic, snapshot).concat();
            let message = String::from_utf8(message).expect("the hub writes UTF-8");
            let message = RawValue::from_string(message).expect("the hub writes JSON");
            emit(&self.socket, "snapshot", &*message).await?;
            last_sent = version;
        }
        // The stream holds the subscription's gauge for as long as it lives.
        let open = metrics::open(metrics::Kind::Subscription, Transport::SocketIo);
        let deliveries = granted
            .subscription
            .map(move |delivery| {
                let _ = &open;
                Some(delivery)
            })
            .chain(futures::stream::once(async { None }));
        self.streams.insert(topic.clone(), deliveries.boxed());
        self.last_sent.insert(topic, last_sent);
        Ok(())
    }

    /// Asks the hook again for every subscription: those that lost access
    /// end, each with a `forbidden` error.
    async fn recheck_access(&mut self) -> Result<(), Gone> {
        let shared = Arc::clone(&self.shared);
        let topics: Vec<String> = self.last_sent.keys().cloned().collect();
        for topic in topics {
            let denied = shared
                .config
                .authorizer()
                .authorize(&self.request, &topic)
                .await;
            if let Err(denied) = denied {
                tracing::info!(id = %self.socket.id, topic, reason = %denied, "access revoked");
                self.streams.remove(&topic);
                self.last_sent.remove(&topic);
                let refused = Refused {
                    code: ErrorCode::Forbidden,
                    message: denied.to_string(),
                };
                refuse(&self.socket, Some(&topic), refused).await?;
            }
        }
        Ok(())
    }

    /// Sends a hub delivery for `topic`, then those that are ready now (at
    /// most [`BATCH`] in all), without going back to the `select!` for each.
    /// Polled with this task's own waker, so nothing that becomes ready later
    /// is missed.
    async fn deliver_ready(
        &mut self,
        topic: String,
        delivery: Option<Delivery>,
    ) -> Result<(), Gone> {
        self.deliver(&topic, delivery).await?;
        for _ in 1..BATCH {
            let ready = std::future::poll_fn(|cx| match self.streams.poll_next_unpin(cx) {
                std::task::Poll::Ready(next) => std::task::Poll::Ready(next),
                std::task::Poll::Pending => std::task::Poll::Ready(None),
            })
            .await;
            let Some((topic, delivery)) = ready else {
                break;
            };
            self.deliver(&topic, delivery).await?;
        }
        Ok(())
    }

    /// Sends a hub delivery for `topic`.
    async fn deliver(&mut self, topic: &str, delivery: Option<Delivery>) -> Result<(), Gone> {
        match delivery {
            Some(Delivery::Update(frame)) => {
                if let Some(last_sent) = self.last_sent.get_mut(topic) {
                    *last_sent = Some(frame.seq());
                }
                metrics::delivered(Transport::SocketIo);
                // The envelope's length is known: not serialized again to count it.
                let sent = frame.envelope().len();
                emit_counted(&self.socket, "update", frame.raw_envelope(), || {
                    metrics::sent(Transport::SocketIo, sent);
                })
                .await
            }
            Some(Delivery::Resync) => {
                metrics::resync(Transport::SocketIo);
                emit(&self.socket, "resync", &Reply::Resync { topic }).await
            }
            None => {
                self.last_sent.remove(topic);
                refuse(&self.socket, Some(topic), subscribe::removed(topic)).await
            }
        }
    }

    /// A heartbeat for every topic followed; ends a task whose socket left
    /// without a word.
    async fn beat(&mut self) -> Result<(), Gone> {
        if !self.socket.connected() {
            return Err(Gone);
        }
        for (topic, seq) in &self.last_sent {
            let reply = Reply::Heartbeat { topic, seq: *seq };
            emit(&self.socket, "heartbeat", &reply).await?;
        }
        Ok(())
    }
}

/// Emits an `error` about `topic`, or about a request when `None`.
async fn refuse(
    socket: &SocketRef,
    topic: Option<&str>,
    Refused { code, message }: Refused,
) -> Result<(), Gone> {
    metrics::refused(Transport::SocketIo, code);
    let reply = Reply::Error {
        topic,
        code,
        message,
    };
    emit(socket, "error", &reply).await
}

/// Emits `data`, waiting while the client's queue is full: meanwhile the
/// hub's own bounded queue holds the topic's updates, and tells the client
/// to resync if it overflows.
async fn emit<T: ?Sized + Serialize>(
    socket: &SocketRef,
    event: &str,
    data: &T,
) -> Result<(), Gone> {
    emit_counted(socket, event, data, || {
        metrics::sent_json(Transport::SocketIo, data);
    })
    .await
}

/// [`emit`], with `count` to count the bytes sent once they are.
async fn emit_counted<T: ?Sized + Serialize>(
    socket: &SocketRef,
    event: &str,
    data: &T,
    count: impl FnOnce(),
) -> Result<(), Gone> {
    let mut wait = FULL_WAIT.0;
    loop {
        match socket.emit(event, data) {
            Ok(()) => {
                count();
                return Ok(());
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) if socket.connected() => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(FULL_WAIT.1);
            }
            Err(SendError::Socket(_)) => return Err(Gone),
            Err(SendError::Serialize(error)) => {
                // Only values that are not JSON fail here, and the hub holds none.
                tracing::error!(id = %socket.id, event, %error, "socket.io message not serialized");
                return Ok(());
            }
        }
    }
}
