//! The one connection a [`WsClient`](super::WsClient) shares between its
//! topics: opened on demand, owned by one background task that writes
//! subscriptions, reads the server's messages and routes each to its topic's
//! subscribers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::frame::{self, Inbound, Request};
use super::subscription::{Command, Delivered, Item, Outlet};
use super::{Config, WsError};
use crate::BoxError;
use crate::client::CertificateError;
use crate::source::{Event, Permanent};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Room above the largest snapshot for the envelope around it: frames past
/// that are refused by the WebSocket layer, which closes the connection.
const ENVELOPE_ROOM: usize = 64 * 1024;

/// How long a closing handshake may take when the client closes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A way to reach a connection task; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Handle {
    commands: mpsc::UnboundedSender<Command>,
}

impl Handle {
    /// Whether the connection still takes commands. It stops just before it
    /// ends its topics' streams, so a subscriber that saw its stream fail
    /// always finds it closed.
    pub(super) fn is_open(&self) -> bool {
        !self.commands.is_closed()
    }

    pub(super) fn commands(&self) -> &mpsc::UnboundedSender<Command> {
        &self.commands
    }
}

/// Opens a connection and spawns its task.
///
/// # Errors
///
/// A [`WsError`], wrapped in [`Permanent`] when retrying cannot help: an
/// invalid URL or header, a server certificate refused (its cause is then a
/// [`CertificateError`]), or an upgrade answered with a client error other
/// than 408 and 429.
pub(super) async fn open(config: &Config, reconnect: bool) -> Result<Handle, BoxError> {
    let url = config.url_for_logs();
    let request = request(config).map_err(Permanent::new)?;
    let server = server_of(request.uri());
    let cap = config
        .limits
        .max_snapshot_bytes
        .saturating_add(ENVELOPE_ROOM);
    let settings = WebSocketConfig::default()
        .max_message_size(Some(cap))
        .max_frame_size(Some(cap));
    let connector = Connector::Rustls(Arc::clone(config.tls.rustls_config()));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(settings),
        true,
        Some(connector),
    );
    let socket = match tokio::time::timeout(config.connect_timeout, connecting).await {
        Ok(Ok((socket, _response))) => socket,
        Ok(Err(error)) => {
            tracing::warn!(url, %error, "websocket connect failed");
            if let Some(refused) = CertificateError::find(&error, &server) {
                return Err(Permanent::new(WsError::connect(&url, refused)).into());
            }
            let permanent = is_permanent(&error);
            let error = WsError::connect(&url, error);
            return Err(if permanent {
                Permanent::new(error).into()
            } else {
                error.into()
            });
        }
        Err(_) => {
            let after = config.connect_timeout;
            tracing::warn!(url, ?after, "websocket connect timed out");
            let cause = format!("no answer within {after:?}");
            return Err(WsError::connect(&url, cause).into());
        }
    };
    if reconnect {
        tracing::info!(url, "websocket reconnected");
    } else {
        tracing::info!(url, "websocket connected");
    }
    let (commands, receiver) = mpsc::unbounded_channel();
    let connection = Connection {
        socket,
        commands: receiver,
        topics: HashMap::new(),
        config: config.clone(),
        url,
    };
    tokio::spawn(connection.run());
    Ok(Handle { commands })
}

fn request(config: &Config) -> Result<tungstenite::handshake::client::Request, WsError> {
    if let Some(invalid) = &config.invalid_header {
        return Err(WsError::config(invalid.clone(), None));
    }
    let mut request = config.url.as_str().into_client_request().map_err(|error| {
        WsError::config(format!("invalid url `{}`", config.url), Some(error.into()))
    })?;
    for (name, value) in &config.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    Ok(request)
}

/// The server a request goes to, as `host:port`, for errors.
pub(crate) fn server_of(uri: &tungstenite::http::Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    format!("{host}:{port}")
}

/// `after` from now, or as far as the clock goes.
fn later(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}

/// Whether a failed connect cannot succeed on a retry (a bad URL, or an
/// upgrade refused with a 4xx other than 408 and 429). Shared with the
/// Socket.IO client, which connects the same way.
pub(crate) fn is_permanent(error: &tungstenite::Error) -> bool {
    match error {
        tungstenite::Error::Url(_) => true,
        tungstenite::Error::Http(response) => {
            let status = response.status();
            status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429
        }
        _ => false,
    }
}

/// The task that owns one connection.
struct Connection {
    socket: Socket,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Each topic's local subscriptions. The server holds one subscription
    /// per topic and connection, so they share it: each delivery goes to all
    /// of them, and each drops by `seq` what it already has.
    topics: HashMap<String, Vec<Outlet>>,
    config: Config,
    url: String,
}

/// Why a connection ends.
enum Ending {
    /// Nothing can use it any more: every client handle and subscription is gone.
    Unused,
    /// It was lost or closed, for this reason.
    Lost(String),
}

impl Connection {
    async fn run(mut self) {
        // A zero period promises no heartbeats: no idle timeout then.
        let idle_after = Some(self.config.heartbeat)
            .filter(|period| !period.is_zero())
            .map(|period| period.saturating_mul(3));
        let idle = tokio::time::sleep_until(later(idle_after.unwrap_or_default()));
        tokio::pin!(idle);
        let ending = loop {
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(command) = command else { break Ending::Unused };
                    if let Err(error) = self.command(command).await {
                        break Ending::Lost(format!("write failed: {error}"));
                    }
                }
                message = self.socket.next() => {
                    if let Some(after) = idle_after {
                        idle.as_mut().reset(later(after));
                    }
                    // Text frames are UTF-8 already: read as they are.
                    let stray = match message {
                        Some(Ok(Message::Text(text))) => self.route(text.as_str()),
                        Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                            Ok(text) => self.route(text),
                            Err(_) => {
                                tracing::warn!(url = self.url, "server message that is not UTF-8 skipped");
                                None
                            }
                        },
                        // Pings are answered by the WebSocket layer on the next read.
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map_or_else(
                                || "no reason given".to_owned(),
                                |frame| format!("{}: {}", frame.code, frame.reason),
                            );
                            break Ending::Lost(format!("the server closed it ({why})"));
                        }
                        Some(Err(error)) => break Ending::Lost(format!("read failed: {error}")),
                        None => break Ending::Lost("the server went away".to_owned()),
                    };
                    if let Some(stray) = stray {
                        let request = Request::Unsubscribe {
                            topic: stray.as_str().into(),
                        };
                        if let Err(error) = self.write(&request).await {
                            break Ending::Lost(format!("write failed: {error}"));
                        }
                    }
                }
                () = &mut idle, if idle_after.is_some() => {
                    let after = idle_after.unwrap_or_default();
                    break Ending::Lost(format!("no message from the server for {after:?}"));
                }
            }
        };
        self.shut_down(ending).await;
    }

    async fn command(&mut self, command: Command) -> Result<(), tungstenite::Error> {
        match command {
            Command::Subscribe {
                id,
                topic,
                since,
                pages,
                events,
            } => {
                tracing::debug!(url = self.url, topic, ?since, id, "subscribing");
                let request = Request::Subscribe {
                    topic: topic.as_str().into(),
                    since,
                };
                let text = request.to_text();
                self.topics
                    .entry(topic)
                    .or_default()
                    .push(Outlet::new(id, events, since, pages));
                self.write_text(text).await
            }
            Command::Unsubscribe { id, topic } => {
                let Some(outlets) = self.topics.get_mut(&topic) else {
                    return Ok(());
                };
                let before = outlets.len();
                outlets.retain(|outlet| outlet.id() != id);
                if outlets.len() == before || !outlets.is_empty() {
                    // Already ended, or others still follow the topic.
                    return Ok(());
                }
                self.topics.remove(&topic);
                tracing::debug!(url = self.url, topic, id, "unsubscribing");
                self.write(&Request::Unsubscribe {
                    topic: topic.as_str().into(),
                })
                .await
            }
        }
    }

    async fn write(&mut self, request: &Request<'_>) -> Result<(), tungstenite::Error> {
        self.write_text(request.to_text()).await
    }

    async fn write_text(&mut self, text: String) -> Result<(), tungstenite::Error> {
        self.socket.send(Message::text(text)).await
    }

    /// Delivers one server message to its topic's subscribers. Returns a
    /// topic the server still sends heartbeats for although nothing here
    /// follows it any more (its subscription outlived a race), to unsubscribe.
    fn route(&mut self, text: &str) -> Option<String> {
        match frame::parse(text, &self.config.limits) {
            Inbound::Event {
                topic,
                event: Event::SnapshotText(text),
            } => {
                // Read whole only for subscribers that do not read it in
                // pages, and only once for all of them.
                let whole = std::cell::OnceCell::new();
                self.deliver(&topic, |outlet| {
                    if outlet.pages() {
                        return Ok(Event::SnapshotText(text.clone()));
                    }
                    match whole.get_or_init(|| {
                        text.to_snapshot()
                            .map_err(|error| WsError::message(&topic, error))
                    }) {
                        Ok(snapshot) => Ok(Event::Snapshot(snapshot.clone())),
                        Err(error) => Err(error.clone().into()),
                    }
                });
            }
            Inbound::Event { topic, event } => {
                let heartbeat = matches!(event, Event::Heartbeat(_));
                let delivered = self.deliver(&topic, |_| Ok(event.clone()));
                if !delivered && heartbeat {
                    return Some(topic);
                }
            }
            Inbound::Error { topic, error } => {
                tracing::warn!(url = self.url, topic, error = %crate::error::Chain(&error), "error on topic");
                self.deliver(&topic, |_| Err(error.clone().into()));
            }
            Inbound::End {
                topic,
                error,
                permanent,
            } => {
                tracing::warn!(url = self.url, topic, error = %crate::error::Chain(&error), "subscription refused");
                for outlet in self.topics.remove(&topic).into_iter().flatten() {
                    let error = error.clone();
                    outlet.finish(Err(if permanent {
                        Permanent::new(error).into()
                    } else {
                        error.into()
                    }));
                }
            }
            Inbound::Unroutable(why) => {
                tracing::warn!(url = self.url, why, "server message skipped");
            }
            Inbound::Unknown { kind } => {
                tracing::debug!(
                    url = self.url,
                    kind,
                    "server message of an unknown type skipped"
                );
            }
        }
        None
    }

    /// Hands an item to each subscriber of `topic`; whether there was any.
    fn deliver(&mut self, topic: &str, item: impl Fn(&Outlet) -> Item) -> bool {
        let Some(outlets) = self.topics.get_mut(topic) else {
            return false;
        };
        for outlet in outlets {
            if outlet.deliver(item(outlet)) == Delivered::Resync {
                tracing::debug!(
                    url = self.url,
                    topic,
                    id = outlet.id(),
                    "subscriber fell behind: told to resync"
                );
            }
        }
        true
    }

    async fn shut_down(mut self, ending: Ending) {
        // First refuse new subscriptions, so that a subscriber that sees its
        // stream fail and subscribes again reaches a new connection.
        self.commands.close();
        let reason = match ending {
            Ending::Unused => {
                tracing::debug!(url = self.url, "websocket closed: no longer used");
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.close(None)).await;
                "the client was dropped".to_owned()
            }
            Ending::Lost(reason) => {
                tracing::warn!(
                    url = self.url,
                    reason,
                    topics = self.topics.len(),
                    "websocket disconnected"
                );
                reason
            }
        };
        let error = WsError::disconnected(reason);
        for outlet in self.topics.drain().flat_map(|(_, outlets)| outlets) {
            outlet.finish(Err(error.clone().into()));
        }
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Subscribe { events, .. } = command {
                let _ = events.try_send(Err(error.clone().into()));
            }
        }
    }
}
