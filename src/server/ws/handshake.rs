//! The WebSocket opening handshake (RFC 6455 §4.2), answered here rather than
//! by axum's `WebSocketUpgrade`: axum's socket can only send whole messages,
//! and tungstenite copies a whole message into its write buffer, which keeps
//! that size for the rest of the connection. Owning the socket lets
//! [`fragment`](super::fragment) send large messages a bounded piece at a time.
//!
//! Refusals use the status codes axum's extractor uses.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::Response;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// A refused upgrade request: the status to answer with and why.
pub(super) type Refusal = (StatusCode, &'static str);

/// The server's end of an open WebSocket connection.
pub(super) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// An upgrade request that passed every check, ready to be answered.
pub(super) struct Upgrade {
    /// The `Sec-WebSocket-Accept` value that proves the key was read.
    accept: HeaderValue,
    /// hyper's promise of the connection once the 101 is sent.
    on_upgrade: OnUpgrade,
}

impl Upgrade {
    /// Checks `request` as a WebSocket opening handshake, and takes hyper's
    /// upgrade out of its extensions: a copy of `request` made afterwards
    /// does not keep the connection's upgrade machinery alive.
    ///
    /// # Errors
    ///
    /// Why the request is refused: 405 for a method other than
    /// `GET` or a request over HTTP/2 (whose extended `CONNECT` is not
    /// served), 400 for a missing or wrong `Connection`, `Upgrade`,
    /// `Sec-WebSocket-Key` or `Sec-WebSocket-Version`, 426 when the
    /// connection cannot be upgraded.
    pub(super) fn check(request: &mut Parts) -> Result<Self, Refusal> {
        if request.version > Version::HTTP_11 {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "WebSocket over HTTP/2 is not served here: connect over HTTP/1.1",
            ));
        }
        if request.method != Method::GET {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade must be a GET",
            ));
        }
        let headers = &request.headers;
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return Err((
                StatusCode::BAD_REQUEST,
                "the `Connection` header does not include `upgrade`",
            ));
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return Err((
                StatusCode::BAD_REQUEST,
                "the `Upgrade` header does not include `websocket`",
            ));
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Err((
                StatusCode::BAD_REQUEST,
                "the `Sec-WebSocket-Key` header is missing",
            ));
        };
        let version = headers.get(header::SEC_WEBSOCKET_VERSION);
        if version.is_none_or(|version| version.as_bytes() != b"13") {
            return Err((
                StatusCode::BAD_REQUEST,
                "the `Sec-WebSocket-Version` header is not `13`",
            ));
        }
        let Some(on_upgrade) = request.extensions.remove::<OnUpgrade>() else {
            return Err((
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded to a WebSocket",
            ));
        };
        let accept = HeaderValue::try_from(derive_accept_key(key.as_bytes()))
            .expect("base64 is a valid header value");
        Ok(Self { accept, on_upgrade })
    }

    /// The `101 Switching Protocols` answer; `serve` runs on its own task
    /// with the socket once hyper has sent it and handed the connection over.
    pub(super) fn accept<F, Fut>(self, config: WebSocketConfig, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { accept, on_upgrade } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    serve(WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await)
                        .await;
                }
                // The client went away before the 101 reached it.
                Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        response
    }
}

/// Whether any `name` header lists `token` among its comma-separated values,
/// ignoring case: `Connection: keep-alive, Upgrade` says `upgrade`.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}
