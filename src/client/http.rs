//! Snapshots over HTTP: [`HttpSnapshot`], a [`SnapshotSource`] for the
//! crate's own server (`GET /live/{topic}`) or for any REST endpoint.
//!
//! A failed request is an [`HttpError`], which names the URL, and the status
//! and the server's own `{"error":..}` text when there is a response.

use std::fmt;
use std::time::Duration;

mod body;
mod error;

use async_trait::async_trait;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use self::body::Body;
pub use self::error::HttpError;
use crate::source::{Fetched, Permanent, SnapshotSource};
use crate::{BoxError, Limits, Snapshot};

/// How long a snapshot request may take, by default: from connecting to the
/// last byte of the body.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of an error response is read for its `{"error":..}` text.
const ERROR_BODY_BYTES: usize = 16 * 1024;

/// A [`SnapshotSource`] that GETs the whole state of a resource over HTTP.
///
/// Two kinds of endpoint are served:
///
/// - [`HttpSnapshot::live`]: the crate's own server, `GET {base}/live/{topic}`
///   answering `{"version":17,"data":..}`;
/// - [`HttpSnapshot::rest`]: any endpoint that answers with the resource
///   itself as the body, its version (when it has one) in a header named by
///   [`version_header`](HttpSnapshot::version_header).
///
/// The body is read as a stream and refused with
/// [`Error::TooLarge`](crate::Error::TooLarge) as soon as it passes
/// [`Limits::max_snapshot_bytes`], without being held whole; its nesting is
/// checked against [`Limits::max_depth`] before it is parsed.
///
/// # Errors
///
/// [`snapshot`](SnapshotSource::snapshot) fails with an [`HttpError`] that
/// names the URL:
///
/// - `401 Unauthorized` and `403 Forbidden` are wrapped in [`Permanent`]:
///   retrying cannot help, and a resilient
///   [`LiveResource`](crate::LiveResource) gives up;
/// - so is a server certificate the client refuses (not trusted, not valid
///   for the server's name, expired): [`HttpError::is_certificate`], its
///   cause a [`CertificateError`](crate::client::CertificateError);
/// - a `404` of a [`live`](HttpSnapshot::live) topic says that the topic does
///   not exist: the error's [`source`](std::error::Error::source) is
///   [`Error::UnknownTopic`](crate::Error::UnknownTopic), and a resilient
///   resource retries it or ends, as its [`UnknownTopic`](crate::UnknownTopic)
///   setting says;
/// - other error statuses (`5xx`, a `404` of a [`rest`](HttpSnapshot::rest)
///   URL), failures to connect, time-outs and refused bodies are ordinary
///   errors, which a resilient resource retries;
/// - an invalid URL or header, given when the source was built, fails every
///   request with a [`Permanent`] error.
///
/// # Examples
///
/// The crate's own server, with a bearer token:
///
/// ```no_run
/// use futures::StreamExt;
/// use live_resource::LiveResource;
/// use live_resource::client::http::HttpSnapshot;
/// use live_resource::source::SnapshotSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), live_resource::BoxError> {
/// let quotes = HttpSnapshot::live("https://example.com", "quotes")
///     .header("authorization", "Bearer 8f2c1e");
/// let snapshot = quotes.snapshot().await?;
/// println!("version {:?}: {}", snapshot.version, snapshot.data);
/// # Ok(())
/// # }
/// ```
///
/// Any REST endpoint that puts the version in its `ETag`:
///
/// ```no_run
/// use live_resource::Limits;
/// use live_resource::client::http::HttpSnapshot;
/// use live_resource::source::SnapshotSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), live_resource::BoxError> {
/// let board = HttpSnapshot::rest("https://api.example.com/v2/board")
///     .version_header("etag")
///     .limits(Limits::default().max_snapshot_bytes(8 << 20));
/// let snapshot = board.snapshot().await?;
/// # Ok(())
/// # }
/// ```
///
/// Mistakes in the configuration are reported by the first request, as a
/// [`Permanent`] error:
///
/// ```
/// use live_resource::client::http::HttpSnapshot;
/// use live_resource::source::{Permanent, SnapshotSource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = HttpSnapshot::live("localhost:3000", "quotes"); // no scheme
/// let error = source.snapshot().await.unwrap_err();
/// assert!(Permanent::is_permanent(&*error));
/// assert!(error.to_string().starts_with("invalid URL `localhost:3000`"), "{error}");
/// # }
/// ```
#[derive(Clone)]
pub struct HttpSnapshot {
    url: Result<Url, String>,
    format: Format,
    pub(super) http: Http,
}

/// What the body of a snapshot response is.
#[derive(Clone, Debug)]
enum Format {
    /// The wire form `{"version":17,"data":..}`.
    Live,
    /// The resource itself; its version in this header, if any.
    Rest { version_header: Option<HeaderName> },
}

impl HttpSnapshot {
    /// The snapshot of `topic` from the crate's own server at `base_url`:
    /// `GET {base_url}/live/{topic}`.
    ///
    /// `base_url` may carry a path (`https://example.com/api`); each
    /// `/`-separated part of `topic` is one path segment, percent-encoded.
    pub fn live(base_url: &str, topic: &str) -> Self {
        let mut live = Self::with(topic_url(base_url, topic, None), Format::Live);
        live.http.topic = Some(topic.to_owned());
        live
    }

    /// The snapshot at any REST endpoint that answers with the resource
    /// itself as the JSON body.
    ///
    /// The snapshot is unversioned unless a
    /// [`version_header`](HttpSnapshot::version_header) is named.
    pub fn rest(url: &str) -> Self {
        Self::with(
            parse_url(url),
            Format::Rest {
                version_header: None,
            },
        )
    }

    fn with(url: Result<Url, String>, format: Format) -> Self {
        Self {
            url,
            format,
            http: Http::default(),
        }
    }

    /// Names the response header that carries the version of a
    /// [`rest`](HttpSnapshot::rest) snapshot, as a decimal `u64`
    /// (`x-resource-version: 17`). For `etag`, a quoted tag (`"17"`, or the
    /// weak `W/"17"`) is accepted too.
    ///
    /// A response without the header, or with a value that is not a
    /// version, fails with an (ordinary) [`HttpError`]. A
    /// [`live`](HttpSnapshot::live) snapshot carries its version in its body,
    /// and this setting does not apply to it.
    pub fn version_header<K>(mut self, name: K) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
    {
        match name.try_into() {
            Ok(name) => {
                if let Format::Rest { version_header } = &mut self.format {
                    *version_header = Some(name);
                }
            }
            Err(error) => self
                .http
                .misconfigured(format!("the version header name is invalid: {error}")),
        }
        self
    }

    /// Sends requests with this client instead of a new one of its own, to
    /// share its connection pool and settings: give one client to every
    /// source of the same server.
    ///
    /// A time-out set on the client applies to every request made with it;
    /// give an [`SseSource`](crate::client::sse::SseSource) a client without
    /// one, or its event streams are cut when it runs out.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http.client = client;
        self
    }

    /// Sets the TLS settings of `https://` requests (default
    /// [`Tls::new`](crate::client::Tls::new), reqwest's own): sources given
    /// one [`Tls`](crate::client::Tls) share one HTTP client. It replaces a
    /// client given with [`client`](HttpSnapshot::client), whose TLS
    /// settings are its own; the last of the two calls counts.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use live_resource::client::Tls;
    /// use live_resource::client::http::HttpSnapshot;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let tls = Tls::new().add_root_certificate(std::fs::read("company-ca.pem")?)?;
    /// let quotes = HttpSnapshot::live("https://live.internal:8443", "quotes").tls(tls);
    /// # let _ = quotes;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(mut self, tls: crate::client::Tls) -> Self {
        match tls.http_client() {
            Ok(client) => self.http.client = client,
            Err(error) => self.http.misconfigured(error),
        }
        self
    }

    /// Adds a header to every request: credentials, a cookie.
    ///
    /// An invalid name or value fails every request with a [`Permanent`]
    /// error that says which. The values are never shown by `Debug`.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        self.http.header(name, value);
        self
    }

    /// Sets the bounds the body is checked against (default
    /// [`Limits::default`]): its size, [`Limits::max_snapshot_bytes`], and
    /// its nesting, [`Limits::max_depth`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.http.limits = limits;
        self
    }

    /// Sets how long one request may take, from connecting to the last byte
    /// of the body (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// The URL requested, or why it is invalid.
    pub(super) fn url(&self) -> Result<&Url, BoxError> {
        self.url
            .as_ref()
            .map_err(|error| Permanent::new(error.clone()).into())
    }
}

#[async_trait]
impl SnapshotSource for HttpSnapshot {
    /// GETs the snapshot.
    ///
    /// # Errors
    ///
    /// An [`HttpError`], wrapped in [`Permanent`] for `401` and `403`; see
    /// [`HttpSnapshot`].
    async fn snapshot(&self) -> Result<Snapshot, BoxError> {
        self.fetch(|body, limits, version| body.finish(limits, version))
            .await
    }

    /// GETs the snapshot and hands it over as text, its size and depth
    /// checked and its version read, for a resource to read a page a poll;
    /// the request is made, and the body read and checked, on a Tokio task
    /// of its own, aborted if this future is dropped. A state that is not
    /// an object is read whole, in one poll, as
    /// [`snapshot`](SnapshotSource::snapshot) reads it; a REST body is the
    /// state alone, with the version its header gives.
    ///
    /// # Errors
    ///
    /// As [`snapshot`](SnapshotSource::snapshot), but for what is wrong
    /// inside the state: that is found as the resource reads it, and
    /// refuses the whole snapshot as the resource's own error (say
    /// [`Error::Malformed`](crate::Error::Malformed), which does not name
    /// the URL), retried as any failed snapshot is.
    async fn snapshot_paged(&self) -> Result<Fetched, BoxError> {
        // Fetched and checked on a task of its own, as the WebSocket client
        // reads a snapshot on its connection's task: the checks of a 20 MB
        // body (its depth, its UTF-8) and its copy would hold the
        // consumer's task for some 13 ms.
        let this = self.clone();
        let mut task = OwnTask(tokio::spawn(async move {
            this.fetch(|body, limits, version| body.finish_text(limits, version))
                .await
        }));
        match (&mut task.0).await {
            Ok(fetched) => fetched,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down.
            Err(error) => Err(error.into()),
        }
    }
}

/// A task aborted when it is dropped: a fetch whose consumer went away
/// stops with it.
struct OwnTask<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for OwnTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HttpSnapshot {
    /// GETs the snapshot's body, whole, and reads it with `read`, given
    /// the limits and the version a REST endpoint gives in its header.
    async fn fetch<T>(
        &self,
        read: impl FnOnce(Body<'_>, &Limits, Option<u64>) -> Result<T, crate::Error>,
    ) -> Result<T, BoxError> {
        let (body, version) = self.body().await?;
        let url = self.url()?;
        Ok(read(body, &self.http.limits, version).map_err(|error| HttpError::body(url, error))?)
    }

    /// GETs the snapshot's body, whole, and the version a REST endpoint
    /// gives in its header.
    async fn body(&self) -> Result<(Body<'_>, Option<u64>), BoxError> {
        let url = self.url()?;
        let request = self
            .http
            .get(url)?
            .header(header::ACCEPT, "application/json")
            .timeout(self.http.timeout);
        let mut response = self.http.send(request, url).await?;
        let refused = |error| HttpError::body(url, error);
        let version = match &self.format {
            Format::Rest {
                version_header: Some(name),
            } => Some(header_version(url, &response, name)?),
            _ => None,
        };
        let mut body = Body::new(&self.format, &self.http.limits, response.content_length());
        body.check_length().map_err(refused)?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| HttpError::request(url, error))?
        {
            body.push(&chunk).map_err(refused)?;
        }
        Ok((body, version))
    }
}

impl fmt::Debug for HttpSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("HttpSnapshot");
        match &self.url {
            Ok(url) => debug.field("url", &url.as_str()),
            Err(error) => debug.field("url", error),
        };
        debug
            .field("format", &self.format)
            .field("http", &self.http)
            .finish()
    }
}

/// What every request of a client shares: the client, the headers added to
/// each request, the limits and the time-out.
#[derive(Clone)]
pub(super) struct Http {
    client: reqwest::Client,
    headers: HeaderMap,
    /// The first mistake in the configuration, reported by every request.
    misconfigured: Option<String>,
    /// The topic of the crate's server that the requests are about: a `404`
    /// then says that it does not exist.
    topic: Option<String>,
    pub(super) limits: Limits,
    pub(super) timeout: Duration,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            client: reqwest::Client::new(),
            headers: HeaderMap::new(),
            misconfigured: None,
            topic: None,
            limits: Limits::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Http {
    fn misconfigured(&mut self, error: String) {
        self.misconfigured.get_or_insert(error);
    }

    pub(super) fn header<K, V>(&mut self, name: K, value: V)
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        let name = match name.try_into() {
            Ok(name) => name,
            Err(error) => return self.misconfigured(format!("a header name is invalid: {error}")),
        };
        match value.try_into() {
            Ok(value) => {
                self.headers.append(name, value);
            }
            Err(error) => self.misconfigured(format!("invalid value for header `{name}`: {error}")),
        }
    }

    /// A GET of `url`, to add headers to and [`send`](Http::send).
    ///
    /// # Errors
    ///
    /// A [`Permanent`] error when the configuration has a mistake.
    pub(super) fn get(&self, url: &Url) -> Result<RequestBuilder, BoxError> {
        if let Some(error) = &self.misconfigured {
            return Err(Permanent::new(error.clone()).into());
        }
        Ok(self.client.get(url.clone()))
    }

    /// Sends `request` with the configured headers, which come last so that
    /// they may replace the ones set before, and returns the response if its
    /// status is a success.
    ///
    /// # Errors
    ///
    /// An [`HttpError`]: the request failed, or the status is an error, then
    /// with the server's `{"error":..}` text; wrapped in [`Permanent`] for
    /// `401` and `403`, and for a server certificate refused.
    pub(super) async fn send(
        &self,
        request: RequestBuilder,
        url: &Url,
    ) -> Result<Response, BoxError> {
        let response = request
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(|error| {
                let error = HttpError::request(url, error);
                match error.is_certificate() {
                    true => BoxError::from(Permanent::new(error)),
                    false => error.into(),
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = error_text(response).await;
        let error = HttpError::refused_with(url, status, message, self.topic.as_deref());
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(Permanent::new(error).into());
        }
        Err(error.into())
    }
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are credentials, often: only their names are shown.
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("Http")
            .field("headers", &names)
            .field("misconfigured", &self.misconfigured)
            .field("limits", &self.limits)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `{base}/live/{topic}`, then `/{suffix}` if given.
pub(super) fn topic_url(base: &str, topic: &str, suffix: Option<&str>) -> Result<Url, String> {
    let mut url = parse_url(base)?;
    url.path_segments_mut()
        .map_err(|()| format!("invalid URL `{base}`: it cannot have a path"))?
        .pop_if_empty()
        .push("live")
        .extend(topic.split('/'))
        .extend(suffix);
    Ok(url)
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("invalid URL `{text}`: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid URL `{text}`: the scheme must be http or https"
        ));
    }
    Ok(url)
}

/// The version in the header `name` of a REST response.
fn header_version(url: &Url, response: &Response, name: &HeaderName) -> Result<u64, HttpError> {
    let value = response.headers().get(name);
    let version = value
        .and_then(|value| value.to_str().ok())
        .and_then(|text| parse_version(name, text));
    version.ok_or_else(|| {
        let value = value.map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        HttpError::version(url, name, value)
    })
}

/// `17`; for an `etag`, `"17"` and `W/"17"` too.
fn parse_version(name: &HeaderName, text: &str) -> Option<u64> {
    let mut text = text.trim();
    if *name == header::ETAG {
        text = text.strip_prefix("W/").unwrap_or(text);
        if let Some(tag) = text.strip_prefix('"').and_then(|tag| tag.strip_suffix('"')) {
            text = tag;
        }
    }
    text.parse().ok()
}

/// The `{"error":..}` text of an error response, if it has one within
/// [`ERROR_BODY_BYTES`].
async fn error_text(mut response: Response) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > ERROR_BODY_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|body| body.error)
}

/// The fuzz targets' way in (feature `__fuzz`, not part of the API): the
/// snapshot a response whose body comes in `chunks` gives, read as
/// [`HttpSnapshot`] reads it: in the wire form, or with `rest` as a REST
/// body whose version header (an `ETag`) is `version`. Errors as text.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_for_fuzzing(
    chunks: &[&[u8]],
    length: Option<u64>,
    rest: bool,
    version: Option<&str>,
    limits: &Limits,
) -> Result<Snapshot, String> {
    let format = match rest {
        false => Format::Live,
        true => Format::Rest {
            version_header: version.map(|_| header::ETAG),
        },
    };
    let version = match (rest, version) {
        (true, Some(text)) => {
            Some(parse_version(&header::ETAG, text).ok_or("no version in the header")?)
        }
        _ => None,
    };
    let mut body = Body::new(&format, limits, length);
    body.check_length().map_err(|error| error.to_string())?;
    for chunk in chunks {
        body.push(chunk).map_err(|error| error.to_string())?;
    }
    body.finish(limits, version)
        .map_err(|error| error.to_string())
}
