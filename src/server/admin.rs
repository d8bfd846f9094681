//! The admin view, off unless [`Config::admin`](super::Config::admin) turns
//! it on: `GET /live/_admin`, a page, and `GET /live/_admin.json`, what it
//! shows: connections, topics with their versions and subscribers, update,
//! delivery and resync rates.
//!
//! Both answer 401 to a request the admin hook refuses, with a
//! `WWW-Authenticate: Basic` challenge, so that a browser asks for the
//! credentials [`basic_auth`] checks. There is no default password: the
//! view does not exist until a hook is given.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;

const PAGE: &str = include_str!("admin.html");

/// Who may see the admin view.
pub(super) type AdminHook = dyn Fn(&Parts) -> bool + Send + Sync;

/// The counts the rates are measured against: the last sample at least a
/// second old.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    published: u64,
    delivered: u64,
    resyncs: u64,
}

#[derive(Clone)]
struct Admin {
    app: AppState,
    allow: Arc<AdminHook>,
    started: Instant,
    sample: Arc<Mutex<(Sample, Sample)>>,
}

/// The admin routes, for `app`, behind `allow`.
pub(super) fn routes(app: AppState, allow: Arc<AdminHook>) -> Router {
    let now = sample(&app, Instant::now());
    let admin = Admin {
        app,
        allow,
        started: Instant::now(),
        sample: Arc::new(Mutex::new((now, now))),
    };
    Router::new()
        .route("/live/_admin", get(page))
        .route("/live/_admin.json", get(report))
        .with_state(admin)
}

fn sample(app: &AppState, at: Instant) -> Sample {
    let hub = app.hub.stats();
    let server = app.stats.totals();
    Sample {
        at,
        published: hub.published,
        delivered: server.updates_sent,
        resyncs: server.resyncs,
    }
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="live-resource admin", charset="UTF-8""#),
        )],
        Json(serde_json::json!({ "error": "the admin view needs authorization" })),
    )
        .into_response()
}

async fn page(State(admin): State<Admin>, request: Parts) -> Response {
    if !(admin.allow)(&request) {
        return refused();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        PAGE,
    )
        .into_response()
}

async fn report(State(admin): State<Admin>, request: Parts) -> Response {
    if !(admin.allow)(&request) {
        return refused();
    }
    let now = Instant::now();
    let current = sample(&admin.app, now);
    // Rates over the time since the older of two samples, which move on once
    // a second: every viewer sees rates over one to two seconds.
    let base = {
        let mut samples = admin.sample.lock().unwrap_or_else(|p| p.into_inner());
        if now.duration_since(samples.1.at).as_secs_f64() >= 1.0 {
            *samples = (samples.1, current);
        }
        samples.0
    };
    let seconds = now.duration_since(base.at).as_secs_f64().max(1e-3);
    let rate =
        |now: u64, then: u64| (now.saturating_sub(then) as f64 / seconds * 10.0).round() / 10.0;
    let server = admin.app.stats.totals();
    let body = serde_json::json!({
        "uptime_s": admin.started.elapsed().as_secs(),
        "connections": server.clients,
        "subscriptions": server.subscriptions,
        "topics": admin.app.hub.topics(),
        "rates": {
            "published_per_s": rate(current.published, base.published),
            "delivered_per_s": rate(current.delivered, base.delivered),
            "resyncs_per_s": rate(current.resyncs, base.resyncs),
        },
        "totals": {
            "hub": admin.app.hub.stats(),
            "server": admin.app.stats.snapshot(),
        },
    });
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

/// An admin hook that lets in the requests that carry HTTP Basic credentials
/// `user` and `password` (compared in constant time), as a browser sends
/// them once it has asked for them. Serve the admin view over TLS only:
/// Basic credentials travel in the clear otherwise.
///
/// # Examples
///
/// ```
/// use live_resource::server::{Config, basic_auth};
///
/// let mut config = Config::default();
/// // From the environment or a secret store, never a default in the code:
/// // without one, there is no admin view.
/// if let Ok(password) = std::env::var("ADMIN_PASSWORD") {
///     config = config.admin(basic_auth("admin", password));
/// }
/// # let _ = config;
/// ```
pub fn basic_auth(
    user: impl AsRef<str>,
    password: impl AsRef<str>,
) -> impl Fn(&Parts) -> bool + Clone + Send + Sync + 'static {
    let credentials = format!("{}:{}", user.as_ref(), password.as_ref());
    let expected = format!("Basic {}", base64(credentials.as_bytes())).into_bytes();
    move |request: &Parts| {
        request
            .headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .any(|value| constant_time_eq(value.as_bytes(), &expected))
    }
}

/// Compares in a time that depends on the lengths only, not on where the
/// bytes first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// RFC 4648 base64, with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, byte)| n | u32::from(*byte) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        // RFC 4648 §10.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn basic_auth_lets_in_its_credentials_only() {
        let hook = basic_auth("Aladdin", "open sesame");
        let request = |authorization: &str| {
            let request = axum::http::Request::builder().header("authorization", authorization);
            request.body(()).unwrap().into_parts().0
        };
        // RFC 7617's example.
        assert!(hook(&request("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!hook(&request("Basic QWxhZGRpbjpvcGVuIHNlc2FtZA==")));
        assert!(!hook(&request("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        let none = axum::http::Request::builder()
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(!hook(&none));
    }
}
