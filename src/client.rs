//! Clients for the network protocol: sources that
//! [`LiveResource::connect`](crate::LiveResource::connect) follows over HTTP,
//! Server-Sent Events and WebSocket. Each sits behind its own feature.

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
