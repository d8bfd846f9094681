//! A [`Hub`]'s topics over Socket.IO (socketioxide), for the front ends and
//! gateways that already speak it.
//!
//! [`layer`] gives a tower layer that answers Socket.IO at `/socket.io/` and
//! passes every other request on, so it mounts beside
//! [`server::router`](crate::server::router) on the same address. Events
//! carry the objects of the WebSocket protocol, `type` included, so one
//! client-side handler can serve both transports:
//!
//! | direction | event | payload |
//! | --- | --- | --- |
//! | client → server | `subscribe` | `{"topic":"quotes","since":17}`; without `since` the snapshot comes first |
//! | client → server | `unsubscribe` | `{"topic":"quotes"}` |
//! | server → client | `snapshot` | `{"type":"snapshot","topic":"quotes","version":17,"data":..}` |
//! | server → client | `update` | `{"type":"update","topic":"quotes","seq":18,"merge":{..}}` (or `patch`, `replace`) |
//! | server → client | `resync` | `{"type":"resync","topic":"quotes"}`: take a new snapshot |
//! | server → client | `heartbeat` | `{"type":"heartbeat","topic":"quotes","seq":18}` per topic, each [`Config::heartbeat`] |
//! | server → client | `error` | `{"type":"error","topic":"quotes","code":"unknown_topic","message":".."}` |
//!
//! Error codes are those of the WebSocket protocol
//! ([`ErrorCode`](crate::protocol::ErrorCode)): `unknown_topic`, `forbidden`
//! and `too_many_subscriptions` name a topic whose subscription does not
//! exist; `bad_message`, `too_large` and `too_deep` are about a request and
//! name no topic. The same [`Authorize`](crate::server::Authorize)
//! hook decides, with the Socket.IO handshake request as `request`.
//!
//! From a browser, with `socket.io-client`:
//!
//! ```js
//! const socket = io("https://example.com");
//! let quotes, version;
//! socket.on("snapshot", (m) => { quotes = m.data; version = m.version; });
//! socket.on("update", (m) => {
//!   if (m.seq !== version + 1) return socket.emit("subscribe", { topic: "quotes" }); // a gap: start over
//!   quotes = mergePatch(quotes, m.merge); version = m.seq;
//! });
//! socket.on("resync", () => socket.emit("subscribe", { topic: "quotes" }));
//! socket.on("connect", () => socket.emit("subscribe", version === undefined ? { topic: "quotes" } : { topic: "quotes", since: version }));
//! ```
//!
//! # Delivery
//!
//! Each update is serialized once, by the hub, and checked as JSON once;
//! every subscriber is sent those same bytes: socketioxide copies them into
//! each socket's packet (three times: its event array, its packet, its
//! Engine.IO frame) but does not parse them again. Each socket follows its
//! topics in its own task, which sends the deliveries that are ready in a
//! row, with the hub's bounded queue per subscription: a client too slow to
//! keep up gets a `resync`, never a silent gap. (A room broadcast would save
//! the copies, but socketioxide cannot tell which socket of a room was too
//! full to take a packet, so a slow client would miss updates unannounced.)
//!
//! Those copies and socketioxide's queue and task per socket are most of
//! what a delivery costs here: about two and a half times what it costs on
//! the WebSocket route ([`server::router`](crate::server::router)), which
//! writes the hub's bytes as they are (`benches/peers/RESULTS.md`). Clients
//! that can take either get the most from the WebSocket route.
//!
//! # Examples
//!
//! ```no_run
//! use live_resource::Hub;
//! use serde_json::json;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! hub.set("quotes", json!({"AAPL": 189.5}))?;
//!
//! let (socketio, io) = live_resource::socketio::layer(hub.clone());
//! let app = live_resource::server::router(hub.clone()).layer(socketio);
//!
//! tokio::spawn(async move {
//!     // The familiar calls, on the handle.
//!     io.emit("announcement", &json!({"text": "markets open"})).await.ok();
//!     println!("{} clients connected", io.clients());
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // `axum::serve` works too; this one bounds header-read time and connections.
//! live_resource::server::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

mod connection;
mod request;

use std::fmt;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError, SocketIo};

/// The socketioxide crate this module is built on, for building a
/// [`SocketIo`] of one's own to hand to [`Handle::new`].
pub use socketioxide;

use crate::Hub;
use crate::server::Config;

/// Room, past the client message limit, for the Socket.IO framing of one
/// request: packet type, namespace, event name.
const FRAMING_ROOM: usize = 1024;

/// How many binary attachments one request may carry (the protocol uses none).
const MAX_ATTACHMENTS: usize = 16;

/// A tower layer that serves `hub` over Socket.IO on the default namespace
/// `/`, with the default [`Config`], and the handle to the server.
///
/// # Examples
///
/// ```
/// use live_resource::Hub;
///
/// let hub = Hub::new();
/// let (layer, io) = live_resource::socketio::layer(hub.clone());
/// let app: axum::Router = live_resource::server::router(hub).layer(layer);
/// assert_eq!(io.clients(), 0);
/// ```
pub fn layer(hub: Hub) -> (SocketIoLayer, Handle) {
    layer_with(hub, Config::default())
}

/// A tower layer that serves `hub` over Socket.IO on the default namespace
/// `/`, with `config`: the same authorization hook, heartbeat period, topic
/// limit and client message limits as [`server::router_with`](crate::server::router_with).
///
/// The Socket.IO transport itself is bounded by the same message limit:
/// larger WebSocket frames and polling bodies are refused by socketioxide,
/// and so are binary attachments past it in all (or more than 16, or not
/// all sent within a heartbeat period); the connection then closes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use live_resource::Hub;
/// use live_resource::server::Config;
///
/// let hub = Hub::new();
/// let config = Config::default()
///     .heartbeat(Duration::from_secs(10))
///     .authorize(|request: &axum::http::request::Parts, topic: &str| {
///         !topic.starts_with("admin/") || request.headers.contains_key("authorization")
///     });
/// let (layer, io) = live_resource::socketio::layer_with(hub.clone(), config.clone());
/// let app: axum::Router = live_resource::server::router_with(hub, config).layer(layer);
/// # let _ = (app, io);
/// ```
pub fn layer_with(hub: Hub, config: Config) -> (SocketIoLayer, Handle) {
    let limit = config
        .client_limits()
        .max_message_bytes
        .saturating_add(FRAMING_ROOM);
    // Binary attachments have no place in the protocol, and socketioxide
    // would hold up to 10 MB of them for one request: bound them as a
    // message is, and give a request little time to send them.
    let parser = socketioxide::ParserConfig::common()
        .max_incoming_binary_buf_size(limit)
        .max_incoming_binaries(MAX_ATTACHMENTS)
        .packet_completion_timeout(config.heartbeat_period());
    let (layer, io) = SocketIo::builder()
        .max_payload(u64::try_from(limit).unwrap_or(u64::MAX))
        .ws_max_message_size(limit)
        .ws_max_frame_size(limit)
        .with_parser(parser)
        .build_layer();
    let handle = Handle::new(io, hub, config);
    handle.serve("/");
    (layer, handle)
}

/// The Socket.IO server of a hub: the familiar server calls, and the
/// namespaces the hub is served on.
///
/// Cloning is cheap; clones share the server.
///
/// # Examples
///
/// A server built by hand, with the hub on a namespace of its own beside the
/// application's events:
///
/// ```
/// use live_resource::Hub;
/// use live_resource::server::Config;
/// use live_resource::socketio::{Handle, socketioxide::SocketIo};
/// use live_resource::socketio::socketioxide::extract::SocketRef;
///
/// let (layer, io) = SocketIo::builder().build_layer();
/// io.ns("/", async |socket: SocketRef| {
///     socket.on("chat", async |socket: SocketRef| { /* the app's own events */ });
/// });
/// let live = Handle::new(io, Hub::new(), Config::default());
/// live.serve("/live");
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

/// What every connection of a server shares.
struct Shared {
    io: SocketIo,
    hub: Hub,
    config: Config,
    namespaces: Mutex<Vec<String>>,
}

impl Handle {
    /// A handle on `io` that serves `hub` with `config` on the namespaces
    /// given to [`serve`](Handle::serve); none yet.
    pub fn new(io: SocketIo, hub: Hub, config: Config) -> Self {
        Self {
            shared: Arc::new(Shared {
                io,
                hub,
                config,
                namespaces: Mutex::default(),
            }),
        }
    }

    /// Serves the hub on `namespace` (such as `/` or `/live`): each socket
    /// that connects there may `subscribe` and `unsubscribe`.
    ///
    /// The namespace belongs to the hub from then on: socketioxide keeps one
    /// connect handler per namespace, so this replaces any other.
    pub fn serve(&self, namespace: &str) {
        let shared = Arc::clone(&self.shared);
        let connect = Connect { shared };
        // The handlers are set while the socket connects, before the client
        // hears it is connected, so that no early request goes unheard.
        self.shared.io.ns(namespace.to_owned(), connect);
        let mut namespaces = self.namespaces();
        if !namespaces.iter().any(|served| served == namespace) {
            namespaces.push(namespace.to_owned());
        }
    }

    fn namespaces(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.shared
            .namespaces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The socketioxide server, for everything else it does (rooms, other
    /// namespaces, acknowledgements).
    pub fn io(&self) -> &SocketIo {
        &self.shared.io
    }

    /// The hub served.
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Emits `event` with `data` to every client of the namespaces the hub is
    /// served on. `data` is serialized once for all of them.
    ///
    /// # Errors
    ///
    /// A [`BroadcastError`] when `data` does not serialize, or when some
    /// clients could not take the packet (their queue was full, or they
    /// were leaving); the others got it.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (_layer, io) = live_resource::socketio::layer(live_resource::Hub::new());
    /// io.emit("maintenance", &serde_json::json!({"in_minutes": 5})).await.unwrap();
    /// # }
    /// ```
    pub async fn emit<T: ?Sized + Serialize>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), BroadcastError> {
        let namespaces = self.namespaces().clone();
        for namespace in namespaces {
            if let Some(clients) = self.shared.io.of(&namespace) {
                clients.emit(event, data).await?;
            }
        }
        Ok(())
    }

    /// Emits `event` with `data` to the one client whose socket id is `id`
    /// (`socket.id` in the client), on whichever served namespace it is.
    ///
    /// # Errors
    ///
    /// [`SendError::Socket`] with [`SocketError::Closed`] when no such client
    /// is connected; [`SocketError::InternalChannelFull`] when its queue is
    /// full; [`SendError::Serialize`] when `data` does not serialize.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::socketio::socketioxide::socket::Sid;
    ///
    /// let (_layer, io) = live_resource::socketio::layer(live_resource::Hub::new());
    /// let gone: Sid = "AAAAAAAAAAAAAAAA".parse().unwrap();
    /// assert!(io.emit_to(gone, "notification", &"hello").is_err());
    /// ```
    pub fn emit_to<T: ?Sized + Serialize>(
        &self,
        id: Sid,
        event: &str,
        data: &T,
    ) -> Result<(), SendError> {
        let namespaces = self.namespaces().clone();
        let socket = namespaces.iter().find_map(|namespace| {
            self.shared
                .io
                .of(namespace)
                .and_then(|clients| clients.get_socket(id))
        });
        match socket {
            Some(socket) => socket.emit(event, data),
            None => Err(SendError::Socket(SocketError::Closed)),
        }
    }

    /// How many clients are connected to the namespaces the hub is served on
    /// (a client connected to two of them counts twice).
    pub fn clients(&self) -> usize {
        let namespaces = self.namespaces().clone();
        namespaces
            .iter()
            .filter_map(|namespace| self.shared.io.of(namespace))
            .map(|clients| clients.sockets().len())
            .sum()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("namespaces", &*self.namespaces())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// A Socket.IO client's `auth` payload (`io(url, { auth: { token } })`), as
/// the [`Authorize`](crate::server::Authorize) hook finds it in the handshake
/// request's extensions: browsers cannot set headers on a WebSocket, so this
/// is where a front end's token comes in. Bounded by the
/// [`Config`]'s client limits; a payload that breaks them, or is not JSON,
/// refuses the connection.
///
/// # Examples
///
/// ```
/// use live_resource::server::Config;
/// use live_resource::socketio::Auth;
///
/// let config = Config::default().allow_if(|request, topic| {
///     let token = request.extensions.get::<Auth>().and_then(|Auth(auth)| auth["token"].as_str());
///     !topic.starts_with("private/") || token == Some("s3cret")
/// });
/// # let _ = config;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Auth(pub serde_json::Value);

impl Auth {
    /// The payload of a connect packet, read within `limits`.
    fn read(
        payload: Option<&socketioxide::handler::Value>,
        limits: &crate::Limits,
    ) -> Result<Option<Self>, crate::Error> {
        let Some(text) = payload.and_then(socketioxide::handler::Value::as_str) else {
            return Ok(None);
        };
        limits
            .parse_message(text.as_bytes())
            .map(|auth| Some(Self(auth)))
    }
}

/// The connect handler of a served namespace.
#[derive(Clone)]
struct Connect {
    shared: Arc<Shared>,
}

type MiddlewareFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(), Box<dyn fmt::Display + Send>>> + Send + 'a>>;

impl ConnectHandler<socketioxide::adapter::LocalAdapter, Connect> for Connect {
    fn call(
        &self,
        socket: Arc<socketioxide::socket::Socket>,
        _auth: Option<socketioxide::handler::Value>,
    ) {
        tracing::info!(
            id = %socket.id,
            namespace = socket.ns(),
            transport = ?socket.transport_type(),
            "socket.io client connected"
        );
    }

    fn call_middleware<'a>(
        &'a self,
        socket: Arc<socketioxide::socket::Socket>,
        auth: &'a Option<socketioxide::handler::Value>,
    ) -> MiddlewareFuture<'a> {
        // CORS does not guard the WebSocket transport: a page of another
        // site must not follow topics with its visitor's cookies.
        if let Err(why) = self.shared.config.check_origin(&socket.req_parts().headers) {
            tracing::info!(id = %socket.id, reason = %why, "socket.io client refused");
            return Box::pin(async move { Err(Box::new(why) as Box<dyn fmt::Display + Send>) });
        }
        let auth = match Auth::read(auth.as_ref(), self.shared.config.client_limits()) {
            Ok(auth) => auth,
            Err(error) => {
                tracing::info!(id = %socket.id, %error, "socket.io client refused");
                let why = format!("the auth payload was refused: {error}");
                return Box::pin(async move { Err(Box::new(why) as Box<dyn fmt::Display + Send>) });
            }
        };
        // Before the client hears it is connected: see `Handle::serve`.
        connection::start(Arc::clone(&self.shared), SocketRef::from(socket), auth);
        Box::pin(async { Ok(()) })
    }
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): a
/// client's `subscribe` or `unsubscribe` event data read as the server
/// reads it: the topic and `since`.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_for_fuzzing(
    bytes: &[u8],
    limits: &crate::Limits,
) -> Result<(String, Option<u64>), crate::Error> {
    request::parse(bytes, limits).map(|request| (request.topic, request.since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Handle>();
    }
}
