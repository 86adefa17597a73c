//! The web panels and the guest widget: static files from `web/`, embedded in the binary at
//! build time (`rust-embed`; debug builds read the folder from disk, so edits show on
//! reload), served with their content types and security headers.
//!
//! - `/login`, `/admin`, `/worker`, `/chat` (also `/user`), `/guest`: pages of this origin,
//!   framable by it and by the configured `embed_origins` (`frame-ancestors 'self' <origins>`;
//!   `X-Frame-Options: SAMEORIGIN` too when there are none);
//! - `/widget`: the chat page that `widget.js` puts in an iframe: framable by exactly the
//!   `embed_origins` (and 'self'), or by any site while none are configured (a fresh
//!   install's guest widget, `frame-ancestors *`);
//! - `/widget.js`: the loader that other sites include with a `<script>` tag;
//! - `/assets/*`: CSS, JavaScript modules and icons;
//! - `/`: a redirect to the signed-in account's panel, or to `/login`.
//!
//! Every page forbids inline script (`script-src 'self'`); user text is only ever put in
//! the page as text by the scripts.

use crate::auth::{GUEST_COOKIE, SESSION_COOKIE};
use crate::state::AppState;
use crate::web_assets;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use chat_core::Role;

/// Who may put a page in a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    /// This origin and the configured embed origins (the panels).
    SameOrigin,
    /// The configured embed origins, or any site while none are configured (the widget).
    Embeddable,
}

/// The `frame-ancestors` sources of a page, given the configured embed origins.
pub fn frame_ancestors(framing: Framing, embed_origins: &[String]) -> String {
    if framing == Framing::Embeddable && embed_origins.is_empty() {
        return "*".to_owned();
    }
    let mut out = vec!["'self'".to_owned()];
    // Only well-formed origins reach the header: a `;` or space would change the policy.
    out.extend(
        embed_origins
            .iter()
            .filter(|o| {
                (o.starts_with("https://") || o.starts_with("http://"))
                    && !o.chars().any(|c| c.is_whitespace() || c == ';' || c == ',')
            })
            .cloned(),
    );
    out.join(" ")
}

/// The Content-Security-Policy of a page.
pub fn csp(framing: Framing, embed_origins: &[String]) -> String {
    let ancestors = frame_ancestors(framing, embed_origins);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// The pages: path, file in `web/`, who may frame it.
const PAGES: [(&str, &str, Framing); 7] = [
    ("/login", "login.html", Framing::SameOrigin),
    ("/admin", "admin.html", Framing::SameOrigin),
    ("/worker", "worker.html", Framing::SameOrigin),
    ("/chat", "chat.html", Framing::SameOrigin),
    ("/user", "chat.html", Framing::SameOrigin),
    ("/guest", "guest.html", Framing::SameOrigin),
    ("/widget", "widget.html", Framing::Embeddable),
];

/// The routes of the pages and their files.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(root))
        .route("/widget.js", get(loader))
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/assets/icon.svg") }),
        )
        .route("/assets/{*path}", get(asset));
    for (path, file, framing) in PAGES {
        router = router.route(
            path,
            get(move |State(state): State<AppState>, h: HeaderMap| page(state, h, file, framing)),
        );
    }
    router
}

/// `/`: the panel of the signed-in account, the guest page for a guest, else sign-in.
async fn root(State(state): State<AppState>, jar: CookieJar) -> Redirect {
    if let Some(c) = jar.get(SESSION_COOKIE)
        && let Ok(who) = crate::auth::resolve_token(&state, c.value()).await
    {
        return Redirect::to(panel_of(who.role()));
    }
    if jar.get(GUEST_COOKIE).is_some() {
        return Redirect::to("/guest");
    }
    Redirect::to("/login")
}

/// The page each role works in.
pub fn panel_of(role: Role) -> &'static str {
    match role {
        Role::Admin => "/admin",
        Role::Worker => "/worker",
        Role::User => "/chat",
        Role::Guest => "/guest",
    }
}

/// How long a browser may keep a file without asking again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Caching {
    /// Ask every time (`no-cache`; a `304` when unchanged): pages, unversioned paths.
    Revalidate,
    /// A short while (the loader other sites include: updates reach them within minutes).
    Minutes(u32),
    /// A fingerprinted path: its content never changes.
    Immutable,
}

/// A file with its type, encoding and validator; `304` when the client's copy is current.
fn file_response(
    headers: &HeaderMap,
    path: &str,
    extra: &[(header::HeaderName, String)],
) -> Response {
    sized_response(headers, path, extra, Caching::Revalidate)
}

fn sized_response(
    headers: &HeaderMap,
    path: &str,
    extra: &[(header::HeaderName, String)],
    caching: Caching,
) -> Response {
    let Some(file) = web_assets::prepared(path) else {
        return crate::error::ApiError::NoRoute.into_response();
    };
    let (body, enc) = file.body(web_assets::negotiate(headers));
    let tag = match enc.header() {
        Some(e) => format!("\"{}-{e}\"", file.tag),
        None => format!("\"{}\"", file.tag),
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        });
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into_response();
        if let Ok(v) = HeaderValue::from_str(&file.content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        if let Some(e) = enc.header() {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if file.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    let cache = match caching {
        Caching::Revalidate => "no-cache".to_owned(),
        Caching::Minutes(m) => format!("public, max-age={}", u64::from(m) * 60),
        Caching::Immutable => "public, max-age=31536000, immutable".to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name.clone(), v);
        }
    }
    resp
}

async fn page(
    state: AppState,
    headers: HeaderMap,
    file: &'static str,
    framing: Framing,
) -> Response {
    let origins = state.settings.embed_origins();
    let mut extra = vec![
        (header::CONTENT_SECURITY_POLICY, csp(framing, &origins)),
        (
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin".to_owned(),
        ),
    ];
    if framing == Framing::SameOrigin && origins.is_empty() {
        extra.push((header::X_FRAME_OPTIONS, "SAMEORIGIN".to_owned()));
    }
    file_response(&headers, file, &extra)
}

/// `/widget.js`: loaded by `<script>` from any site (and by sites that isolate themselves
/// with COEP, hence `Cross-Origin-Resource-Policy`).
/// Cached for five minutes: each page view of the host site does not ask again, and a new
/// release reaches every site within minutes.
async fn loader(headers: HeaderMap) -> Response {
    sized_response(
        &headers,
        "widget.js",
        &[(
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "cross-origin".to_owned(),
        )],
        Caching::Minutes(5),
    )
}

/// `/assets/<version>/<file>` (immutable while the version is this build's) or
/// `/assets/<file>` (revalidated).
async fn asset(headers: HeaderMap, Path(path): Path<String>) -> Response {
    if path.contains("..") || path.starts_with('/') {
        return crate::error::ApiError::NoRoute.into_response();
    }
    if let Some((v, rest)) = path.split_once('/')
        && web_assets::is_version(v)
    {
        let caching = if v == web_assets::version() {
            Caching::Immutable
        } else {
            // An older (or newer) release's page: today's file, not kept.
            Caching::Revalidate
        };
        return sized_response(&headers, &format!("assets/{rest}"), &[], caching);
    }
    file_response(&headers, &format!("assets/{path}"), &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web_assets::Assets;

    #[test]
    fn panels_are_framed_only_by_themselves_and_the_widget_by_anyone() {
        assert!(csp(Framing::SameOrigin, &[]).ends_with("frame-ancestors 'self'"));
        assert!(csp(Framing::Embeddable, &[]).ends_with("frame-ancestors *"));
        for f in [Framing::SameOrigin, Framing::Embeddable] {
            let p = csp(f, &[]);
            assert!(p.contains("script-src 'self';"));
            assert!(!p.contains("unsafe-inline"));
        }
    }

    #[test]
    fn configured_origins_are_exactly_the_frame_ancestors() {
        let origins = vec!["https://shop.test".to_owned(), "http://a b;".to_owned()];
        for f in [Framing::SameOrigin, Framing::Embeddable] {
            assert!(csp(f, &origins).ends_with("frame-ancestors 'self' https://shop.test"));
        }
    }

    #[test]
    fn every_page_and_the_loader_are_embedded() {
        for f in [
            "login.html",
            "admin.html",
            "worker.html",
            "chat.html",
            "guest.html",
            "widget.html",
            "widget.js",
            "assets/app.css",
        ] {
            assert!(Assets::get(f).is_some(), "{f} missing from web/");
        }
    }
}
