//! Sessions against the real server: sign-in and sign-out, who am I, rate limits, the
//! session cookie and its same-origin rule, guest tokens, preferences, and the service
//! endpoints (OpenAPI, health, unknown paths and methods).

use crate::support::*;
use chat_core::AccountRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn login_reply(s: &TestServer, body: Value) -> Reply {
    send_full(
        s.anon()
            .request(Method::POST, "/api/auth/login")
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn sign_in_failures_all_look_the_same() {
    let d = Desk::new().await;
    let mut bodies = Vec::new();
    for body in [
        json!({"email": "u1@t.test", "password": "wrong password"}),
        json!({"email": "nobody@t.test", "password": PASSWORD}),
        json!({"email": "not an email", "password": PASSWORD}),
        json!({"email": "u1@t.test", "password": PASSWORD, "role": "admin"}),
        json!({"email": "u1@t.test", "password": ""}),
    ] {
        let r = login_reply(&d.server, body.clone()).await;
        assert_error(&r.pair(), StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert!(r.header_all("set-cookie").is_empty(), "{body}: no cookie");
        bodies.push(without_request_id(&r.body));
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for every failure: {bodies:?}"
    );
    // Email is matched case-insensitively, and `role` picks the account.
    let r = login_reply(
        &d.server,
        json!({"email": " U1@T.Test ", "password": PASSWORD, "role": "user"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["account"]["id"], d.u1_id);
    assert!(
        r.body["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ns_"))
    );
}

#[tokio::test]
async fn sign_out_ends_that_session_only() {
    let d = Desk::new().await;
    let second = d.server.login("u1@t.test").await;
    let r = send_full(d.u1.request(Method::POST, "/api/auth/logout")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.raw);
    for got in [
        d.u1.get("/api/me").await,
        d.u1.get("/api/chat/list").await,
        d.u1.send_message(d.chat_u1, "after logout").await,
        d.u1.post("/api/auth/logout", json!({})).await,
    ] {
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let (st, me) = second.get("/api/me").await;
    assert_eq!(
        st,
        StatusCode::OK,
        "another session of the same account lives on"
    );
    assert_eq!(me["id"], d.u1_id);

    // A guest's sign-out ends its one session: its chat closes, its token is spent.
    let r = send_full(d.guest.request(Method::POST, "/api/auth/logout")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.raw);
    let got = d.guest.get("/api/me").await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "guest_expired");
    assert_eq!(d.status(d.chat_g).await, "closed");
}

#[tokio::test]
async fn me_for_every_role() {
    let d = Desk::new().await;
    let cases = [
        (
            &d.admin,
            "admin",
            d.admin_id,
            "Ada Admin",
            json!("admin@t.test"),
        ),
        (&d.w1, "worker", d.w1_id, "Walt", json!("w1@t.test")),
        (&d.u2, "user", d.u2_id, "Ursula", json!("u2@t.test")),
        (&d.guest, "guest", d.guest_id, "Gus", Value::Null),
    ];
    for (who, role, id, name, email) in cases {
        let (st, me) = who.get("/api/me").await;
        assert_eq!(st, StatusCode::OK, "{me}");
        assert_eq!(me["role"], role);
        assert_eq!(me["id"], id);
        assert_eq!(me["name"], name);
        assert_eq!(me["email"], email);
    }
    // A guest who left an email sees it.
    let (st, b) = d
        .server
        .anon()
        .post(
            "/api/chat/start",
            json!({"name": "Ann", "email": "ann@example.com"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let ann = Client::new(&d.server.base, b["guest_token"].as_str().map(String::from));
    let (_, me) = ann.get("/api/me").await;
    assert_eq!(me["email"], "ann@example.com");
    // No, or bad, credentials.
    for token in [
        None,
        Some("garbage"),
        Some("ns_not-a-session"),
        Some("ng_not-a-guest"),
        Some(""),
    ] {
        let c = Client::new(&d.server.base, token.map(String::from));
        let got = c.get("/api/me").await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let got = send_full(
        raw_http()
            .get(format!("{}/api/me", d.server.base))
            .header("authorization", "Basic dTE6cHc="),
    )
    .await;
    assert_error(&got.pair(), StatusCode::UNAUTHORIZED, "unauthenticated");
}

fn retry_after(r: &Reply) -> u64 {
    let v = r.header_all("retry-after");
    assert_eq!(v.len(), 1, "one Retry-After: {:?}", r.headers);
    v[0].parse().expect("Retry-After in seconds")
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_address() {
    let s = TestServer::start_with(|s| s.login_rate_per_minute = 3).await;
    nati_chat::http::admin::create_account(
        s.state.store.as_ref(),
        &s.state.hashing,
        AccountRole::User,
        "u@t.test",
        "U",
        PASSWORD,
    )
    .await
    .expect("account");
    let good = json!({"email": "u@t.test", "password": PASSWORD});
    let bad = json!({"email": "u@t.test", "password": "wrong password"});
    let r = login_reply(&s, good.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let signed_in = Client::new(&s.base, r.body["token"].as_str().map(String::from));
    for _ in 0..2 {
        let r = login_reply(&s, bad.clone()).await;
        assert_error(&r.pair(), StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The fourth attempt in the minute, even with the right password.
    for body in [good, bad] {
        let r = login_reply(&s, body).await;
        assert_error(&r.pair(), StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let secs = retry_after(&r);
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
        assert!(r.header_all("set-cookie").is_empty());
        assert!(r.body.get("token").is_none());
    }
    // Signed-in sessions are not affected.
    let (st, _) = signed_in.get("/api/me").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn guest_starts_are_rate_limited_per_address() {
    let s = TestServer::start_with(|s| s.guest_start_rate_per_minute = 3).await;
    let (admin, _) = s
        .account(AccountRole::Admin, "admin@t.test", "Ada Admin")
        .await;
    let (user, _) = s.account(AccountRole::User, "u@t.test", "U").await;
    let mut guest = None;
    for i in 0..3 {
        let (st, b) = s
            .anon()
            .post("/api/chat/start", json!({"message": format!("guest {i}")}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        guest = b["guest_token"].as_str().map(String::from);
    }
    let (_, before) = admin.get("/api/chat/list").await;
    let r = send_full(
        s.anon()
            .request(Method::POST, "/api/chat/start")
            .json(&json!({"message": "one too many"})),
    )
    .await;
    assert_error(&r.pair(), StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let secs = retry_after(&r);
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    assert!(r.header_all("set-cookie").is_empty());
    let (_, after) = admin.get("/api/chat/list").await;
    assert_eq!(after, before, "nothing was created");
    // A guest with a session and a signed-in user still start chats.
    let (st, b) = Client::new(&s.base, guest)
        .post("/api/chat/start", json!({"message": "me again"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, b) = user
        .post("/api/chat/start", json!({"message": "hello"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}

/// The `Set-Cookie` header for the cookie `name`, with its attributes.
fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("pair")
        .trim()
        .to_owned()
}

/// A request authenticated by cookie only, with optional `Origin` and `Sec-Fetch-Site`.
fn with_cookie(
    base: &str,
    method: Method,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    fetch_site: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut rb = raw_http()
        .request(method, format!("{base}{path}"))
        .header("cookie", cookie);
    if let Some(o) = origin {
        rb = rb.header("origin", o);
    }
    if let Some(f) = fetch_site {
        rb = rb.header("sec-fetch-site", f);
    }
    rb
}

#[tokio::test]
async fn the_session_cookie_and_its_same_origin_rule() {
    let d = Desk::new().await;
    let base = d.server.base.clone();
    let r = login_reply(
        &d.server,
        json!({"email": "u1@t.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let sc = set_cookie(&r, "nati_session").expect("a session cookie");
    let attrs: Vec<String> = sc
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.contains(&"httponly".to_owned()), "{sc}");
    assert!(attrs.contains(&"samesite=lax".to_owned()), "{sc}");
    assert!(attrs.contains(&"path=/".to_owned()), "{sc}");
    assert!(
        !attrs.contains(&"secure".to_owned()),
        "plain HTTP in tests: {sc}"
    );
    let cookie = cookie_pair(&sc);
    assert_eq!(
        cookie,
        format!("nati_session={}", r.body["token"].as_str().expect("token"))
    );

    let send = |origin: Option<&str>, site: Option<&str>, text: &str| {
        with_cookie(
            &base,
            Method::POST,
            "/api/chat/send_message",
            &cookie,
            origin,
            site,
        )
        .json(&json!({"chat_id": d.chat_u1, "message": text}))
    };
    let before = d.snapshot().await;
    let evil_port = format!("{base}.evil.example");
    let refused: [(Option<&str>, Option<&str>); 8] = [
        (Some("http://evil.example"), None),
        (Some("http://evil.example"), Some("same-origin")),
        (Some("null"), None),
        (Some(evil_port.as_str()), None),
        (Some("http://127.0.0.1"), None),
        (None, None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
    ];
    for (origin, site) in refused {
        let r = send_full(send(origin, site, "forged")).await;
        assert_error(&r.pair(), StatusCode::FORBIDDEN, "cross_site");
    }
    // Other writes are guarded the same way.
    let forged = [
        with_cookie(&base, Method::POST, "/api/chat/close", &cookie, Some("http://evil.example"), None)
            .json(&json!({"chat_id": d.chat_u1})),
        with_cookie(&base, Method::PUT, "/api/me/preferences", &cookie, Some("http://evil.example"), None).json(&json!({
            "email_enabled": false, "email_delay_secs": 0, "admin_scope": "none", "sound_enabled": true,
            "browser_notifications": true, "quiet_start_hour": null, "quiet_end_hour": null})),
        with_cookie(&base, Method::POST, "/api/auth/logout", &cookie, None, None),
        with_cookie(&base, Method::POST, "/api/chat/start", &cookie, Some("http://evil.example"), None)
            .json(&json!({"message": "forged start"})),
    ];
    for rb in forged {
        let r = send_full(rb).await;
        assert_error(&r.pair(), StatusCode::FORBIDDEN, "cross_site");
    }
    assert_eq!(
        d.snapshot().await,
        before,
        "no forged request changed anything"
    );
    let (_, prefs) = d.u1.get("/api/me/preferences").await;
    assert_eq!(prefs["email_delay_secs"], 600, "preferences untouched");

    // From our own pages it works: our Origin, or a same-origin fetch without one.
    let r = send_full(send(Some(&base), None, "from our origin")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let r = send_full(send(None, Some("same-origin"), "same-origin fetch")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    // Reads need no Origin.
    let r = send_full(with_cookie(
        &base,
        Method::GET,
        "/api/chat/list",
        &cookie,
        None,
        None,
    ))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(chat_ids(&r.body), vec![d.chat_u1]);
    // A bearer token is no ambient credential: no Origin rule for it.
    let r = send_full(
        d.u1.request(Method::POST, "/api/chat/send_message")
            .header("origin", "http://evil.example")
            .json(&json!({"chat_id": d.chat_u1, "message": "bearer"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let texts: Vec<Value> = d
        .all_messages(d.chat_u1)
        .await
        .into_iter()
        .map(|m| m["message"].clone())
        .collect();
    assert!(!texts.contains(&json!("forged")));
    assert!(texts.contains(&json!("from our origin")));
    assert!(texts.contains(&json!("same-origin fetch")));
    // Sign-out from our own page ends the session and clears the cookie.
    let r = send_full(with_cookie(
        &base,
        Method::POST,
        "/api/auth/logout",
        &cookie,
        Some(&base),
        None,
    ))
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.raw);
    let cleared = set_cookie(&r, "nati_session").expect("a clearing Set-Cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(cookie_pair(&cleared), "nati_session=", "{cleared}");
    let r = send_full(with_cookie(
        &base,
        Method::GET,
        "/api/me",
        &cookie,
        None,
        None,
    ))
    .await;
    assert_error(&r.pair(), StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn guests_use_their_token_or_cookie_for_their_own_chat_only() {
    let d = Desk::new().await;
    let r = send_full(
        d.server
            .anon()
            .request(Method::POST, "/api/chat/start")
            .json(&json!({"name": "Cora", "message": "cookie guest"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let token = r.body["guest_token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("ng_"));
    let chat = r.body["chat"]["chat_id"].as_i64().expect("chat");
    let sc = set_cookie(&r, "nati_guest").expect("a guest cookie");
    let lower = sc.to_ascii_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=lax"),
        "{sc}"
    );
    assert_eq!(cookie_pair(&sc), format!("nati_guest={token}"));
    // With the cookie: reads, and writes from our own origin.
    let base = d.server.base.clone();
    let cookie = cookie_pair(&sc);
    let r = send_full(with_cookie(
        &base,
        Method::GET,
        &format!("/api/chat/messages?chat_id={chat}"),
        &cookie,
        None,
        None,
    ))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let r = send_full(
        with_cookie(
            &base,
            Method::POST,
            "/api/chat/send_message",
            &cookie,
            Some(&base),
            None,
        )
        .json(&json!({"chat_id": chat, "message": "by cookie"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let r = send_full(
        with_cookie(
            &base,
            Method::POST,
            "/api/chat/send_message",
            &cookie,
            Some("http://evil.example"),
            None,
        )
        .json(&json!({"chat_id": chat, "message": "forged"})),
    )
    .await;
    assert_error(&r.pair(), StatusCode::FORBIDDEN, "cross_site");
    // With the token: its chat, nothing else.
    let guest = Client::new(&base, Some(token));
    let (st, b) = guest
        .get(&format!("/api/chat/details?chat_id={chat}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["customer_type"], "guest");
    assert_eq!(b["chat"]["customer_verified"], false);
    let (st, _) = guest.send_message(chat, "by token").await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, l) = guest.get("/api/chat/list").await;
    assert_eq!(chat_ids(&l), vec![chat]);
    let got = guest
        .get(&format!("/api/chat/details?chat_id={}", d.chat_g))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    // A second chat in the same session: no new token.
    let (st, b) = guest
        .post("/api/chat/start", json!({"topic": "another"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["guest_token"], Value::Null);
    assert_eq!(b["chat"]["guest_id"], r_guest_id(&guest).await);
    // Guests have no preferences.
    let got = guest.get("/api/me/preferences").await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = guest
        .put("/api/me/preferences", prefs(600, None, None))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
}

async fn r_guest_id(guest: &Client) -> Value {
    let (st, me) = guest.get("/api/me").await;
    assert_eq!(st, StatusCode::OK);
    me["id"].clone()
}

fn prefs(delay: i64, start: Option<i64>, end: Option<i64>) -> Value {
    json!({
        "email_enabled": true,
        "email_delay_secs": delay,
        "admin_scope": "escalated",
        "sound_enabled": true,
        "browser_notifications": false,
        "quiet_start_hour": start,
        "quiet_end_hour": end,
        "time_zone": "UTC"
    })
}

#[tokio::test]
async fn preferences_are_validated_and_persist() {
    let d = Desk::new().await;
    let (st, defaults) = d.u1.get("/api/me/preferences").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        defaults,
        json!({"email_enabled": true, "email_delay_secs": 600, "admin_scope": "none", "sound_enabled": false,
               "browser_notifications": false, "quiet_start_hour": null, "quiet_end_hour": null,
               "time_zone": "UTC"})
    );
    let (_, admin_defaults) = d.admin.get("/api/me/preferences").await;
    assert_eq!(admin_defaults["admin_scope"], "unassigned");

    let mut unknown = prefs(60, None, None);
    unknown["colour"] = json!("blue");
    let mut missing = prefs(60, None, None);
    missing
        .as_object_mut()
        .expect("object")
        .remove("sound_enabled");
    let mut scope = prefs(60, None, None);
    scope["admin_scope"] = json!("sometimes");
    let zone = |z: Value| {
        let mut p = prefs(60, Some(22), Some(6));
        p["time_zone"] = z;
        p
    };
    let bad = [
        prefs(-1, None, None),
        prefs(7 * 24 * 3600 + 1, None, None),
        prefs(60, Some(25), Some(6)),
        prefs(60, Some(22), Some(24)),
        prefs(60, Some(-1), Some(6)),
        prefs(60, Some(22), None),
        prefs(60, None, Some(6)),
        unknown,
        missing,
        scope,
        zone(json!("Mars/Olympus")),
        zone(json!("")),
        zone(json!("Europe/Berlin; DROP TABLE x")),
        zone(json!("A".repeat(65))),
        zone(json!(1)),
    ];
    for body in bad {
        let got = d.u1.put("/api/me/preferences", body.clone()).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", got.1);
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(
            d.u1.get("/api/me/preferences").await.1,
            defaults,
            "unchanged"
        );
    }
    // Edges that are fine, and they persist across sessions.
    for body in [
        prefs(0, Some(0), Some(23)),
        prefs(7 * 24 * 3600, Some(23), Some(0)),
        zone(json!("America/New_York")),
        prefs(90, Some(22), Some(6)),
    ] {
        let (st, b) = d.u1.put("/api/me/preferences", body.clone()).await;
        assert_eq!(st, StatusCode::OK, "{body}: {b}");
        assert_eq!(b, body);
        assert_eq!(d.u1.get("/api/me/preferences").await.1, body);
    }
    let again = d.server.login("u1@t.test").await;
    assert_eq!(
        again.get("/api/me/preferences").await.1,
        prefs(90, Some(22), Some(6))
    );
    // A client that does not know time zones yet may leave it out: UTC.
    let mut old = prefs(90, Some(22), Some(6));
    old.as_object_mut().expect("object").remove("time_zone");
    let (st, b) = d.u1.put("/api/me/preferences", old).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["time_zone"], "UTC");
    // Someone else's are their own.
    assert_eq!(d.u2.get("/api/me/preferences").await.1, defaults);
    let (_, w) = d.w1.get("/api/me/preferences").await;
    assert_eq!(w["email_delay_secs"], 600);
}

#[tokio::test]
async fn openapi_health_and_unknown_routes() {
    let d = TestServer::start().await;
    let c = d.anon();
    let r = send_full(c.request(Method::GET, "/api/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let ct = r.header_all("content-type");
    assert!(
        ct.iter().any(|t| t.starts_with("application/json")),
        "{ct:?}"
    );
    let doc: Value = serde_json::from_str(&r.raw).expect("valid JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    for (path, method) in [
        ("/api/chat/start", "post"),
        ("/api/chat/send_message", "post"),
        ("/api/chat/messages", "get"),
        ("/api/chat/assign_worker", "post"),
        ("/api/chat/list", "get"),
        ("/api/chat/close", "post"),
        ("/api/chat/unread_count", "get"),
        ("/api/chat/details", "get"),
        ("/api/chat/escalate", "post"),
        ("/api/chat/reopen", "post"),
        ("/api/chat/unassign", "post"),
        ("/api/chat/mark_read", "post"),
        ("/api/auth/login", "post"),
        ("/api/me", "get"),
        ("/api/me/preferences", "put"),
        ("/api/admin/accounts", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let (st, b) = c.get("/healthz").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b, json!({"status": "ok"}));

    for path in [
        "/api/nope",
        "/api/chat/nope",
        "/api/chat/send_message/extra",
    ] {
        let r = send_full(c.request(Method::GET, path)).await;
        assert_error(&r.pair(), StatusCode::NOT_FOUND, "not_found");
        assert!(
            r.header_all("content-type")
                .iter()
                .any(|t| t.starts_with("application/json")),
            "{path}"
        );
    }
    for (method, path) in [
        (Method::GET, "/api/chat/send_message"),
        (Method::DELETE, "/api/chat/list"),
        (Method::POST, "/api/chat/messages"),
        (Method::PATCH, "/api/me/preferences"),
        (Method::POST, "/healthz"),
    ] {
        let r = send_full(c.request(method.clone(), path)).await;
        assert_error(
            &r.pair(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        assert!(
            r.header_all("content-type")
                .iter()
                .any(|t| t.starts_with("application/json")),
            "{method} {path}"
        );
    }
}

/// Behind a trusted proxy each forwarded client has its own limit; a client that is not a
/// trusted proxy cannot escape its limit by sending `X-Forwarded-For`.
#[tokio::test]
async fn rate_limits_follow_x_forwarded_for_only_from_trusted_proxies() {
    async fn start_from(s: &TestServer, forwarded: &str) -> StatusCode {
        send_full(
            s.anon()
                .request(Method::POST, "/api/chat/start")
                .header("x-forwarded-for", forwarded)
                .json(&json!({"message": "hello"})),
        )
        .await
        .status
    }
    // Not trusted: the header changes nothing, the peer (127.0.0.1) is limited.
    let s = TestServer::start_with(|s| s.guest_start_rate_per_minute = 2).await;
    for i in 0..2 {
        assert_eq!(
            start_from(&s, &format!("198.51.100.{i}")).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        start_from(&s, "198.51.100.99").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged header does not buy a new limit"
    );
    // Trusted proxy on 127.0.0.1: each forwarded client has its own limit.
    let s = TestServer::start_with(|s| {
        s.guest_start_rate_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(start_from(&s, "198.51.100.7").await, StatusCode::CREATED);
    }
    assert_eq!(
        start_from(&s, "198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy; the leftmost (client-written) entry is not trusted.
    assert_eq!(
        start_from(&s, "198.51.100.7, 203.0.113.5").await,
        StatusCode::CREATED
    );
}

/// `log_format = "json"`: every log line is one JSON object a collector can read.
#[test]
fn json_log_lines_are_json_objects() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nati-chat"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("NATI_DATABASE_URL")
        .env("NATI_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let err = child.stderr.take().expect("stderr");
    let mut seen = None;
    for line in BufReader::new(err).lines().map_while(Result::ok) {
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        if v["fields"]["message"] == "Nati Chat started" {
            seen = Some(v);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let v = seen.expect("the start line");
    assert_eq!(v["level"], "INFO");
    assert!(
        v["fields"]["database"]
            .as_str()
            .is_some_and(|d| d.starts_with("sqlite://"))
    );
}
