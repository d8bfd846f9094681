//! Who may read which topic.

use std::fmt;

use async_trait::async_trait;
use axum::http::request::Parts;

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
