//! Who may read which topic.

use std::fmt;

use async_trait::async_trait;
use axum::extract::OriginalUri;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request, Uri};
use bytes::{BufMut, Bytes, BytesMut};

/// Decides whether a request may read a topic: its snapshot, its SSE stream,
/// or a WebSocket subscription (then `request` is the upgrade request).
///
/// Implemented for every `Fn(&Parts, &str) -> bool`; implement it by hand for
/// checks that await (a session store, a database).
///
/// Browsers cannot set headers on a WebSocket, but send their cookies, and
/// the URL: a page may pass a token as `wss://host/live/ws?token=..`, which
/// the hook reads from `request.uri`. A Socket.IO client's `auth` payload
/// (`io(url, { auth: { token } })`) is in `request.extensions` as a
/// `live_resource::socketio::Auth`.
///
/// # Examples
///
/// Private topics `users/{id}/..` for the user whose session the request's
/// cookie names. The cookie is only a key: the user comes from the server's
/// own session store, never from what the client wrote, and the topic's
/// owner is compared whole (`users/7` is not `users/77`).
///
/// ```
/// use std::collections::HashMap;
/// use async_trait::async_trait;
/// use axum::http::request::Parts;
/// use live_resource::server::{Authorize, Denied};
///
/// struct Sessions(HashMap<String, String>); // session id -> user id
///
/// impl Sessions {
///     fn user(&self, request: &Parts) -> Option<&str> {
///         let cookies = request.headers.get("cookie")?.to_str().ok()?;
///         let session = cookies
///             .split(';')
///             .find_map(|cookie| cookie.trim().strip_prefix("session="))?;
///         self.0.get(session).map(String::as_str)
///     }
/// }
///
/// #[async_trait]
/// impl Authorize for Sessions {
///     async fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Denied> {
///         let Some(rest) = topic.strip_prefix("users/") else {
///             return Ok(()); // public topics
///         };
///         let owner = rest.split('/').next();
///         match self.user(request) {
///             Some(user) if Some(user) == owner => Ok(()),
///             Some(_) => Err(Denied::new("this topic belongs to another user")),
///             None => Err(Denied::new("sign in to follow this topic")),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sessions = Sessions(HashMap::from([("k3y".to_owned(), "7".to_owned())]));
/// let request = |cookie: &str| {
///     let request = axum::http::Request::builder().header("cookie", cookie).body(()).unwrap();
///     request.into_parts().0
/// };
/// assert!(sessions.authorize(&request("session=k3y"), "users/7/orders").await.is_ok());
/// assert!(sessions.authorize(&request("session=k3y"), "users/77/orders").await.is_err());
/// assert!(sessions.authorize(&request("user=7"), "users/7/orders").await.is_err());
/// assert!(sessions.authorize(&request(""), "quotes").await.is_ok());
/// # }
/// ```
///
/// A cookie is sent by the browser on its own: with cookie authorization,
/// keep [`Config::allowed_origins`](super::Config::allowed_origins) to the
/// origins of your own front ends, so that pages of other sites cannot open
/// live connections in your users' names.
#[async_trait]
pub trait Authorize: Send + Sync + 'static {
    /// `Ok` to allow, `Err` to deny with a reason the client is shown.
    async fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Denied>;
}

#[async_trait]
impl<F> Authorize for F
where
    F: Fn(&Parts, &str) -> bool + Send + Sync + 'static,
{
    async fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Denied> {
        if self(request, topic) {
            Ok(())
        } else {
            Err(Denied::new("access to this topic is denied"))
        }
    }
}

/// The common rule, ready-made: topics under `{prefix}{owner}/..` (such as
/// `users/7/orders`) belong to the user `owner`, and only a request whose
/// user is `owner` may read them; every other topic is public.
///
/// Who the request's user is, `identify` says: from a session the server
/// keeps, a token it verifies, or a header a trusted proxy in front of it
/// sets (and strips from what clients send). It is never taken from the
/// request unchecked. The owner is compared whole: `users/7` is not
/// `users/77`.
///
/// # Examples
///
/// ```
/// use live_resource::server::{Authorize, Config, OwnedTopics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Behind a gateway that authenticates each request and passes the user on.
/// let rule = OwnedTopics::new("users/", |request| {
///     request.headers.get("x-authenticated-user")?.to_str().ok().map(str::to_owned)
/// });
/// let request = |user: &str| {
///     let request = axum::http::Request::builder().header("x-authenticated-user", user);
///     request.body(()).unwrap().into_parts().0
/// };
/// assert!(rule.authorize(&request("7"), "users/7/orders").await.is_ok());
/// assert!(rule.authorize(&request("77"), "users/7/orders").await.is_err());
/// assert!(rule.authorize(&request("7"), "users/77").await.is_err());
/// assert!(rule.authorize(&request("7"), "quotes").await.is_ok());
/// let config = Config::default().authorize(rule);
/// # let _ = config;
/// # }
/// ```
pub struct OwnedTopics {
    prefix: String,
    identify: Box<Identify>,
}

/// Who a request's user is.
type Identify = dyn Fn(&Parts) -> Option<String> + Send + Sync;

impl OwnedTopics {
    /// Topics under `prefix` (such as `users/`) are owned by the user their
    /// next segment names; `identify` gives a request's user, or `None` when
    /// it has none.
    pub fn new<F>(prefix: impl Into<String>, identify: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        Self {
            prefix: prefix.into(),
            identify: Box::new(identify),
        }
    }
}

#[async_trait]
impl Authorize for OwnedTopics {
    async fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Denied> {
        let Some(rest) = topic.strip_prefix(&self.prefix) else {
            return Ok(());
        };
        let owner = rest.split('/').next().unwrap_or_default();
        match (self.identify)(request) {
            Some(user) if !owner.is_empty() && user == owner => Ok(()),
            Some(_) => Err(Denied::new("this topic belongs to another user")),
            None => Err(Denied::new("sign in to follow this topic")),
        }
    }
}

impl fmt::Debug for OwnedTopics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTopics")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A copy of `request` that owns its text, for a connection that keeps it to
/// ask the hook again at each subscription.
///
/// hyper's header values and URI are slices of the buffer it read the request
/// into, 8 KiB or more: a plain clone would keep that buffer alive for as long
/// as the connection lasts. Here the URI and the header values share one
/// allocation of their own size instead. Extensions are cloned as they are,
/// but for axum's [`OriginalUri`], which is a slice of that buffer too.
pub(crate) fn detach(request: &Parts) -> Parts {
    let uri = request.uri.to_string();
    let original = request
        .extensions
        .get::<OriginalUri>()
        .map(|OriginalUri(original)| original.to_string())
        .filter(|original| *original != uri);
    let values: usize = request.headers.values().map(HeaderValue::len).sum();
    let mut text =
        BytesMut::with_capacity(uri.len() + original.as_ref().map_or(0, String::len) + values);
    text.put_slice(uri.as_bytes());
    text.put_slice(original.as_deref().unwrap_or_default().as_bytes());
    for value in request.headers.values() {
        text.put_slice(value.as_bytes());
    }
    let mut text = text.freeze();

    let (mut detached, ()) = Request::new(()).into_parts();
    detached.method = request.method.clone();
    detached.version = request.version;
    detached.uri = own_uri(text.split_to(uri.len()), &request.uri);
    detached.extensions = request.extensions.clone();
    if let Some(OriginalUri(kept)) = detached.extensions.get_mut::<OriginalUri>() {
        *kept = match &original {
            Some(original) => own_uri(text.split_to(original.len()), kept),
            None => detached.uri.clone(),
        };
    }
    detached.headers = HeaderMap::with_capacity(request.headers.len());
    for (name, value) in &request.headers {
        let copy = match HeaderValue::from_maybe_shared(text.split_to(value.len())) {
            Ok(mut copy) => {
                copy.set_sensitive(value.is_sensitive());
                copy
            }
            Err(_) => value.clone(),
        };
        detached.headers.append(name, copy);
    }
    detached
}

/// `copy`, the text of `uri`, as a URI; `uri` itself should it not parse back.
fn own_uri(copy: Bytes, uri: &Uri) -> Uri {
    Uri::from_maybe_shared(copy).unwrap_or_else(|_| uri.clone())
}

/// A refusal by an [`Authorize`] hook, with the reason shown to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(String);

impl Denied {
    /// A refusal with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}
