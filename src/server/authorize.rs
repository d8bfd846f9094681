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

/// A copy of `request` that owns its text, for a connection that keeps it to
/// ask the hook again at each subscription.
///
/// hyper's header values and URI are slices of the buffer it read the request
/// into, 8 KiB or more: a plain clone would keep that buffer alive for as long
/// as the connection lasts. Here the URI and the header values share one
/// allocation of their own size instead. Extensions are cloned as they are,
/// but for axum's [`OriginalUri`], which is a slice of that buffer too.
pub(super) fn detach(request: &Parts) -> Parts {
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
