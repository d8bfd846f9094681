//! `GET /live`: what the server holds and how busy it is.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;

use super::AppState;

/// The topics this request may read (the [`Authorize`](super::Authorize) hook
/// decides, as for their snapshots); the hub's totals and the server's
/// counters only where [`Config::show_totals`](super::Config::show_totals)
/// says so, as they are about every client.
pub(super) async fn list(State(state): State<AppState>, request: Parts) -> Json<serde_json::Value> {
    let mut topics = state.hub.topics();
    let mut readable = Vec::with_capacity(topics.len());
    for topic in topics.drain(..) {
        if state
            .config
            .authorizer()
            .authorize(&request, &topic.name)
            .await
            .is_ok()
        {
            readable.push(topic);
        }
    }
    if !state.config.totals_shown() {
        return Json(serde_json::json!({ "topics": readable }));
    }
    Json(serde_json::json!({
        "topics": readable,
        "hub": state.hub.stats(),
        "server": state.stats.snapshot(),
    }))
}
