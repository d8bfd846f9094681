//! `HttpSnapshot`: the crate's own snapshot form and plain REST bodies,
//! error statuses, and the limits, against fake axum servers on loopback.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use live_resource::client::http::{HttpError, HttpSnapshot};
use live_resource::source::{EventStream, Fetched, Permanent, SnapshotSource, UpdateSource};
use live_resource::{BoxError, Error, Limits, LiveResource, Snapshot};
use serde_json::{Value, json};

use crate::support::chain;
use crate::support::fake_server::FakeServer;

/// How long any one request of a test may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

async fn fetch(source: &HttpSnapshot) -> Result<Snapshot, BoxError> {
    tokio::time::timeout(PATIENCE, source.snapshot())
        .await
        .expect("the request finishes")
}

async fn fetch_err(source: &HttpSnapshot) -> BoxError {
    match fetch(source).await {
        Ok(snapshot) => panic!("expected an error, got {snapshot:?}"),
        Err(error) => error,
    }
}

/// The first error of type `E` in the chain of `error`.
fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        cause = error.source();
    }
    None
}

/// The crate's error behind a refused body.
fn refusal(error: &BoxError) -> &Error {
    find::<Error>(&**error).unwrap_or_else(|| panic!("no crate error in {error}"))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What the fake servers saw of a request.
#[derive(Clone, Debug, Default, PartialEq)]
struct Seen {
    path: String,
    authorization: Option<String>,
    accept: Option<String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn record(log: &Log, uri: &Uri, headers: &HeaderMap) {
    let text = |name| {
        headers
            .get(name)
            .map(|value: &header::HeaderValue| value.to_str().unwrap().to_owned())
    };
    log.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        authorization: text(header::AUTHORIZATION),
        accept: text(header::ACCEPT),
    });
}

/// The crate's own snapshot route, `{"version":17,"data":..}` for any topic.
fn ours(log: Log) -> Router {
    let handler = move |uri: Uri, headers: HeaderMap| {
        let log = Arc::clone(&log);
        async move {
            record(&log, &uri, &headers);
            let body = json!({"version": 17, "data": {"path": uri.path(), "done": 40}});
            let mut response = json_response(StatusCode::OK, body);
            response
                .headers_mut()
                .insert(header::ETAG, "\"17\"".parse().unwrap());
            response
        }
    };
    Router::new()
        .route("/live/{*topic}", get(handler.clone()))
        .route("/api/live/{*topic}", get(handler))
}

#[tokio::test]
async fn a_snapshot_in_the_wire_form_is_read_with_its_version() {
    let log = Log::default();
    let server = FakeServer::start(ours(Arc::clone(&log))).await;

    let source =
        HttpSnapshot::live(&server.url(), "jobs/42").header("authorization", "Bearer t0k3n");
    let snapshot = fetch(&source).await.unwrap();
    assert_eq!(
        snapshot,
        Snapshot::new(17, json!({"path": "/live/jobs/42", "done": 40}))
    );

    // A base URL with a path and a trailing slash; a topic that needs escaping.
    let source = HttpSnapshot::live(&format!("{}/api/", server.url()), "a b/c?d");
    let snapshot = fetch(&source).await.unwrap();
    assert_eq!(snapshot.data["path"], "/api/live/a%20b/c%3Fd");

    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        Seen {
            path: "/live/jobs/42".into(),
            authorization: Some("Bearer t0k3n".into()),
            accept: Some("application/json".into()),
        }
    );
    assert_eq!(seen[1].authorization, None);
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn the_debug_form_shows_header_names_but_not_their_values() {
    let source =
        HttpSnapshot::live("http://127.0.0.1:1", "quotes").header("cookie", "session=s3cr3t");
    let debug = format!("{source:?}");
    assert!(debug.contains("http://127.0.0.1:1/live/quotes"), "{debug}");
    assert!(debug.contains("cookie"), "{debug}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

/// A REST endpoint answering `body` with the header `name: value`, if given.
fn rest(route: &str, body: Value, version: Option<(&'static str, &'static str)>) -> Router {
    Router::new().route(
        route,
        get(move || async move {
            let mut response = json_response(StatusCode::OK, body);
            if let Some((name, value)) = version {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }),
    )
}

#[tokio::test]
async fn a_rest_body_is_the_resource_with_its_version_in_a_header() {
    let board = json!({"aapl": {"price": 189.5}, "list": [1, 2]});
    let router = rest(
        "/v2/board",
        board.clone(),
        Some(("x-resource-version", "5")),
    );
    let server = FakeServer::start(router).await;
    let url = format!("{}/v2/board", server.url());

    let versioned = HttpSnapshot::rest(&url).version_header("X-Resource-Version");
    assert_eq!(
        fetch(&versioned).await.unwrap(),
        Snapshot::new(5, board.clone())
    );

    let unversioned = HttpSnapshot::rest(&url);
    assert_eq!(
        fetch(&unversioned).await.unwrap(),
        Snapshot::unversioned(board)
    );
}

#[tokio::test]
async fn a_rest_version_may_be_a_quoted_etag() {
    for (etag, version) in [("\"17\"", 17), ("W/\"18\"", 18), ("19", 19)] {
        let server = FakeServer::start(rest("/doc", json!([1]), Some(("etag", etag)))).await;
        let source = HttpSnapshot::rest(&format!("{}/doc", server.url())).version_header("etag");
        assert_eq!(
            fetch(&source).await.unwrap(),
            Snapshot::new(version, json!([1])),
            "{etag}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_unusable_version_header_is_a_retryable_error() {
    let cases = [
        (None, "no `x-version` header"),
        (
            Some(("x-version", "\"17\"")),
            "`x-version` header `\"17\"` is not a version",
        ),
        (
            Some(("x-version", "seventeen")),
            "`x-version` header `seventeen`",
        ),
    ];
    for (version, expected) in cases {
        let server = FakeServer::start(rest("/doc", json!({}), version)).await;
        let url = format!("{}/doc", server.url());
        let error = fetch_err(&HttpSnapshot::rest(&url).version_header("x-version")).await;
        assert!(!Permanent::is_permanent(&*error), "{error}");
        let message = error.to_string();
        assert!(
            message.contains(&url) && message.contains(expected),
            "{message}"
        );
    }
}

/// A server that answers every request with `status` and `{"error": text}`.
fn failing(status: StatusCode, text: &'static str) -> Router {
    Router::new().fallback(move || async move { json_response(status, json!({"error": text})) })
}

#[tokio::test]
async fn not_found_is_retryable_and_says_what_and_where() {
    let server = FakeServer::start(failing(StatusCode::NOT_FOUND, "unknown topic `nope`")).await;
    let error = fetch_err(&HttpSnapshot::live(&server.url(), "nope")).await;

    assert!(!Permanent::is_permanent(&*error), "{error}");
    let url = format!("{}/live/nope", server.url());
    assert_eq!(error.to_string(), format!("GET {url}: 404 Not Found"));
    assert_eq!(
        chain(&*error),
        format!("GET {url}: 404 Not Found: unknown topic `nope`")
    );
    let http = error.downcast_ref::<HttpError>().expect("an HttpError");
    assert_eq!(http.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(http.server_message(), Some("unknown topic `nope`"));
    assert_eq!(http.url().as_str(), url);
    assert!(Error::Snapshot(error).is_unknown_topic());

    // Any other URL's 404 may be a mistake in the URL: not an unknown topic.
    let rest = fetch_err(&HttpSnapshot::rest(&format!("{}/orders", server.url()))).await;
    assert_eq!(
        chain(&*rest),
        format!(
            "GET {}/orders: 404 Not Found: unknown topic `nope`",
            server.url()
        )
    );
    assert!(!Error::Snapshot(rest).is_unknown_topic());
}

#[tokio::test]
async fn forbidden_and_unauthorized_are_permanent() {
    for (status, text) in [
        (StatusCode::FORBIDDEN, "topic `secret` is denied"),
        (StatusCode::UNAUTHORIZED, "log in first"),
    ] {
        let server = FakeServer::start(failing(status, text)).await;
        let error = fetch_err(&HttpSnapshot::live(&server.url(), "secret")).await;
        assert!(Permanent::is_permanent(&*error), "{status}: {error}");
        let message = chain(&*error);
        assert!(
            message.contains(&format!("{}/live/secret", server.url())),
            "{message}"
        );
        assert!(message.contains(&status.to_string()), "{message}");
        assert!(message.contains(text), "{message}");
    }
}

#[tokio::test]
async fn server_errors_and_refused_connections_are_retryable() {
    let server = FakeServer::start(failing(StatusCode::SERVICE_UNAVAILABLE, "restarting")).await;
    let error = fetch_err(&HttpSnapshot::live(&server.url(), "quotes")).await;
    assert!(!Permanent::is_permanent(&*error), "{error}");
    assert!(
        chain(&*error).ends_with("503 Service Unavailable: restarting"),
        "{error}"
    );

    // A server without an `{"error":..}` body.
    let router =
        Router::new().fallback(|| async { (StatusCode::BAD_GATEWAY, "<html>oops</html>") });
    let server = FakeServer::start(router).await;
    let error = fetch_err(&HttpSnapshot::live(&server.url(), "quotes")).await;
    assert!(
        error.to_string().ends_with("/live/quotes: 502 Bad Gateway"),
        "{error}"
    );

    // A port nobody listens on any more.
    let closed = FakeServer::start(Router::new()).await;
    let url = format!("http://{}", closed.addr());
    closed.stop();
    let error = fetch_err(&HttpSnapshot::live(&url, "quotes")).await;
    assert!(!Permanent::is_permanent(&*error), "{error}");
    assert_eq!(error.to_string(), format!("GET {url}/live/quotes failed"));
    assert!(chain(&*error).contains("error sending request"), "{error}");
    assert_eq!(error.downcast_ref::<HttpError>().unwrap().status(), None);
}

#[tokio::test]
async fn a_mistake_in_the_configuration_is_permanent() {
    let source = HttpSnapshot::live("http://127.0.0.1:1", "quotes").header("x-token", "two\nlines");
    let error = fetch_err(&source).await;
    assert!(Permanent::is_permanent(&*error), "{error}");
    assert!(
        error
            .to_string()
            .contains("invalid value for header `x-token`"),
        "{error}"
    );

    let source = HttpSnapshot::rest("http://127.0.0.1:1/doc").version_header("bad header");
    let error = fetch_err(&source).await;
    assert!(Permanent::is_permanent(&*error), "{error}");
    assert!(
        error
            .to_string()
            .contains("the version header name is invalid"),
        "{error}"
    );
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let router = Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "too late"
    });
    let server = FakeServer::start(router).await;
    let source = HttpSnapshot::live(&server.url(), "quotes").timeout(Duration::from_millis(200));
    let error = fetch_err(&source).await;
    assert!(!Permanent::is_permanent(&*error), "{error}");
    assert!(chain(&*error).contains("timed out"), "{error}");
}

#[tokio::test]
async fn a_body_longer_than_the_limit_is_refused_by_its_length() {
    let body = format!(r#"{{"version":1,"data":"{}"}}"#, "x".repeat(64 * 1024));
    let size = body.len();
    let router = Router::new().fallback(move || async move { body });
    let server = FakeServer::start(router).await;

    let limits = Limits::default().max_snapshot_bytes(1024);
    let error = fetch_err(&HttpSnapshot::live(&server.url(), "big").limits(limits)).await;
    assert!(!Permanent::is_permanent(&*error), "{error}");
    assert!(
        matches!(refusal(&error), Error::TooLarge { size: s, max: 1024 } if *s == size),
        "{error}"
    );
}

#[tokio::test]
async fn a_streamed_body_past_the_limit_is_refused_before_it_is_read_whole() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 4096; // 256 MiB, if it were all sent
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&produced);
    let router = Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            let head =
                futures::stream::once(async { Bytes::from_static(br#"{"version":1,"data":""#) });
            let filler = futures::stream::iter(0..CHUNKS).map(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
                Bytes::from(vec![b'x'; CHUNK])
            });
            Body::from_stream(head.chain(filler).map(Ok::<_, Infallible>))
        }
    });
    let server = FakeServer::start(router).await;

    let limits = Limits::default().max_snapshot_bytes(256 * 1024);
    let source = HttpSnapshot::live(&server.url(), "endless").limits(limits);
    let error = fetch_err(&source).await;
    match refusal(&error) {
        Error::TooLarge { size, max } => {
            assert_eq!(*max, 256 * 1024);
            assert!(*size > *max && *size <= *max + CHUNK, "{size}");
        }
        other => panic!("expected TooLarge, got {other}"),
    }
    // The connection is dropped: the server stops once the socket buffers are full.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = produced.load(Ordering::Relaxed);
    assert!(
        sent < CHUNKS / 8,
        "the server produced {sent} of {CHUNKS} chunks"
    );
}

#[tokio::test]
async fn malformed_bodies_are_refused() {
    let cases = [
        ("/live/q", r#"{"version":1,"data":"#),
        ("/live/q", "[1,2]"),
        ("/live/q", r#"{"version":"one","data":1}"#),
        ("/live/q", r#"{"version":1}"#),
        ("/doc", r#"{"a":"#),
        ("/doc", r#"{"a":1} {"b":2}"#),
        ("/doc", ""),
    ];
    for (path, body) in cases {
        let router = Router::new().fallback(move || async move { body });
        let server = FakeServer::start(router).await;
        let source = if path == "/doc" {
            HttpSnapshot::rest(&format!("{}/doc", server.url()))
        } else {
            HttpSnapshot::live(&server.url(), "q")
        };
        let error = fetch_err(&source).await;
        assert!(
            matches!(refusal(&error), Error::Malformed(_)),
            "{body}: {error}"
        );
        assert!(!Permanent::is_permanent(&*error), "{error}");
        assert!(
            chain(&*error).contains("response refused: malformed"),
            "{error}"
        );
    }
}

/// `{"a":{"a":..1..}}`, `depth` objects deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

#[tokio::test]
async fn bodies_nested_past_the_limit_are_refused_in_either_form() {
    let limits = Limits::default().max_depth(4);
    for depth in [4, 5, 200] {
        let data = nested(depth);
        let wire = json!({"version": 3, "data": data.clone()}).to_string();
        let plain = data.to_string();
        let router = Router::new()
            .route("/live/q", get(move || async move { wire }))
            .route("/doc", get(move || async move { plain }));
        let server = FakeServer::start(router).await;
        let sources = [
            HttpSnapshot::live(&server.url(), "q").limits(limits.clone()),
            HttpSnapshot::rest(&format!("{}/doc", server.url())).limits(limits.clone()),
        ];
        for source in sources {
            let result = fetch(&source).await;
            if depth <= 4 {
                assert_eq!(result.unwrap().data, data, "{source:?}");
            } else {
                let error = result.unwrap_err();
                assert!(
                    matches!(refusal(&error), Error::TooDeep { max: 4 }),
                    "{error}"
                );
            }
        }
    }
}

/// An `HttpSnapshot` whose updates never come: a resource over it loads
/// the snapshot as every resource does, fetched with `snapshot_paged`.
struct SnapshotOnly(HttpSnapshot);

#[async_trait::async_trait]
impl SnapshotSource for SnapshotOnly {
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        self.0.snapshot().await
    }

    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        self.0.snapshot_paged().await
    }
}

#[async_trait::async_trait]
impl UpdateSource for SnapshotOnly {
    async fn updates(&self, _since: Option<u64>) -> Result<EventStream, BoxError> {
        Ok(futures::stream::pending().boxed())
    }
}

/// The snapshot as a resource loads it (fetched with `snapshot_paged`, its
/// state read a page a poll), and whether it was fetched as text.
async fn fetch_paged(source: &HttpSnapshot) -> Result<(Snapshot, bool), BoxError> {
    let fetched = tokio::time::timeout(PATIENCE, source.snapshot_paged())
        .await
        .expect("the request finishes");
    let as_text = matches!(fetched, Ok(Fetched::Text(_)));
    let mut resource = LiveResource::<Value>::connect(SnapshotOnly(source.clone()));
    let first = tokio::time::timeout(PATIENCE, resource.next())
        .await
        .expect("the load ends")
        .expect("a first item");
    let data = first?;
    let version = resource.version();
    Ok((Snapshot { version, data }, as_text))
}

/// The innermost error of the crate in the chain of `error`: the refusal
/// itself, under any error that wraps it.
fn innermost(error: &BoxError) -> &Error {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(&**error);
    let mut found = None;
    while let Some(error) = cause {
        found = error.downcast_ref::<Error>().or(found);
        cause = error.source();
    }
    found.unwrap_or_else(|| panic!("no crate error in {error}"))
}

/// What a resource loads (the body fetched as text, its state read a page
/// a poll) is what `snapshot` reads, in both forms and for every body
/// refused: the same snapshot with the same version, or the same refusal.
/// A REST body is the state alone: members after it are refused, and it
/// cannot give itself a version.
#[tokio::test]
async fn a_snapshot_fetched_as_text_is_the_one_read_whole() {
    let wire = r#"{"version":17,"data":{"r1":{"n":1,"tags":["a"]},"r2":null}}"#;
    let not_utf8: &'static [u8] = b"{\"version\":1,\"data\":{\"a\":\"\xff\"}}";
    let bodies: [(&str, Bytes); 17] = [
        ("/live/q", Bytes::from_static(wire.as_bytes())),
        (
            "/live/q",
            Bytes::from_static(br#"{"data":{"a":1},"version":4}"#),
        ),
        ("/doc", Bytes::from_static(br#"{"a":{"b":[1,2]},"c":"d"}"#)),
        ("/doc", Bytes::from_static(b"[1,2]")),
        ("/doc", Bytes::from_static(b"{}")),
        ("/live/q", Bytes::from_static(br#"{"version":1,"data":"#)),
        ("/live/q", Bytes::from_static(b"[1,2]")),
        (
            "/live/q",
            Bytes::from_static(br#"{"version":1,"data":{"a":1} }x"#),
        ),
        ("/doc", Bytes::from_static(br#"{"a":"#)),
        ("/doc", Bytes::from_static(br#"{"a":1} {"b":2}"#)),
        ("/doc", Bytes::from_static(br#"{"a":1},"x":2"#)),
        ("/doc", Bytes::from_static(br#"{"a":1},"version":99"#)),
        ("/doc", Bytes::from_static(br#"[1],"version":99"#)),
        ("/doc", Bytes::from_static(b" {\"a\":1}\n")),
        ("/doc", Bytes::from_static(b"\xef\xbb\xbf{\"a\":1}")),
        ("/doc", Bytes::from_static(b"")),
        ("/live/q", Bytes::from_static(not_utf8)),
    ];
    for (path, body) in bodies {
        let router = Router::new().fallback(move || {
            let body = body.clone();
            async move {
                let mut response = Response::new(Body::from(body));
                response
                    .headers_mut()
                    .insert("x-version", "9".parse().unwrap());
                response
            }
        });
        let server = FakeServer::start(router).await;
        let source = match path {
            "/doc" => {
                HttpSnapshot::rest(&format!("{}/doc", server.url())).version_header("x-version")
            }
            _ => HttpSnapshot::live(&server.url(), "q"),
        };
        let whole = fetch(&source).await;
        let paged = fetch_paged(&source).await;
        match (whole, paged) {
            (Ok(whole), Ok((paged, as_text))) => {
                assert_eq!(paged, whole, "{path}");
                let object = whole.data.is_object();
                assert!(
                    as_text || !object,
                    "{path}: an object's state is handed over as text"
                );
            }
            (Err(whole), Err(paged)) => {
                let (whole, paged) = (innermost(&whole), innermost(&paged));
                assert_eq!(
                    std::mem::discriminant(whole),
                    std::mem::discriminant(paged),
                    "{path}: {whole} / {paged}"
                );
            }
            (whole, paged) => panic!("{path}: {whole:?} / {paged:?}"),
        }
    }
}

/// The limits hold for the text a resource fetches as they do for the
/// snapshot read whole: too large, too deep, refused before the state is
/// read.
#[tokio::test]
async fn a_snapshot_fetched_as_text_is_held_to_the_limits() {
    let limits = Limits::default().max_depth(4).max_snapshot_bytes(200);
    let deep = nested(5);
    let wire = json!({"version": 3, "data": deep.clone()}).to_string();
    let plain = deep.to_string();
    let long = json!({"version": 3, "data": {"a": "x".repeat(300)}}).to_string();
    let router = Router::new()
        .route("/live/deep", get(move || async move { wire }))
        .route("/doc", get(move || async move { plain }))
        .route("/live/long", get(move || async move { long }));
    let server = FakeServer::start(router).await;
    let cases = [
        (HttpSnapshot::live(&server.url(), "deep"), "deep"),
        (HttpSnapshot::rest(&format!("{}/doc", server.url())), "deep"),
        (HttpSnapshot::live(&server.url(), "long"), "long"),
    ];
    for (source, why) in cases {
        let source = source.limits(limits.clone());
        let fetched = tokio::time::timeout(PATIENCE, source.snapshot_paged())
            .await
            .expect("the request finishes");
        let error = fetched.expect_err("refused");
        match why {
            "deep" => assert!(
                matches!(refusal(&error), Error::TooDeep { max: 4 }),
                "{error}"
            ),
            _ => assert!(
                matches!(refusal(&error), Error::TooLarge { max: 200, .. }),
                "{error}"
            ),
        }
        assert!(chain(&*error).contains("response refused"), "{error}");
    }
}

/// Dropped, as a resource drops it when it gives up or is dropped itself,
/// a fetch of the snapshot as text stops: its connection closes, rather
/// than the body being read on until the request's time-out.
#[tokio::test]
async fn a_fetch_as_text_dropped_stops_reading() {
    /// Set when the server's body is dropped: its connection closed.
    struct Closed(Arc<AtomicUsize>);
    impl Drop for Closed {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let closed = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&closed);
    let router = Router::new().fallback(move || {
        let guard = Closed(Arc::clone(&counter));
        async move {
            let head =
                futures::stream::once(async { Bytes::from_static(br#"{"version":1,"data":{"#) });
            // A row every 50 ms, for ever: the body never ends.
            let rows = futures::stream::unfold((guard, 0u64), |(guard, n)| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Bytes::from(format!(r#""r{n}":{n},"#)), (guard, n + 1)))
            });
            Body::from_stream(head.chain(rows).map(Ok::<_, Infallible>))
        }
    });
    let server = FakeServer::start(router).await;
    let source = HttpSnapshot::live(&server.url(), "endless");
    let fetch = tokio::time::timeout(Duration::from_millis(300), source.snapshot_paged()).await;
    assert!(fetch.is_err(), "the body never ends");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while closed.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection stays open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
