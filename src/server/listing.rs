//! `GET /live`: what the server holds and how busy it is.

use axum::Json;
use axum::extract::State;

use super::AppState;

pub(super) async fn list(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "topics": state.hub.topics(),
        "hub": state.hub.stats(),
        "server": state.stats.snapshot(),
    }))
}
