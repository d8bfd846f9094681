//! Clients for the network protocol: sources that
//! [`LiveResource::connect`](crate::LiveResource::connect) follows over HTTP,
//! Server-Sent Events, WebSocket and Socket.IO. Each sits behind its own
//! feature, and each reaches servers behind TLS (`https://`, `wss://`) on
//! rustls, with the roots and settings of one [`Tls`].

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

#[cfg(feature = "sse")]
#[cfg_attr(docsrs, doc(cfg(feature = "sse")))]
pub mod sse;

#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

#[cfg(feature = "socketio-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "socketio-client")))]
pub mod socketio;

#[cfg(any(feature = "http", feature = "ws"))]
mod tls;

#[cfg(any(feature = "http", feature = "ws"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "http", feature = "ws"))))]
pub use tls::{CertificateError, Tls};

/// The reason a server gave for an error, as the cause of the client's own
/// error: the crate's [`Error::UnknownTopic`](crate::Error::UnknownTopic)
/// when the protocol's code says so (the driver recognizes it there),
/// otherwise the server's own text.
#[cfg(any(feature = "ws", feature = "socketio-client"))]
pub(crate) fn refusal_reason(topic: &str, code: &str, message: &str) -> crate::BoxError {
    use crate::protocol::ErrorCode;
    match code.parse() {
        Ok(ErrorCode::UnknownTopic) => Box::new(crate::Error::UnknownTopic {
            topic: topic.to_owned(),
        }),
        _ => Box::new(ServerMessage(message.to_owned())),
    }
}

/// What a server said about an error, in its own words: the last cause of a
/// client's error.
#[cfg(any(feature = "http", feature = "ws", feature = "socketio-client"))]
#[derive(Debug)]
pub(crate) struct ServerMessage(pub(crate) String);

#[cfg(any(feature = "http", feature = "ws", feature = "socketio-client"))]
impl std::fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(any(feature = "http", feature = "ws", feature = "socketio-client"))]
impl std::error::Error for ServerMessage {}
