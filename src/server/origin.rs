//! Which web pages may open a live connection: the `Origin` check that a
//! WebSocket upgrade and a Socket.IO connection must pass.
//!
//! CORS does not apply to WebSockets: a browser opens `/live/ws` from any
//! page, with the user's cookies, and lets the page read every message.
//! Without this check a page on any site could follow the user's private
//! topics (cross-site WebSocket hijacking). Requests without an `Origin`
//! come from programs, not pages, and carry no ambient credentials of a
//! browser's: they pass, and the [`Authorize`](super::Authorize) hook
//! decides for them as for everyone.

use std::fmt;

use axum::http::{HeaderMap, header};

/// The origins whose pages may connect.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Origins {
    /// The server's own origin (the request's `Host`), and these.
    Listed(Vec<String>),
    /// Every origin: for servers whose authorization takes no ambient
    /// credentials (a token in the `auth` payload, never a cookie).
    Any,
}

impl Default for Origins {
    fn default() -> Self {
        Self::Listed(Vec::new())
    }
}

impl Origins {
    /// Whether a request with `headers` may connect; `Err` says why not.
    pub(super) fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let Self::Listed(listed) = self else {
            return Ok(());
        };
        let Ok(origin) = origin.to_str() else {
            return Err("the `Origin` header is not text".to_owned());
        };
        if listed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok());
        if host.is_some_and(|host| same_host(origin, host)) {
            return Ok(());
        }
        Err(format!(
            "pages from origin `{origin}` may not connect here (see `Config::allowed_origins`)"
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (the `Host`
/// header, `host[:port]`): the page was served by this server. `null` (a
/// sandboxed page, a file) names no host.
fn same_host(origin: &str, host: &str) -> bool {
    let Some((_scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    authority.eq_ignore_ascii_case(host)
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listed(listed) => f.debug_tuple("SameOriginAnd").field(listed).finish(),
            Self::Any => f.write_str("Any"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn the_servers_own_pages_and_programs_connect_by_default() {
        let origins = Origins::default();
        let host = "live.example:8080";
        assert!(origins.check(&headers(None, host)).is_ok());
        assert!(
            origins
                .check(&headers(Some("https://live.example:8080"), host))
                .is_ok()
        );
        assert!(
            origins
                .check(&headers(Some("http://LIVE.example:8080"), host))
                .is_ok()
        );
        for foreign in [
            "http://evil.example",
            "https://live.example",
            "https://live.example:8080.evil.example",
            "null",
            "live.example:8080",
        ] {
            let refused = origins.check(&headers(Some(foreign), host));
            assert!(refused.is_err(), "{foreign}");
        }
    }

    #[test]
    fn listed_origins_connect_and_any_lets_every_page_in() {
        let origins = Origins::Listed(vec!["https://app.example".to_owned()]);
        let host = "live.example";
        assert!(
            origins
                .check(&headers(Some("https://app.example"), host))
                .is_ok()
        );
        assert!(
            origins
                .check(&headers(Some("https://app.example.evil"), host))
                .is_err()
        );
        assert!(
            origins
                .check(&headers(Some("http://app.example"), host))
                .is_err()
        );
        assert!(
            Origins::Any
                .check(&headers(Some("http://evil.example"), host))
                .is_ok()
        );
    }
}
