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

/// A refused upgrade request: the status to answer with, why, and a header
/// that tells the client what would be accepted (RFC 6455 §4.4 asks for the
/// versions we speak; a 426 names the protocol to upgrade to).
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) why: &'static str,
    pub(super) header: Option<(HeaderName, HeaderValue)>,
}

impl Refusal {
    fn new(status: StatusCode, why: &'static str) -> Self {
        Self {
            status,
            why,
            header: None,
        }
    }

    fn with(mut self, name: HeaderName, value: &'static str) -> Self {
        self.header = Some((name, HeaderValue::from_static(value)));
        self
    }

    /// The answer: our usual `{"error":".."}` body, and the header if any.
    pub(super) fn into_response(self) -> Response {
        let mut response = crate::server::error(self.status, self.why);
        if let Some((name, value)) = self.header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

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
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "WebSocket over HTTP/2 is not served here: connect over HTTP/1.1",
            ));
        }
        if request.method != Method::GET {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade must be a GET",
            ));
        }
        let headers = &request.headers;
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "the `Connection` header does not include `upgrade`",
            ));
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "the `Upgrade` header does not include `websocket`",
            ));
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "the `Sec-WebSocket-Key` header is missing",
            ));
        };
        if !is_key(key.as_bytes()) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "the `Sec-WebSocket-Key` header is not 16 bytes in base64",
            ));
        }
        let version = headers.get(header::SEC_WEBSOCKET_VERSION);
        if version.is_none_or(|version| version.as_bytes() != b"13") {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "the `Sec-WebSocket-Version` header is not `13`",
            )
            .with(header::SEC_WEBSOCKET_VERSION, "13"));
        }
        let Some(on_upgrade) = request.extensions.remove::<OnUpgrade>() else {
            return Err(Refusal::new(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded to a WebSocket",
            )
            .with(header::UPGRADE, "websocket"));
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

/// Whether `key` is what RFC 6455 §4.1 asks of a `Sec-WebSocket-Key`: 16
/// bytes in base64, which is 22 characters of the alphabet and `==` (the
/// last character carries 2 bits of data and 4 of zero padding).
fn is_key(key: &[u8]) -> bool {
    let alphabet = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'+' || *byte == b'/';
    key.len() == 24
        && key[..22].iter().all(alphabet)
        && matches!(key[21], b'A' | b'Q' | b'g' | b'w')
        && &key[22..] == b"=="
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
