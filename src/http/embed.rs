//! What an embedded panel or widget needs to know before it trusts a `postMessage`.

use crate::error::Json;
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct EmbedConfig {
    /// The host origins allowed to frame the chat and to hand it a token by `postMessage`
    /// (`embed_origins`). The frame accepts messages from exactly these origins.
    pub origins: Vec<String>,
    /// Whether anonymous visitors may chat (`guests_allowed`).
    pub guests_allowed: bool,
    /// Whether host sign-in is configured (`host_token_keys`).
    pub host_signin: bool,
}

/// GET /api/embed/config — the embedding policy (no credentials needed).
#[utoipa::path(get, path = "/api/embed/config", tag = "embed",
    responses((status = 200, body = EmbedConfig)))]
pub async fn config(State(state): State<AppState>) -> Json<EmbedConfig> {
    let s = &state.settings;
    Json(EmbedConfig {
        origins: s.embed_origins(),
        guests_allowed: s.guests_allowed,
        host_signin: !s.host_token_keys.is_empty(),
    })
}
