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
/// ```
/// use async_trait::async_trait;
/// use axum::http::request::Parts;
/// use live_resource::server::{Authorize, Denied};
///
/// struct SessionCookie;
///
/// #[async_trait]
/// impl Authorize for SessionCookie {
///     async fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Denied> {
///         let cookies = request.headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
///         match topic.strip_prefix("users/") {
///             None => Ok(()),
///             Some(rest) if cookies.contains(&format!("user={}", rest.split('/').next().unwrap_or(""))) => Ok(()),
///             Some(_) => Err(Denied::new("this topic belongs to another user")),
///         }
///     }
/// }
/// ```
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
