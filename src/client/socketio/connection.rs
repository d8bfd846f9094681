//! One Socket.IO connection: the Engine.IO handshake, the namespace connect,
//! then a task that answers pings and turns the server's events into one
//! stream's [`Event`]s.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::packet::{self, Engine, Kind, Open};
use super::{Config, SocketIoError};
use crate::client::CertificateError;
use crate::protocol::inbound::{self, Head, Meaning, Refusal};
use crate::source::{Event, EventStream, Permanent};
use crate::{BoxError, Error, Update};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Room above the largest snapshot for the packet around it.
const PACKET_ROOM: usize = 64 * 1024;

/// How long a closing handshake may take when the stream is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What one connection delivers.
#[derive(Clone, Debug)]
pub(super) enum Mode {
    /// The envelopes of this crate's protocol, for one topic.
    Envelope { topic: String },
    /// Each event of this name is a bare partial object.
    Legacy { event: String },
}

/// Opens a connection, connects the namespace, sends `emits` (already
/// encoded), and returns the stream of what comes after.
///
/// # Errors
///
/// A [`SocketIoError`], wrapped in [`Permanent`] when retrying cannot help:
/// an invalid URL or header, a server certificate refused (its cause is then
/// a [`CertificateError`](crate::client::CertificateError)), an upgrade
/// answered with a client error other than 408 and 429, or a namespace the
/// server refuses.
pub(super) async fn open(
    config: &Config,
    mode: Mode,
    emits: Vec<String>,
) -> Result<EventStream, BoxError> {
    let url = config.url_for_logs();
    let request = request(config).map_err(Permanent::new)?;
    let server = crate::client::ws::server_of(request.uri());
    let cap = config.limits.max_snapshot_bytes.saturating_add(PACKET_ROOM);
    let settings = WebSocketConfig::default()
        .max_message_size(Some(cap))
        .max_frame_size(Some(cap));
    let connecting = async {
        let connector = Connector::Rustls(Arc::clone(config.tls.rustls_config()));
        let (mut socket, _response) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(settings),
            true,
            Some(connector),
        )
        .await
        .map_err(|error| {
            if let Some(refused) = CertificateError::find(&error, &server) {
                return Permanent::new(SocketIoError::connect(&url, refused)).into();
            }
            let permanent = crate::client::ws::is_permanent(&error);
            let error = SocketIoError::connect(&url, error);
            if permanent {
                BoxError::from(Permanent::new(error))
            } else {
                error.into()
            }
        })?;
        let open = handshake(&mut socket, config).await?;
        Ok::<_, BoxError>((socket, open))
    };
    let (mut socket, open) = match tokio::time::timeout(config.connect_timeout, connecting).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(error)) => {
            tracing::warn!(url, error = %crate::error::Chain(&*error), "socket.io connect failed");
            return Err(error);
        }
        Err(_) => {
            let after = config.connect_timeout;
            tracing::warn!(url, ?after, "socket.io connect timed out");
            return Err(SocketIoError::timeout(format!("the connection ({after:?})")).into());
        }
    };
    for text in emits {
        socket
            .send(Message::text(text))
            .await
            .map_err(|error| SocketIoError::disconnected(format!("write failed: {error}")))?;
    }
    tracing::debug!(
        url,
        namespace = config.namespace(),
        ?mode,
        "socket.io connected"
    );
    let (events, receiver) = mpsc::channel(config.queue);
    let connection = Connection {
        socket,
        outlet: Outlet::new(events),
        mode,
        config: config.clone(),
        // The server's numbers, bounded: a huge interval must not overflow a deadline.
        silence: open
            .ping_interval
            .saturating_add(open.ping_timeout)
            .min(Duration::from_secs(24 * 60 * 60)),
        url,
    };
    tokio::spawn(connection.run());
    Ok(ReceiverStream::new(receiver).boxed())
}

fn request(config: &Config) -> Result<tungstenite::handshake::client::Request, SocketIoError> {
    if let Some(invalid) = &config.invalid {
        return Err(SocketIoError::config(invalid.clone()));
    }
    let url = config.handshake_url()?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| SocketIoError::config(format!("invalid url `{url}`: {error}")))?;
    for (name, value) in &config.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    Ok(request)
}

/// Reads the Engine.IO open packet, then connects the namespace.
async fn handshake(socket: &mut Socket, config: &Config) -> Result<Open, BoxError> {
    let namespace = config.namespace();
    let mut open = None;
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => {
                return Err(SocketIoError::disconnected("closed during the handshake").into());
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                let reason = format!("read failed during the handshake: {error}");
                return Err(SocketIoError::disconnected(reason).into());
            }
        };
        let engine = packet::parse(&text)
            .map_err(|why| SocketIoError::protocol(format!("{why} during the handshake")))?;
        match engine {
            Engine::Open(handshake) if open.is_none() => {
                open = Some(handshake);
                let connect = packet::connect(namespace, config.auth.as_ref());
                socket.send(Message::text(connect)).await.map_err(|error| {
                    SocketIoError::disconnected(format!("write failed: {error}"))
                })?;
            }
            Engine::Ping => {
                socket
                    .send(Message::text(packet::PONG))
                    .await
                    .map_err(|error| {
                        SocketIoError::disconnected(format!("write failed: {error}"))
                    })?;
            }
            Engine::Close => {
                return Err(SocketIoError::disconnected("closed during the handshake").into());
            }
            Engine::Message(packet) if packet.namespace == namespace => match packet.kind {
                Kind::Connect => {
                    return open.ok_or_else(|| {
                        SocketIoError::protocol("a connect before the open packet").into()
                    });
                }
                Kind::ConnectError(json) => {
                    #[derive(Deserialize)]
                    struct Refusal {
                        message: Option<String>,
                    }
                    let message = serde_json::from_str::<Refusal>(json)
                        .ok()
                        .and_then(|refusal| refusal.message)
                        .unwrap_or_else(|| json.to_owned());
                    return Err(Permanent::new(SocketIoError::refused(message)).into());
                }
                _ => {}
            },
            Engine::Open(_) | Engine::Message(_) | Engine::Other => {}
        }
    }
}

/// The task that owns one connection.
struct Connection {
    socket: Socket,
    outlet: Outlet,
    mode: Mode,
    config: Config,
    /// How long the server may stay silent: its ping interval and timeout.
    silence: Duration,
    url: String,
}

/// How the connection ends.
enum Ending {
    /// The stream was dropped.
    Unused,
    /// The connection is lost; the stream ends with this error.
    Lost(BoxError),
}

fn lost(reason: impl Into<String>) -> Ending {
    Ending::Lost(SocketIoError::disconnected(reason).into())
}

impl Connection {
    async fn run(mut self) {
        let silent = tokio::time::sleep(self.silence);
        tokio::pin!(silent);
        let ending = loop {
            tokio::select! {
                () = self.outlet.closed() => break Ending::Unused,
                message = self.socket.next() => {
                    silent.as_mut().reset(Instant::now() + self.silence);
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        // Binary events are not part of either mode; their
                        // attachments come as binary messages, skipped here.
                        Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map_or_else(
                                || "no reason given".to_owned(),
                                |frame| format!("{}: {}", frame.code, frame.reason),
                            );
                            break lost(format!("the server closed it ({why})"));
                        }
                        Some(Err(error)) => break lost(format!("read failed: {error}")),
                        None => break lost("the server went away"),
                    };
                    if let Some(ending) = self.read(&text).await {
                        break ending;
                    }
                }
                () = &mut silent => {
                    break lost(format!("no ping from the server for {:?}", self.silence));
                }
            }
        };
        match ending {
            Ending::Unused => {
                tracing::debug!(url = self.url, "socket.io closed: no longer used");
                let leave = packet::disconnect(self.config.namespace());
                let closing = async {
                    let _ = self.socket.send(Message::text(leave)).await;
                    let _ = self.socket.close(None).await;
                };
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
            }
            Ending::Lost(error) => {
                tracing::warn!(url = self.url, error = %crate::error::Chain(&*error), "socket.io disconnected");
                self.outlet.finish(Err(error));
            }
        }
    }

    /// Handles one text message; `Some` when it ends the connection.
    async fn read(&mut self, text: &str) -> Option<Ending> {
        let packet = match packet::parse(text) {
            Ok(Engine::Ping) => {
                if let Err(error) = self.socket.send(Message::text(packet::PONG)).await {
                    return Some(lost(format!("write failed: {error}")));
                }
                self.outlet.deliver(Ok(Event::Heartbeat(None)));
                return None;
            }
            Ok(Engine::Close) => return Some(lost("the server closed the session")),
            Ok(Engine::Message(packet)) => packet,
            Ok(Engine::Open(_) | Engine::Other) => return None,
            Err(why) => {
                tracing::warn!(url = self.url, %why, "socket.io message skipped");
                return None;
            }
        };
        if packet.namespace != self.config.namespace() {
            return None;
        }
        match packet.kind {
            Kind::Event(json) => self.event(json),
            Kind::Disconnect => Some(lost("the server left the namespace")),
            Kind::ConnectError(json) => {
                let error = SocketIoError::refused(json.to_owned());
                Some(Ending::Lost(Permanent::new(error).into()))
            }
            Kind::Connect | Kind::Unused => None,
        }
    }

    /// Handles one event; `Some` when it ends the stream.
    fn event(&mut self, json: &str) -> Option<Ending> {
        let arguments = match packet::arguments(json) {
            Ok(arguments) => arguments,
            Err(error) => {
                tracing::warn!(url = self.url, %error, "socket.io event skipped");
                return None;
            }
        };
        let limits = &self.config.limits;
        let payload = arguments.first.map(|raw| raw.get().as_bytes());
        match &self.mode {
            Mode::Legacy { event } => {
                if arguments.name != *event {
                    return None;
                }
                let update = match payload {
                    Some(bytes) => limits.parse_message::<Value>(bytes),
                    None => Err(Error::Malformed(serde::de::Error::custom(format!(
                        "event `{event}` came without a payload"
                    )))),
                };
                self.outlet.deliver(
                    update
                        .map(|patch| Event::Update(Update::unsequenced(patch)))
                        .map_err(Into::into),
                );
                None
            }
            Mode::Envelope { topic } => {
                let kind = arguments.name.as_ref();
                if !inbound::SERVER_TYPES.contains(&kind) {
                    return None;
                }
                let Some(text) = arguments.first.map(RawValue::get) else {
                    tracing::warn!(
                        url = self.url,
                        kind,
                        "socket.io event without a payload skipped"
                    );
                    return None;
                };
                let quick = (kind == "update")
                    .then(|| inbound::quick_update(text, limits))
                    .flatten();
                if let Some((of, update)) = quick {
                    if of == topic {
                        self.outlet
                            .deliver(update.map(Event::Update).map_err(Into::into));
                    }
                    return None;
                }
                let head = match serde_json::from_str::<Head>(text) {
                    Ok(head) => head,
                    Err(error) => {
                        tracing::warn!(url = self.url, kind, %error, "socket.io event skipped");
                        return None;
                    }
                };
                if head.topic() != Some(topic.as_str()) {
                    if kind == "error" && head.topic.is_none() {
                        tracing::warn!(
                            url = self.url,
                            code = ?head.code,
                            message = ?head.message,
                            "the server refused a request"
                        );
                    }
                    return None;
                }
                let event = match inbound::read(kind, &head, text, limits)? {
                    Meaning::Event(event) => Ok(event),
                    Meaning::Bad(error) => Err(error),
                    Meaning::Refused(refusal) => {
                        return refused(&mut self.outlet, &self.url, topic, &refusal);
                    }
                };
                self.outlet.deliver(event.map_err(Into::into));
                None
            }
        }
    }
}

/// An `error` event about the topic: it ends the stream when the server
/// holds no subscription after it.
fn refused(outlet: &mut Outlet, url: &str, topic: &str, refusal: &Refusal) -> Option<Ending> {
    let (code, message) = (refusal.code.as_str(), refusal.message.as_str());
    tracing::warn!(
        url,
        topic,
        code,
        message,
        "socket.io server refused the topic"
    );
    let error = SocketIoError::server(topic, code, message);
    if refusal.is_permanent() {
        Some(Ending::Lost(Permanent::new(error).into()))
    } else if refusal.ends_subscription() {
        Some(Ending::Lost(error.into()))
    } else {
        outlet.deliver(Err(error.into()));
        None
    }
}

/// What the stream carries.
type Item = Result<Event, BoxError>;

/// The task's end of the stream's bounded queue.
///
/// The last slot is kept for an [`Event::Resync`]: a consumer so far behind
/// that only that slot is free loses the item that does not fit, and learns
/// it from the resync instead of skipping it unaware. In legacy mode, where
/// updates have no `seq`, the resync makes the resource fetch its snapshot
/// again.
struct Outlet {
    events: mpsc::Sender<Item>,
    /// The last item queued is a resync.
    resync_queued: bool,
}

impl Outlet {
    fn new(events: mpsc::Sender<Item>) -> Self {
        Self {
            events,
            resync_queued: false,
        }
    }

    async fn closed(&self) {
        self.events.closed().await;
    }

    fn deliver(&mut self, item: Item) {
        // Only this task sends, so the free slots can only grow between the
        // check and the send.
        if self.events.capacity() >= 2 {
            self.resync_queued = false;
            let _ = self.events.try_send(item);
            return;
        }
        if matches!(item, Ok(Event::Heartbeat(_))) || self.resync_queued {
            return;
        }
        self.resync_queued = true;
        let _ = self.events.try_send(Ok(Event::Resync));
    }

    /// Queues a last item if there is room, and ends the stream.
    fn finish(self, item: Item) {
        let _ = self.events.try_send(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use serde_json::json;

    #[tokio::test]
    async fn a_full_queue_keeps_its_last_slot_for_a_resync() {
        let (sender, mut receiver) = mpsc::channel(3);
        let mut outlet = Outlet::new(sender);
        let update = |n: u64| Ok(Event::Update(Update::unsequenced(json!({"n": n}))));
        for n in 1..=4 {
            outlet.deliver(update(n));
        }
        outlet.deliver(Ok(Event::Heartbeat(None)));
        let mut read = Vec::new();
        while let Some(Some(item)) = receiver.recv().now_or_never() {
            read.push(item.unwrap());
        }
        assert_eq!(
            read,
            [update(1).unwrap(), update(2).unwrap(), Event::Resync],
            "3 and 4 were dropped, and the resync says so"
        );
        outlet.deliver(update(5));
        assert_eq!(receiver.recv().await.unwrap().unwrap(), update(5).unwrap());
    }
}
