//! The HTTP edge: `app(state) -> Router`, one file per resource, the OpenAPI document.
//! Handlers stay thin: parse, ask [`crate::service`] or the store, answer.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod canned;
pub mod chat;
pub mod embed;
pub mod hostapi;
pub mod prefs;
pub mod reports;
pub mod request_id;
pub mod webhooks;

use crate::error::{ApiError, Json};
use crate::state::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, SameSite};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest request body accepted (a 4000-character message fits many times over).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The client's address, for rate limits: the peer, or behind a trusted proxy the
/// address it forwards (see [`crate::clientip`]).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientIp(crate::clientip::client_ip(
            peer,
            forwarded,
            &state.limits.trusted_proxies,
        )))
    }
}

/// An HttpOnly, SameSite=Lax session cookie for the panels.
pub fn session_cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age_secs: u64,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookie_secure)
        .max_age(time::Duration::seconds(max_age_secs as i64))
        .build()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Nati Chat", description = "Real-time support chat for Nati Automotive: customers, guests, admins and workers."),
    modifiers(&Security),
    tags((name = "chat", description = "The seed's chat endpoints and the panels' companions"),
        (name = "auth", description = "Sign-in and the current account"),
        (name = "admin", description = "Account management, the email outbox and the webhook delivery log (admins)"),
        (name = "preferences", description = "Notification preferences"),
        (name = "canned replies", description = "Replies kept for reuse, typed as /shortcut in the staff panels: the team's (admins keep them) and each staff member's own"),
        (name = "realtime", description = "The WebSocket stream (see docs/realtime.md)"),
        (name = "host", description = "Server-to-server API for the host site's back end (API key, `Authorization: Bearer nk_...`; docs/integration.md)"),
        (name = "embed", description = "Embedding the panels and the widget in the host site's pages"),
        (name = "health", description = "Liveness"))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("nk_ API key")
                    .description(Some(
                        "A server-to-server API key (`nk_...`) made by an admin or `nati-chat api-key create`, with scopes unread:read, chats:read, accounts:write",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("nati_session"))),
        );
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// GET /healthz — liveness.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Whether this installation still needs its first admin.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Setup {
    /// True only while no admin account exists (a fresh install): the login page then says
    /// how to create one. False from the first admin on.
    pub needs_admin: bool,
}

/// The command that creates the first admin, as `serve` prints it and the login page shows it.
pub const FIRST_ADMIN_COMMAND: &str =
    "nati-chat account create --role admin --email you@example.com --name \"Your Name\"";

/// GET /api/setup — does this install still need its first admin? No credentials needed;
/// says nothing else.
#[utoipa::path(get, path = "/api/setup", tag = "health", responses((status = 200, body = Setup)))]
async fn setup(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> crate::error::ApiResult<Json<Setup>> {
    let admins = state
        .store
        .list_accounts(Some(chat_core::AccountRole::Admin))
        .await?;
    Ok(Json(Setup {
        needs_admin: admins.is_empty(),
    }))
}

/// GET /api/chat/presence — whether any staff member is online (for the guest widget,
/// before it opens a socket). No credentials needed.
#[utoipa::path(get, path = "/api/chat/presence", tag = "realtime",
    responses((status = 200, body = crate::realtime::hub::StaffPresence)))]
async fn presence(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<crate::realtime::hub::StaffPresence> {
    Json(state.hub.staff_presence())
}

/// The API routes and their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(setup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::host))
        .routes(routes!(chat::start))
        .routes(routes!(chat::send_message))
        .routes(routes!(chat::messages))
        .routes(routes!(chat::assign_worker))
        .routes(routes!(chat::list))
        .routes(routes!(chat::close))
        .routes(routes!(chat::unread_count))
        .routes(routes!(chat::escalate))
        .routes(routes!(chat::reopen))
        .routes(routes!(chat::rate))
        .routes(routes!(chat::queue))
        .routes(routes!(chat::take))
        .routes(routes!(chat::assign_to_me))
        .routes(routes!(chat::unassign))
        .routes(routes!(chat::details))
        .routes(routes!(chat::mark_read))
        .routes(routes!(chat::guest_resume))
        .routes(routes!(attachments::upload))
        .routes(routes!(attachments::download))
        .routes(routes!(attachments::thumb))
        .routes(routes!(admin::list, admin::create))
        .routes(routes!(admin::deactivate))
        .routes(routes!(admin::activate))
        .routes(routes!(admin::emails))
        .routes(routes!(admin::routing, admin::set_routing))
        .routes(routes!(reports::report))
        .routes(routes!(webhooks::endpoints))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::retry))
        .routes(routes!(prefs::get, prefs::put))
        .routes(routes!(canned::list, canned::create))
        .routes(routes!(canned::update))
        .routes(routes!(canned::delete))
        .routes(routes!(crate::realtime::ws::connect))
        .routes(routes!(crate::realtime::ws::ticket))
        .routes(routes!(presence))
        .routes(routes!(hostapi::list_keys, hostapi::create_key))
        .routes(routes!(hostapi::revoke_key))
        .routes(routes!(hostapi::unread))
        .routes(routes!(hostapi::chats))
        .routes(routes!(hostapi::upsert_account))
        .routes(routes!(hostapi::deactivate))
        .routes(routes!(hostapi::activate))
        .routes(routes!(embed::config))
        .split_for_parts()
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api();
    let doc_json = doc.to_json().unwrap_or_else(|_| "{}".to_owned());
    api.route(
        "/api/openapi.json",
        get(move || {
            let body = doc_json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    )
    .route("/metrics", get(crate::metrics::page))
    .merge(crate::web::routes())
    .fallback(|| async { ApiError::NoRoute })
    .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
    .layer(axum::middleware::from_fn(crate::metrics::track))
    .layer(axum::middleware::from_fn(request_id::layer))
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
    .with_state(state)
}
