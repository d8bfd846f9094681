//! `GET /live/{topic}`: the snapshot, with an ETag.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, check_access, error};
use crate::metrics::{self, Kind, Transport};
use crate::protocol::ErrorCode;

pub(super) async fn snapshot(
    State(state): State<AppState>,
    topic: String,
    request: Parts,
) -> Response {
    let _answering = metrics::open(Kind::Connection, Transport::Http);
    if let Err(response) = check_access(&state, &request, &topic, Transport::Http).await {
        return response;
    }
    let Some(version) = state.hub.version(&topic) else {
        metrics::refused(Transport::Http, ErrorCode::UnknownTopic);
        return error(StatusCode::NOT_FOUND, format!("unknown topic `{topic}`"));
    };
    let etag = |version: u64| {
        HeaderValue::from_str(&format!("\"{version}\""))
            .expect("digits and quotes are a valid header")
    };
    if matches_etag(&request, version) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag(version))]).into_response();
    }
    // The hub serializes a version once for every reader of it; the body
    // wraps that text, taken with its version, so the two agree.
    let Some(snapshot) = state.hub.snapshot_text(&topic) else {
        metrics::refused(Transport::Http, ErrorCode::UnknownTopic);
        return error(StatusCode::NOT_FOUND, format!("unknown topic `{topic}`"));
    };
    let version = snapshot.version.expect("a hub numbers its states");
    let body = crate::protocol::reply::snapshot_body(&snapshot);
    metrics::sent(Transport::Http, body.len());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag(version)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// Whether `If-None-Match` names the current version (or is `*`).
fn matches_etag(request: &Parts, version: u64) -> bool {
    let Some(value) = request
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let current = format!("\"{version}\"");
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag.strip_prefix("W/") == Some(current.as_str()))
}
