//! Sign-in from the host site, its refusals, the server-to-server API keys and the embedding
//! policy (issue #9). The PHP test runs the very file docs/integration.md shows.

use crate::support::{Client, PASSWORD, TestServer, assert_error};
use chat_core::AccountRole;
use chat_core::hosttoken::{sign, sign_with_header};
use nati_chat::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

const KID_OLD: &str = "2026-10";
const SECRET_OLD: &str = "old-secret-0123456789abcdef0123456789";
const KID: &str = "2026-11";
const SECRET: &str = "new-secret-abcdef0123456789abcdef0123";
const ISSUER: &str = "https://shop.test";
const AUDIENCE: &str = "nati-chat";

pub(crate) fn host_settings(s: &mut Settings) {
    s.host_token_keys = [
        (KID_OLD.to_owned(), SECRET_OLD.to_owned()),
        (KID.to_owned(), SECRET.to_owned()),
    ]
    .into_iter()
    .collect();
    s.host_token_issuer = ISSUER.into();
    s.host_token_audience = AUDIENCE.into();
    s.embed_origins = vec!["https://shop.test".into()];
}

async fn server() -> TestServer {
    TestServer::start_with(host_settings).await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A fresh, unique token id.
fn jti() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

fn claims(role: &str, sub: Value, name: &str, email: &str) -> Value {
    let t = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "role": role, "sub": sub, "name": name,
           "email": email, "iat": t, "exp": t + 120, "jti": jti()})
}

async fn exchange(s: &TestServer, token: &str) -> (StatusCode, Value) {
    s.anon()
        .post("/api/auth/host", json!({"token": token, "mode": "bearer"}))
        .await
}

/// Sign in as the host's person and return a client with the session.
pub(crate) async fn host_login(
    s: &TestServer,
    role: &str,
    sub: Value,
    name: &str,
    email: &str,
) -> (Client, Value) {
    let (st, body) = exchange(s, &sign(KID, SECRET, &claims(role, sub, name, email))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    (
        Client::new(&s.base, body["token"].as_str().map(String::from)),
        body["account"].clone(),
    )
}

async fn account_count(s: &TestServer) -> usize {
    s.state.store.list_accounts(None).await.expect("list").len()
}

fn php() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join("php"))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn a_token_signed_by_the_php_example_signs_in() {
    let Some(php) = php() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "php is missing, and CI is set: install php-cli (scripts/test.sh does)"
        );
        eprintln!("skipped: php is not installed (apt-get install php-cli)");
        return;
    };
    let s = server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/sign-token.php");
    let run = |name: &str| {
        let out = std::process::Command::new(&php)
            .arg(script)
            .args(["user", "4711", name, "pat@shop.test"])
            .env("HOST_CHAT_KID", KID)
            .env("HOST_CHAT_SECRET", SECRET)
            .env("HOST_CHAT_ISSUER", ISSUER)
            .env("HOST_CHAT_AUDIENCE", AUDIENCE)
            .output()
            .expect("run php");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    let (st, body) = exchange(&s, &run("Pat Pérez")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["created"], true);
    assert_eq!(body["account"]["role"], "user");
    assert_eq!(body["account"]["host_id"], "4711");
    assert_eq!(body["account"]["source"], "host");
    assert_eq!(body["account"]["name"], "Pat Pérez");
    let me = Client::new(&s.base, body["token"].as_str().map(String::from));
    let (st, who) = me.get("/api/me").await;
    assert_eq!(st, StatusCode::OK, "{who}");
    assert_eq!(who["name"], "Pat Pérez");

    // A second PHP token: the same person, refreshed, and no second account.
    let id = body["account"]["id"].clone();
    let (st, body) = exchange(&s, &run("Pat P. Pérez")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["account"]["id"], id);
    assert_eq!(body["account"]["name"], "Pat P. Pérez");
    assert_eq!(account_count(&s).await, 1);
}

#[tokio::test]
async fn cookie_mode_sets_the_panel_cookie() {
    let s = server().await;
    let token = sign(
        KID,
        SECRET,
        &claims("admin", json!("a-7"), "Ada", "ada@shop.test"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/auth/host", s.base))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(cookie.starts_with("nati_session=ns_"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
}

#[tokio::test]
async fn every_refusal_is_clear_and_creates_nothing() {
    let s = server().await;
    let good = || claims("user", json!(42), "Ann", "ann@shop.test");
    let without = |claim: &str| {
        let mut c = good();
        c.as_object_mut().map(|o| o.remove(claim));
        c
    };
    let with = |claim: &str, v: Value| {
        let mut c = good();
        c[claim] = v;
        c
    };
    let t = now();
    let header = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": KID});
    let unsigned = {
        let t = sign_with_header(&header("none"), SECRET, &good());
        format!("{}.", t.rsplit_once('.').map(|(a, _)| a).unwrap_or(""))
    };
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "bad signature",
            sign(KID, "not-the-secret-at-all-0123456789", &good()),
            StatusCode::UNAUTHORIZED,
            "token_signature",
        ),
        (
            "alg none",
            unsigned,
            StatusCode::UNAUTHORIZED,
            "token_algorithm",
        ),
        (
            "alg none, signed",
            sign_with_header(&header("none"), SECRET, &good()),
            StatusCode::UNAUTHORIZED,
            "token_algorithm",
        ),
        (
            "alg HS512",
            sign_with_header(&header("HS512"), SECRET, &good()),
            StatusCode::UNAUTHORIZED,
            "token_algorithm",
        ),
        (
            "unknown kid",
            sign("2019-01", SECRET, &good()),
            StatusCode::UNAUTHORIZED,
            "token_unknown_key",
        ),
        (
            "expired",
            sign(KID, SECRET, &with("exp", json!(t - 120))),
            StatusCode::UNAUTHORIZED,
            "token_expired",
        ),
        (
            "nbf in the future",
            sign(KID, SECRET, &with("nbf", json!(t + 600))),
            StatusCode::UNAUTHORIZED,
            "token_not_yet_valid",
        ),
        (
            "exp too far ahead",
            sign(KID, SECRET, &with("exp", json!(t + 3600))),
            StatusCode::UNAUTHORIZED,
            "token_lifetime",
        ),
        (
            "unknown role",
            sign(KID, SECRET, &with("role", json!("guest"))),
            StatusCode::UNAUTHORIZED,
            "token_claims",
        ),
        (
            "missing sub",
            sign(KID, SECRET, &without("sub")),
            StatusCode::UNAUTHORIZED,
            "token_claims",
        ),
        (
            "missing jti",
            sign(KID, SECRET, &without("jti")),
            StatusCode::UNAUTHORIZED,
            "token_claims",
        ),
        (
            "missing aud",
            sign(KID, SECRET, &without("aud")),
            StatusCode::UNAUTHORIZED,
            "token_claims",
        ),
        (
            "missing iss",
            sign(KID, SECRET, &without("iss")),
            StatusCode::UNAUTHORIZED,
            "token_claims",
        ),
        (
            "missing email",
            sign(KID, SECRET, &without("email")),
            StatusCode::UNAUTHORIZED,
            "token_claims",
        ),
        (
            "wrong aud",
            sign(KID, SECRET, &with("aud", json!("someone-else"))),
            StatusCode::UNAUTHORIZED,
            "token_audience",
        ),
        (
            "wrong iss",
            sign(KID, SECRET, &with("iss", json!("https://evil.test"))),
            StatusCode::UNAUTHORIZED,
            "token_issuer",
        ),
        (
            "not a JWT",
            "hello".into(),
            StatusCode::BAD_REQUEST,
            "token_malformed",
        ),
    ];
    for (what, token, status, code) in cases {
        let got = exchange(&s, &token).await;
        assert_eq!(got.0, status, "{what}: {}", got.1);
        assert_error(&got, status, code);
        assert_eq!(account_count(&s).await, 0, "{what}: nothing created");
    }
    // Malformed requests get the common shape too.
    let got = s.anon().post("/api/auth/host", json!({"tok": "x"})).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let got = s
        .anon()
        .post("/api/auth/host", json!({"token": "x", "mode": "smoke"}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(account_count(&s).await, 0);

    // A token is good once: the replay is refused and changes nothing.
    let token = sign(KID, SECRET, &good());
    assert_eq!(exchange(&s, &token).await.0, StatusCode::OK);
    assert_eq!(account_count(&s).await, 1);
    let replay = exchange(&s, &token).await;
    assert_error(&replay, StatusCode::UNAUTHORIZED, "token_replayed");
    assert_eq!(account_count(&s).await, 1);
}

#[tokio::test]
async fn host_sign_in_off_unless_configured() {
    let s = TestServer::start().await;
    let got = exchange(
        &s,
        &sign(KID, SECRET, &claims("user", json!(1), "A", "a@shop.test")),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "host_signin_disabled");
    assert_eq!(account_count(&s).await, 0);
}

#[tokio::test]
async fn later_sign_ins_refresh_and_never_merge_by_email() {
    let s = server().await;
    // A password account with the very email the host will use for someone else.
    let (pw, pw_id) = s
        .account(AccountRole::User, "same@shop.test", "Password Pia")
        .await;
    let (_, first) = host_login(&s, "user", json!(42), "Host Hal", "same@shop.test").await;
    assert_ne!(first["id"].as_i64(), Some(pw_id), "never merged by email");
    assert_eq!(first["source"], "host");
    // A second person of the host with the same email and name: a third account.
    let (_, twin) = host_login(&s, "user", json!("43"), "Host Hal", "same@shop.test").await;
    assert_ne!(twin["id"], first["id"]);
    // The same host id as another role is another person too.
    let (_, worker) = host_login(&s, "worker", json!(42), "Hal at work", "hal@shop.test").await;
    assert_eq!(worker["role"], "worker");
    // Refresh: the same (role, host id) gets the new name, email and avatar.
    let mut c = claims("user", json!(42), "Hal Renamed", "hal@new.test");
    c["picture"] = json!("https://img.shop.test/hal.png");
    let (st, again) = exchange(&s, &sign(KID, SECRET, &c)).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["account"]["id"], first["id"]);
    assert_eq!(again["account"]["name"], "Hal Renamed");
    assert_eq!(again["account"]["email"], "hal@new.test");
    assert_eq!(
        again["account"]["avatar_url"],
        "https://img.shop.test/hal.png"
    );
    // The password account still signs in with its password, as itself.
    let (st, me) = pw.get("/api/me").await;
    assert_eq!((st, me["id"].as_i64()), (StatusCode::OK, Some(pw_id)));
    let relogin = s.login("same@shop.test").await;
    let (_, me) = relogin.get("/api/me").await;
    assert_eq!(me["id"].as_i64(), Some(pw_id));
    // A host account has no password to sign in with.
    let (st, _) = s
        .anon()
        .post(
            "/api/auth/login",
            json!({"email": "hal@new.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Staff see which customer the host verified.
    let (admin, _) = s
        .account(AccountRole::Admin, "boss@shop.test", "Boss")
        .await;
    let (hal, _) = host_login(&s, "user", json!(42), "Hal Renamed", "hal@new.test").await;
    let (st, chat) = hal
        .post(
            "/api/chat/start",
            json!({"topic": "brakes", "message": "hi"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{chat}");
    let (st, list) = admin.get("/api/chat/list").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let row = &list["chats"][0];
    assert_eq!(row["customer_host_id"], "42", "{row}");
    assert_eq!(row["customer_verified"], true);
}

#[tokio::test]
async fn both_keys_work_during_a_rotation() {
    let s = server().await;
    for (kid, secret) in [(KID_OLD, SECRET_OLD), (KID, SECRET)] {
        let (st, body) = exchange(
            &s,
            &sign(
                kid,
                secret,
                &claims("user", json!(7), "Rita", "r@shop.test"),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{kid}: {body}");
    }
    // The kid picks the key: the new kid with the old secret is a bad signature.
    let got = exchange(
        &s,
        &sign(
            KID,
            SECRET_OLD,
            &claims("user", json!(7), "Rita", "r@shop.test"),
        ),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "token_signature");
    assert_eq!(account_count(&s).await, 1);
}

#[tokio::test]
async fn a_deactivated_person_cannot_sign_in_from_the_host() {
    let s = server().await;
    let (_, acc) = host_login(&s, "user", json!(9), "Dee", "dee@shop.test").await;
    let id = acc["id"].as_i64().expect("id");
    s.state
        .store
        .set_account_active(
            AccountRole::User,
            id,
            false,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .expect("deactivate");
    let got = exchange(
        &s,
        &sign(
            KID,
            SECRET,
            &claims("user", json!(9), "Dee", "dee@shop.test"),
        ),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn password_login_can_be_turned_off_per_role() {
    let s = TestServer::start_with(|st| {
        host_settings(st);
        st.password_login.worker = false;
    })
    .await;
    nati_chat::http::admin::create_account(
        s.state.store.as_ref(),
        &s.state.hashing,
        AccountRole::Worker,
        "w@shop.test",
        "Walt",
        PASSWORD,
    )
    .await
    .expect("worker");
    let got = s
        .anon()
        .post(
            "/api/auth/login",
            json!({"email": "w@shop.test", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "password_login_disabled");
    // Users still may, and the worker still signs in from the host.
    s.account(AccountRole::User, "u@shop.test", "Uma").await;
    host_login(&s, "worker", json!(3), "Walt", "w@shop.test").await;
}

#[tokio::test]
async fn guests_can_be_turned_off() {
    let s = TestServer::start_with(|st| {
        host_settings(st);
        st.guests_allowed = false;
    })
    .await;
    let got = s
        .anon()
        .post(
            "/api/chat/start",
            json!({"name": "Gus", "topic": "x", "message": "hi"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "guests_not_allowed");
    let (st, cfg) = s.anon().get("/api/embed/config").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        cfg,
        json!({"origins": ["https://shop.test"], "guests_allowed": false, "host_signin": true})
    );
    // A customer the host signed in still chats.
    let (ann, _) = host_login(&s, "user", json!(1), "Ann", "ann@shop.test").await;
    let (st, body) = ann
        .post("/api/chat/start", json!({"topic": "x", "message": "hi"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn api_keys_read_unread_counts_by_host_id_within_their_scopes() {
    let s = server().await;
    let (admin, _) = s
        .account(AccountRole::Admin, "boss@shop.test", "Boss")
        .await;
    // An admin makes a read-only key; the CLI's path makes a key that writes accounts.
    let (st, made) = admin
        .post(
            "/api/admin/api-keys",
            json!({"name": "shop bell", "scopes": ["unread:read"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    let bell_key = made["key"].as_str().expect("key").to_owned();
    assert!(bell_key.starts_with("nk_"));
    assert_eq!(made["api_key"]["scopes"], json!(["unread:read"]));
    assert!(
        !made["api_key"].to_string().contains(&bell_key),
        "the record never holds the key"
    );
    let (writer_key, writer) = nati_chat::http::hostapi::create_api_key(
        s.state.store.as_ref(),
        "shop back end",
        &"accounts:write,chats:read"
            .split(',')
            .map(|x| x.parse().expect("scope"))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("cli key");
    let bell = Client::new(&s.base, Some(bell_key.clone()));
    let back = Client::new(&s.base, Some(writer_key));

    // Nobody signed in yet: 0 unread, no account.
    let (st, u) = bell.get("/api/host/v1/unread?role=user&host_id=42").await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(
        (u["total"].as_i64(), &u["account"]),
        (Some(0), &Value::Null)
    );

    // The back end creates the person ahead of time; they sign in; staff answer twice.
    let (st, acc) = back
        .put(
            "/api/host/v1/accounts",
            json!({"role": "user", "host_id": "42", "name": "Ann", "email": "ann@shop.test"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{acc}");
    assert_eq!(acc["account"]["source"], "host");
    let (ann, signed) = host_login(&s, "user", json!(42), "Ann", "ann@shop.test").await;
    assert_eq!(signed["id"], acc["account"]["id"], "the same person");
    let (_, chat) = ann
        .post(
            "/api/chat/start",
            json!({"topic": "tyres", "message": "hello"}),
        )
        .await;
    let chat_id = chat["chat"]["chat_id"].as_i64().expect("chat");
    for text in ["hi Ann", "which size?"] {
        let (st, b) = admin.send_message(chat_id, text).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    let (st, u) = bell.get("/api/host/v1/unread?role=user&host_id=42").await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["total"], 2, "{u}");
    assert_eq!(u["chats"], json!([{"chat_id": chat_id, "unread": 2}]));
    let (st, list) = back.get("/api/host/v1/chats?role=user&host_id=42").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["chats"][0]["chat_id"], chat_id);
    assert_eq!(list["chats"][0]["unread"], 2);

    // Scopes are enforced.
    assert_error(
        &bell.get("/api/host/v1/chats?role=user&host_id=42").await,
        StatusCode::FORBIDDEN,
        "missing_scope",
    );
    assert_error(
        &bell
            .post(
                "/api/host/v1/accounts/deactivate",
                json!({"role": "user", "host_id": "42"}),
            )
            .await,
        StatusCode::FORBIDDEN,
        "missing_scope",
    );
    assert_error(
        &back.get("/api/host/v1/unread?role=user&host_id=42").await,
        StatusCode::FORBIDDEN,
        "missing_scope",
    );
    // A session token, an unknown key, no key: 401.
    assert_error(
        &ann.get("/api/host/v1/unread?role=user&host_id=42").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_error(
        &Client::new(&s.base, Some("nk_unknown".into()))
            .get("/api/host/v1/unread?role=user&host_id=42")
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_error(
        &s.anon()
            .get("/api/host/v1/unread?role=user&host_id=42")
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // Admin-only management.
    assert_error(
        &ann.get("/api/admin/api-keys").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (st, keys) = admin.get("/api/admin/api-keys").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(keys["api_keys"].as_array().map(Vec::len), Some(2));

    // Deactivating by host id ends the person's sessions and host sign-in.
    let (st, d) = back
        .post(
            "/api/host/v1/accounts/deactivate",
            json!({"role": "user", "host_id": "42"}),
        )
        .await;
    assert_eq!(
        (st, &d["account"]["active"]),
        (StatusCode::OK, &json!(false)),
        "{d}"
    );
    assert_eq!(ann.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    let got = exchange(
        &s,
        &sign(
            KID,
            SECRET,
            &claims("user", json!(42), "Ann", "ann@shop.test"),
        ),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");

    // Revoked: 401 from then on.
    let (st, r) = admin
        .post("/api/admin/api-keys/revoke", json!({"id": writer.id}))
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert!(r["api_key"]["revoked_at"].is_string());
    assert_error(
        &back.get("/api/host/v1/chats?role=user&host_id=42").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // The OpenAPI document describes the host API and its security scheme.
    let (_, doc) = s.anon().get("/api/openapi.json").await;
    assert!(doc["paths"]["/api/host/v1/unread"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn only_the_configured_origins_may_frame_the_chat() {
    let s = server().await;
    for path in ["/widget", "/chat", "/admin"] {
        let resp = reqwest::get(format!("{}{path}", s.base))
            .await
            .expect("get");
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            csp.ends_with("frame-ancestors 'self' https://shop.test"),
            "{path}: {csp}"
        );
        assert!(resp.headers().get("x-frame-options").is_none(), "{path}");
    }
}

#[test]
fn the_integration_guide_shows_the_tested_php_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let php = std::fs::read_to_string(format!("{root}/docs/examples/sign-token.php")).expect("php");
    let guide = std::fs::read_to_string(format!("{root}/docs/integration.md")).expect("guide");
    assert!(
        guide.contains(php.trim()),
        "docs/integration.md must show docs/examples/sign-token.php verbatim"
    );
}

/// The server refuses to start when an unknown `NATI_*` variable is set, so the host
/// site's examples (which run on the same machine) must read variables of another name.
#[test]
fn host_side_examples_read_no_nati_variables() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut texts = Vec::new();
    for dir in ["docs/examples", "docs"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                texts.push((
                    path.clone(),
                    std::fs::read_to_string(&path).unwrap_or_default(),
                ));
            }
        }
    }
    for (path, text) in texts {
        for pattern in [
            "getenv('NATI_",
            "getenv(\"NATI_",
            "process.env.NATI_",
            "env['NATI_",
        ] {
            assert!(
                !text.contains(pattern),
                "{} reads a NATI_* variable ({pattern}...): the server would refuse to start beside it",
                path.display()
            );
        }
    }
}

/// A used token stays used for as long as it is accepted at all: through the clock
/// leeway after `exp`, not only until `exp`.
#[tokio::test]
async fn a_used_token_cannot_be_replayed_during_the_leeway_after_exp() {
    let s = server().await;
    let mut c = claims("user", json!("late-1"), "Lea", "lea@shop.test");
    // Expired 5 s ago, inside the default 30 s leeway.
    c["exp"] = json!(now() - 5);
    c["iat"] = json!(now() - 60);
    let token = sign(KID, SECRET, &c);
    let (st, body) = exchange(&s, &token).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let again = exchange(&s, &token).await;
    assert_error(&again, StatusCode::UNAUTHORIZED, "token_replayed");
}

/// Sign-ins from the host have their own allowance: every page of the embedding site
/// signs in, so password sign-in's small limit must not apply to them.
#[tokio::test]
async fn host_sign_ins_are_not_held_to_the_password_limit() {
    let s = TestServer::start_with(|st| {
        host_settings(st);
        st.login_rate_per_minute = 1;
        st.host_sign_in_rate_per_minute = 5;
    })
    .await;
    for i in 0..5 {
        let (st, body) = exchange(
            &s,
            &sign(
                KID,
                SECRET,
                &claims("user", json!(7), "Ona", &format!("o{i}@shop.test")),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "sign-in {i}: {body}");
    }
    let over = exchange(
        &s,
        &sign(KID, SECRET, &claims("user", json!(7), "Ona", "o@shop.test")),
    )
    .await;
    assert_error(&over, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

/// With password sign-in off for a role, the answer is the same whether the password is
/// right or wrong: it never confirms a password.
#[tokio::test]
async fn a_role_without_password_sign_in_never_confirms_a_password() {
    let s = TestServer::start_with(|st| {
        host_settings(st);
        st.password_login.admin = false;
    })
    .await;
    nati_chat::http::admin::create_account(
        s.state.store.as_ref(),
        &s.state.hashing,
        AccountRole::Admin,
        "a@shop.test",
        "Ada",
        PASSWORD,
    )
    .await
    .expect("admin");
    for password in [PASSWORD, "wrong password"] {
        let got = s
            .anon()
            .post(
                "/api/auth/login",
                json!({"email": "a@shop.test", "password": password}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "password_login_disabled");
    }
}

/// "Signed-in customers only", set after guests already chatted: their sessions and their
/// emailed resume links start nothing more.
#[tokio::test]
async fn guests_turned_off_later_cannot_go_on_with_old_sessions() {
    let s = server().await;
    let (st, body) = s
        .anon()
        .post("/api/chat/start", json!({"message": "before the change"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let guest = Client::new(&s.base, body["guest_token"].as_str().map(String::from));
    let (dir, mut settings) = s.stop().await;
    settings.guests_allowed = false;
    let s = TestServer::start_in(dir, settings).await;
    let guest = Client::new(&s.base, guest.token.clone());
    let got = guest
        .post("/api/chat/start", json!({"message": "after the change"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "guests_not_allowed");
    let got = s
        .anon()
        .post("/api/chat/guest_resume", json!({"token": "nr_anything"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "guests_not_allowed");
}

/// A session opened with a host token lasts `host_session_ttl_secs`, not the 30 days of a
/// password session: signing out on the site does not reach the chat.
#[tokio::test]
async fn host_sessions_are_short() {
    let s = TestServer::start_with(|st| {
        host_settings(st);
        st.host_session_ttl_secs = 600;
    })
    .await;
    let (st, body) = exchange(
        &s,
        &sign(
            KID,
            SECRET,
            &claims("user", json!("short-1"), "Sam", "sam@shop.test"),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    let left = (expires - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((590..=600).contains(&left), "{left} s left");
}
