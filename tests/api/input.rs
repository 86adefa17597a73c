//! Bad input, against the real server: each kind gets the common JSON error shape with the
//! right status, and changes nothing. Then what must survive intact (markup, SQL, emoji),
//! pagination edges, and idempotent retries.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

/// The admin's whole view plus the admin's preferences: what any refusal could touch.
async fn world(d: &Desk) -> Value {
    let (st, prefs) = d.admin.get("/api/me/preferences").await;
    assert_eq!(st, StatusCode::OK);
    json!({"all": d.snapshot().await, "prefs": prefs})
}

async fn raw(c: &Client, method: Method, path: &str, ctype: Option<&str>, body: Vec<u8>) -> Reply {
    let mut rb = c.request(method, path).body(body);
    if let Some(t) = ctype {
        rb = rb.header("content-type", t);
    }
    send_full(rb).await
}

fn assert_reply(r: &Reply, status: StatusCode, code: &str, ctx: &str) {
    assert_eq!(r.status, status, "{ctx}: {}", r.raw);
    assert_error(&r.pair(), status, code);
    assert!(
        r.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{ctx}: JSON error body: {:?}",
        r.headers
    );
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let d = Desk::new().await;
    let c = d.chat_u1;
    let anon = d.server.anon();
    // (who, method, path, a valid body, a required field or none)
    let cases: Vec<(&Client, Method, &str, Value, Option<&str>)> = vec![
        (
            &d.u1,
            Method::POST,
            "/api/chat/send_message",
            json!({"chat_id": c, "message": "hi"}),
            Some("message"),
        ),
        (
            &d.u1,
            Method::POST,
            "/api/chat/start",
            json!({"topic": "t"}),
            None,
        ),
        (
            &d.admin,
            Method::POST,
            "/api/chat/assign_worker",
            json!({"chat_id": c, "worker_id": d.w2_id}),
            Some("worker_id"),
        ),
        (
            &d.admin,
            Method::POST,
            "/api/chat/close",
            json!({"chat_id": c}),
            Some("chat_id"),
        ),
        (
            &d.admin,
            Method::POST,
            "/api/chat/escalate",
            json!({"chat_id": c}),
            Some("chat_id"),
        ),
        (
            &d.admin,
            Method::POST,
            "/api/chat/unassign",
            json!({"chat_id": c}),
            Some("chat_id"),
        ),
        (
            &d.admin,
            Method::POST,
            "/api/chat/mark_read",
            json!({"chat_id": c}),
            Some("chat_id"),
        ),
        (
            &d.admin,
            Method::POST,
            "/api/admin/accounts",
            json!({"role": "worker", "email": "n@t.test", "name": "N", "password": "long enough"}),
            Some("password"),
        ),
        (
            &d.admin,
            Method::POST,
            "/api/admin/accounts/deactivate",
            json!({"role": "user", "id": d.u2_id}),
            Some("id"),
        ),
        (
            &d.admin,
            Method::PUT,
            "/api/me/preferences",
            json!({"email_enabled": false, "email_delay_secs": 60, "admin_scope": "all", "sound_enabled": true, "browser_notifications": true, "quiet_start_hour": null, "quiet_end_hour": null}),
            Some("email_delay_secs"),
        ),
        (
            &anon,
            Method::POST,
            "/api/auth/login",
            json!({"email": "u1@t.test", "password": PASSWORD}),
            Some("password"),
        ),
    ];
    let before = world(&d).await;
    let json_ct = Some("application/json");
    for (who, method, path, valid, required) in &cases {
        let ctx = |what: &str| format!("{method} {path}: {what}");
        let send = |ctype: Option<&'static str>, body: Vec<u8>| {
            raw(who, method.clone(), path, ctype, body)
        };
        let bytes = |v: &Value| serde_json::to_vec(v).expect("json");

        // Malformed JSON, not JSON, nothing.
        // Invalid UTF-8 is not JSON either (RFC 8259), even inside a string.
        for body in [
            &b"{"[..],
            b"{,}",
            b"hello",
            b"",
            b"{'chat_id': 1}",
            b"}{",
            b"{\"message\": \"caf\xe9\"}",
            b"\xff\xfe{}",
        ] {
            let r = send(json_ct, body.to_vec()).await;
            assert_reply(
                &r,
                StatusCode::BAD_REQUEST,
                "bad_request",
                &ctx("malformed"),
            );
        }
        // JSON of the wrong shape.
        for body in [json!([]), json!(null), json!(42), json!("text")] {
            let r = send(json_ct, bytes(&body)).await;
            assert_reply(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &ctx(&format!("shape {body}")),
            );
        }
        // An unknown field.
        let mut v = valid.clone();
        v["bogus"] = json!(1);
        let r = send(json_ct, bytes(&v)).await;
        assert_reply(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &ctx("unknown field"),
        );
        // A field given twice (parsers disagree on which one wins: refuse).
        let json = serde_json::to_string(valid).expect("json");
        let (k, v) = valid
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("a field");
        let twice = format!("{{{}:{},{}", json!(k), v, &json[1..]);
        let r = send(json_ct, twice.into_bytes()).await;
        assert_reply(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &ctx("duplicate field"),
        );
        if let Some(field) = required {
            // A missing field.
            let mut v = valid.clone();
            v.as_object_mut().expect("object").remove(*field);
            let r = send(json_ct, bytes(&v)).await;
            assert_reply(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &ctx("missing field"),
            );
            // The wrong type, in each field in turn.
            for key in valid.as_object().expect("object").keys() {
                for wrong in [json!("abc"), json!([1]), json!({"x": 1}), json!(1.5)] {
                    if valid[key].is_string() && wrong.is_string() {
                        continue;
                    }
                    let mut v = valid.clone();
                    v[key] = wrong.clone();
                    let r = send(json_ct, bytes(&v)).await;
                    assert_reply(
                        &r,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid",
                        &ctx(&format!("{key} = {wrong}")),
                    );
                }
            }
        }
        // No content type, or another one.
        for ctype in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let r = send(ctype, bytes(valid)).await;
            assert_reply(
                &r,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                &ctx(&format!("{ctype:?}")),
            );
        }
        // Too large, even if otherwise fine.
        let mut v = valid.clone();
        v["message"] = json!("x".repeat(70 * 1024));
        let r = send(json_ct, bytes(&v)).await;
        assert_reply(
            &r,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &ctx("70 KiB"),
        );
    }
    assert_eq!(world(&d).await, before, "nothing changed");
    // The same valid bodies do work (so the refusals above were about the input).
    let (st, b) = d.u1.send_message(c, "hi").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let r = raw(
        &d.u1,
        Method::POST,
        "/api/chat/send_message",
        Some("application/json; charset=utf-8"),
        serde_json::to_vec(&json!({"chat_id": c, "message": "with charset"})).expect("json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

#[tokio::test]
async fn message_text_rules() {
    let d = Desk::new().await;
    let c = d.chat_u1;
    let refused = [
        String::new(),
        " ".into(),
        " \n\t \r\n ".into(),
        "x".repeat(4001),
        format!(" {} ", "é".repeat(4001)),
        "nul\u{0}byte".into(),
        "a\u{1b}[31mred".into(),
        "bare\rreturn".into(),
        "delete\u{7f}".into(),
        "next line\u{85}".into(),
        "back\u{8}space".into(),
    ];
    let before = d.chat_snapshot(c).await;
    for text in &refused {
        let got = d.u1.send_message(c, text).await;
        assert_eq!(
            got.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{text:?}: {}",
            got.1
        );
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        // The same rules when the text opens a chat.
        let got = d.u2.post("/api/chat/start", json!({"message": text})).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    // A too-long reason or one with control characters is refused as well.
    for reason in ["r".repeat(501), "bell\u{7}".to_owned()] {
        let got =
            d.w1.post(
                "/api/chat/escalate",
                json!({"chat_id": c, "reason": reason}),
            )
            .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    assert_eq!(
        d.chat_snapshot(c).await,
        before,
        "no refusal changed the chat"
    );
    let (_, l) = d.admin.get("/api/chat/list").await;
    assert_eq!(chat_ids(&l).len(), 3, "no chat was started");

    // At the limits, and stored exactly as sent.
    let accepted = [
        "x".repeat(4000),
        format!("   {}   ", "x".repeat(4000)),
        "é".repeat(4000),
        "🚗".repeat(4000),
        "line\nline\ttab".into(),
        "windows\r\nline".into(),
        "  leading and trailing  ".into(),
        "zero\u{200b}width".into(),
    ];
    for text in &accepted {
        let (st, b) = d.u1.send_message(c, text).await;
        assert_eq!(st, StatusCode::CREATED, "{}: {b}", text.chars().count());
        assert_eq!(b["message"]["message"].as_str(), Some(text.as_str()));
    }
    let stored: Vec<String> = d
        .all_messages(c)
        .await
        .iter()
        .rev()
        .take(accepted.len())
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect();
    let mut want = accepted.to_vec();
    want.reverse();
    assert_eq!(stored, want);
}

#[tokio::test]
async fn markup_sql_and_emoji_round_trip_byte_exact() {
    let d = Desk::new().await;
    let texts = [
        "<img src=x onerror=alert(1)>",
        "<script>alert('x')</script>&amp;&lt;",
        "'; DROP TABLE tbl_chats; --",
        "\" OR 1=1 --",
        "🚗💨",
        "👩‍🔧 e\u{301} ﷽ 中文 \\n \\u0000",
        "%_\\",
    ];
    for t in texts {
        let r = send_full(
            d.u1.request(Method::POST, "/api/chat/send_message")
                .json(&json!({"chat_id": d.chat_u1, "message": t})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        assert_eq!(r.body["message"]["message"], t);
        // The JSON carries the very characters (serde escapes only what JSON requires).
        let encoded = serde_json::to_string(t).expect("json");
        assert!(r.raw.contains(&encoded), "{t}: {}", r.raw);
        // Read back by someone else, and in the list preview.
        let r = send_full(d.w1.request(
            Method::GET,
            &format!("/api/chat/messages?chat_id={}", d.chat_u1),
        ))
        .await;
        assert_eq!(
            r.body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .map(|m| &m["message"]),
            Some(&json!(t))
        );
        assert!(r.raw.contains(&encoded));
        let ct = r
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert_eq!(
            r.headers
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff")
        );
        let (_, l) = d
            .admin
            .get(&format!("/api/chat/list?user_id={}", d.u1_id))
            .await;
        assert_eq!(l["chats"][0]["last_message"], t);
        // Search finds it literally, wildcards and all.
        let (st, l) = d.admin.get_query("/api/chat/list", &[("q", t)]).await;
        assert_eq!(st, StatusCode::OK, "{l}");
        assert_eq!(chat_ids(&l), vec![d.chat_u1], "q={t}");
    }
    // The tables are all still there.
    let (st, l) = d.admin.get("/api/chat/list").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(chat_ids(&l).len(), 3);
    // A topic and a guest name survive too.
    let (st, b) = d
        .server
        .anon()
        .post(
            "/api/chat/start",
            json!({"name": "<b>Bob</b> 🚗", "topic": "'; DROP TABLE tbl_user; --"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["chat"]["customer_name"], "<b>Bob</b> 🚗");
    assert_eq!(b["chat"]["topic"], "'; DROP TABLE tbl_user; --");
    let (st, _) = d.u1.get("/api/me").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_change_nothing() {
    let d = Desk::new().await;
    let before = d.snapshot().await;
    let other_msg = d.all_messages(d.chat_u2).await[0]["message_id"].clone();
    for chat in [999_999i64, 0, -1, i64::MAX] {
        let body = json!({"chat_id": chat});
        for got in [
            d.admin.send_message(chat, "hello?").await,
            d.admin
                .get(&format!("/api/chat/details?chat_id={chat}"))
                .await,
            d.admin
                .get(&format!("/api/chat/messages?chat_id={chat}"))
                .await,
            d.admin.post("/api/chat/close", body.clone()).await,
            d.admin.post("/api/chat/escalate", body.clone()).await,
            d.admin.post("/api/chat/reopen", body.clone()).await,
            d.admin.post("/api/chat/unassign", body.clone()).await,
            d.admin.post("/api/chat/mark_read", body.clone()).await,
            d.admin
                .post(
                    "/api/chat/assign_worker",
                    json!({"chat_id": chat, "worker_id": d.w2_id}),
                )
                .await,
        ] {
            assert_error(&got, StatusCode::NOT_FOUND, "not_found");
        }
    }
    // A message id of another chat, or of none, is no position in this one.
    for m in [other_msg, json!(999_999)] {
        let got =
            d.u1.post(
                "/api/chat/mark_read",
                json!({"chat_id": d.chat_u1, "message_id": m}),
            )
            .await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(d.snapshot().await, before);
}

#[tokio::test]
async fn bad_query_parameters() {
    let d = Desk::new().await;
    let c = d.chat_u1;
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            "/api/chat/messages?chat_id=abc".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/messages".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/messages?chat_id=".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&limit=0"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&limit=101"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&limit=-5"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&limit=ten"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&before=abc"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&after=1.5"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            format!("/api/chat/messages?chat_id={c}&bogus=1"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/details?chat_id=abc".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/details".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?cursor=garbage".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?cursor=2030-01-01T00:00:00Z~abc".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?cursor=yesterday~5".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?cursor=".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?status=archived".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?unassigned=maybe".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?worker_id=abc".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/chat/list?limit=0".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "/api/chat/list?limit=101".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            format!("/api/chat/list?q={}", "q".repeat(201)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "/api/chat/list?sort=asc".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/admin/accounts?role=boss".into(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (path, status, code) in cases {
        let got = d.admin.get(&path).await;
        assert_eq!(got.0, status, "{path}: {}", got.1);
        assert_error(&got, status, code);
    }
    // Limits at the edges are fine.
    for q in ["limit=1", "limit=100"] {
        let (st, b) = d
            .admin
            .get(&format!("/api/chat/messages?chat_id={c}&{q}"))
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let (st, b) = d.admin.get(&format!("/api/chat/list?{q}")).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
}

#[tokio::test]
async fn chat_start_input_rules() {
    let d = Desk::new().await;
    let before = d.snapshot().await;
    let bad_guest_starts = [
        json!({"email": "not-an-email"}),
        json!({"email": "a@b"}),
        json!({"email": "a b@c.com"}),
        json!({"email": format!("{}@example.com", "a".repeat(250))}),
        json!({"name": "Line\nBreak"}),
        json!({"name": "n".repeat(101)}),
        json!({"topic": "t".repeat(201)}),
        json!({"topic": "tab\there"}),
        json!({"message": "   "}),
        json!({"message": "m".repeat(4001)}),
        json!({"client_id": "has space"}),
        json!({"client_id": "c".repeat(65)}),
        json!({"client_id": ""}),
    ];
    for body in &bad_guest_starts {
        let r = send_full(
            d.server
                .anon()
                .request(Method::POST, "/api/chat/start")
                .json(body),
        )
        .await;
        assert_reply(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &body.to_string(),
        );
        assert!(
            r.header_all("set-cookie").is_empty(),
            "{body}: no session cookie"
        );
    }
    // Signed-in users have a name and an email already.
    for body in [
        json!({"name": "Umar"}),
        json!({"email": "u1@t.test"}),
        json!({"name": "", "email": ""}),
    ] {
        let got = d.u1.post("/api/chat/start", body.clone()).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    // Staff do not start chats.
    for who in [&d.admin, &d.w1] {
        let got = who.post("/api/chat/start", json!({"message": "hi"})).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(d.snapshot().await, before, "no chat, no message");
    // No guest session was made either: the next one takes the next id.
    let (_, _, g2) = d.server.guest_chat("Gina", "hi").await;
    assert_eq!(g2, d.guest_id + 1, "no guest was created by the refusals");
    // Blank name and email count as absent; an email is normalised.
    let (st, b) = d
        .server
        .anon()
        .post("/api/chat/start", json!({"name": " ", "email": ""}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["guest"]["name"], Value::Null);
    let (st, b) = d
        .server
        .anon()
        .post(
            "/api/chat/start",
            json!({"name": " Ann ", "email": " Ann@Example.COM "}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["guest"]["name"], "Ann");
    assert_eq!(b["guest"]["email"], "ann@example.com");
}

#[tokio::test]
async fn account_creation_input_rules() {
    let d = Desk::new().await;
    let before = d.snapshot().await;
    let ok =
        json!({"role": "worker", "email": "new@t.test", "name": "New", "password": "long enough"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    for (body, status, code) in [
        (
            with("email", json!("nope")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            with("name", json!("  ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            with("password", json!("short")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            with("role", json!("guest")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            with("role", json!("superuser")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            with("email", json!("W1@T.TEST")),
            StatusCode::CONFLICT,
            "conflict",
        ),
    ] {
        let got = d.admin.post("/api/admin/accounts", body.clone()).await;
        assert_eq!(got.0, status, "{body}: {}", got.1);
        assert_error(&got, status, code);
    }
    assert_eq!(d.snapshot().await, before);
    let (st, b) = d.admin.post("/api/admin/accounts", ok).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["account"]["active"], true);
    let (st, b) = d
        .server
        .anon()
        .post(
            "/api/auth/login",
            json!({"email": "new@t.test", "password": "long enough"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let c = Client::new(&d.server.base, b["token"].as_str().map(String::from));
    let (st, me) = c.get("/api/me").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["role"], "worker");
}

async fn page(c: &Client, chat: i64, q: &str) -> (Vec<Value>, bool) {
    let (st, b) = c
        .get(&format!("/api/chat/messages?chat_id={chat}{q}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{q}: {b}");
    (
        b["messages"].as_array().expect("messages").clone(),
        b["has_more"] == true,
    )
}

fn texts(ms: &[Value]) -> Vec<String> {
    ms.iter()
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect()
}

fn ids(ms: &[Value]) -> Vec<i64> {
    ms.iter()
        .map(|m| m["message_id"].as_i64().expect("id"))
        .collect()
}

fn numbered(r: std::ops::Range<usize>) -> Vec<String> {
    r.map(|i| format!("m{i:03}")).collect()
}

#[tokio::test]
async fn message_pagination_edges() {
    let d = Desk::new().await;
    let chat = d.start_chat(&d.u1, "long story", None).await;
    let (first, has_more) = page(&d.u1, chat, "").await;
    assert!(
        first.is_empty() && !has_more,
        "a new chat without a message is empty"
    );
    for i in 0..120 {
        let (st, b) = d.u1.send_message(chat, &format!("m{i:03}")).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    // The default page: the newest 50, oldest first.
    let (p1, more) = page(&d.u1, chat, "").await;
    assert_eq!(texts(&p1), numbered(70..120));
    assert!(more);
    // Walking back with `before`.
    let mut walked = p1.clone();
    let mut pages = vec![(p1.len(), more)];
    let mut oldest = p1[0]["message_id"].as_i64().expect("id");
    loop {
        let (p, more) = page(&d.u1, chat, &format!("&before={oldest}")).await;
        pages.push((p.len(), more));
        if p.is_empty() {
            break;
        }
        oldest = p[0]["message_id"].as_i64().expect("id");
        let mut p = p;
        p.extend(walked);
        walked = p;
        if !more {
            break;
        }
    }
    assert_eq!(pages, vec![(50, true), (50, true), (20, false)]);
    assert_eq!(
        texts(&walked),
        numbered(0..120),
        "no duplicates, no gaps, in order"
    );
    let all_ids = ids(&walked);
    assert!(all_ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all_ids.iter().collect::<HashSet<_>>().len(), 120);
    // Before the very first: nothing.
    let (p, more) = page(&d.u1, chat, &format!("&before={}", all_ids[0])).await;
    assert!(p.is_empty() && !more);
    // After the newest: nothing.
    let (p, more) = page(&d.u1, chat, &format!("&after={}", all_ids[119])).await;
    assert!(p.is_empty() && !more);
    // Forwards with `after` and `limit`: oldest-first pages, the last one exactly full.
    let mut after = 0;
    let mut forward = Vec::new();
    let mut flags = Vec::new();
    loop {
        let (p, more) = page(&d.u1, chat, &format!("&after={after}&limit=40")).await;
        flags.push((p.len(), more));
        if let Some(last) = p.last() {
            after = last["message_id"].as_i64().expect("id");
        }
        forward.extend(p);
        if !more {
            break;
        }
    }
    assert_eq!(flags, vec![(40, true), (40, true), (40, false)]);
    assert_eq!(ids(&forward), all_ids);
    // A window between two ids.
    let (p, more) = page(
        &d.u1,
        chat,
        &format!("&after={}&before={}", all_ids[9], all_ids[20]),
    )
    .await;
    assert_eq!(texts(&p), numbered(10..20));
    assert!(!more);
    // Page sizes at the edges.
    let (p, more) = page(&d.u1, chat, "&limit=1").await;
    assert_eq!(texts(&p), numbered(119..120));
    assert!(more);
    let (p, more) = page(&d.u1, chat, &format!("&limit=1&before={}", all_ids[1])).await;
    assert_eq!(texts(&p), numbered(0..1));
    assert!(!more, "the very first message, and nothing older");
    let (p, more) = page(&d.u1, chat, "&limit=100").await;
    assert_eq!(texts(&p), numbered(20..120));
    assert!(more);
    let (p, more) = page(&d.u1, chat, &format!("&limit=100&before={}", all_ids[20])).await;
    assert_eq!(texts(&p), numbered(0..20));
    assert!(!more);
    // An exact split: two pages of 60.
    let (p, more) = page(&d.u1, chat, "&limit=60").await;
    assert_eq!(texts(&p), numbered(60..120));
    assert!(more);
    let (p, more) = page(&d.u1, chat, &format!("&limit=60&before={}", all_ids[60])).await;
    assert_eq!(texts(&p), numbered(0..60));
    assert!(!more, "nothing beyond an exactly full last page");
    let (p, more) = page(&d.u1, chat, "&after=0&limit=100").await;
    assert_eq!(p.len(), 100);
    assert!(more);
    // Another chat's ids do not pull its messages in.
    let (p, _) = page(&d.u1, d.chat_u1, &format!("&after={}", all_ids[0] - 1)).await;
    assert!(p.iter().all(|m| m["chat_id"] == d.chat_u1));
}

#[tokio::test]
async fn chat_list_pagination_follows_the_cursor() {
    let d = Desk::new().await;
    // Seven chats: the desk's three and four more of u2's.
    for i in 0..4 {
        d.start_chat(&d.u2, &format!("extra {i}"), Some("more"))
            .await;
    }
    // An old chat comes back to the top.
    let (st, _) = d.u2.send_message(d.chat_u2, "bump").await;
    assert_eq!(st, StatusCode::CREATED);
    let walk = |c: Client, limit: usize, extra: &'static str| async move {
        let mut seen: Vec<Value> = Vec::new();
        let mut sizes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![("limit".to_owned(), limit.to_string())];
            if let Some(cur) = &cursor {
                q.push(("cursor".into(), cur.clone()));
            }
            if !extra.is_empty() {
                let (k, v) = extra.split_once('=').expect("k=v");
                q.push((k.into(), v.into()));
            }
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (st, b) = c.get_query("/api/chat/list", &q).await;
            assert_eq!(st, StatusCode::OK, "{b}");
            let chats = b["chats"].as_array().expect("chats").clone();
            sizes.push(chats.len());
            seen.extend(chats);
            match b["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert!(b["next_cursor"].is_null(), "{b}");
                    break;
                }
            }
            assert!(sizes.len() < 20, "the cursor must end");
        }
        (seen, sizes)
    };
    let (all, sizes) = walk(d.admin.clone(), 3, "").await;
    assert_eq!(sizes, vec![3, 3, 1]);
    let got: Vec<i64> = all
        .iter()
        .map(|c| c["chat_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(
        got.iter().collect::<HashSet<_>>().len(),
        7,
        "each chat once: {got:?}"
    );
    assert_eq!(got[0], d.chat_u2, "the chat written in last comes first");
    let keys: Vec<(String, i64)> = all
        .iter()
        .map(|c| {
            (
                c["updated_at"].as_str().expect("t").to_owned(),
                c["chat_id"].as_i64().expect("id"),
            )
        })
        .collect();
    let times: Vec<time::OffsetDateTime> = keys
        .iter()
        .map(|(t, _)| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .expect("time")
        })
        .collect();
    for (i, w) in times.windows(2).enumerate() {
        assert!(
            w[0] > w[1] || (w[0] == w[1] && keys[i].1 > keys[i + 1].1),
            "updated_at desc: {keys:?}"
        );
    }
    // The same order as one big page.
    let (st, one) = d.admin.get("/api/chat/list?limit=100").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(chat_ids(&one), got);
    assert!(one["next_cursor"].is_null());
    // An exactly full page has no next page.
    let (seen, sizes) = walk(d.admin.clone(), 7, "").await;
    assert_eq!((seen.len(), sizes), (7, vec![7]));
    let (_, sizes) = walk(d.admin.clone(), 1, "").await;
    assert_eq!(sizes, vec![1; 7]);
    // Within a role's scope, and with a filter.
    let (seen, sizes) = walk(d.u2.clone(), 2, "").await;
    assert_eq!(sizes, vec![2, 2, 1]);
    assert!(seen.iter().all(|c| c["user_id"] == d.u2_id));
    let (seen, _) = walk(d.admin.clone(), 2, "status=pending").await;
    assert_eq!(seen.len(), 7, "all seven are still pending");
}

#[tokio::test]
async fn retries_with_a_client_id_are_stored_once() {
    let d = Desk::new().await;
    let c = d.chat_u1;
    let before = d.all_messages(c).await.len();
    let send = |who: Client, text: &'static str, id: &'static str| async move {
        who.post(
            "/api/chat/send_message",
            json!({"chat_id": c, "message": text, "client_id": id}),
        )
        .await
    };
    let (st, first) = send(d.u1.clone(), "only once", "retry-1").await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["message"]["client_id"], "retry-1");
    let (st, again) = send(d.u1.clone(), "only once", "retry-1").await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        again["message"]["message_id"],
        first["message"]["message_id"]
    );
    assert_eq!(
        again["message"], first["message"],
        "the stored message, unchanged"
    );
    // A retry with other text is still the same message.
    let (st, other) = send(d.u1.clone(), "changed my mind", "retry-1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(other["message"]["message"], "only once");
    assert_eq!(
        d.all_messages(c).await.len(),
        before + 1,
        "one message stored"
    );
    // Another sender's id is their own.
    let (st, w) = send(d.w1.clone(), "staff reply", "retry-1").await;
    assert_eq!(st, StatusCode::CREATED, "{w}");
    assert_ne!(w["message"]["message_id"], first["message"]["message_id"]);
    // Concurrent retries still store one.
    let results =
        futures_util::future::join_all((0..5).map(|_| send(d.u1.clone(), "burst", "burst-1")))
            .await;
    assert_eq!(
        results
            .iter()
            .filter(|r| r.0 == StatusCode::CREATED)
            .count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r.1["message"]["message_id"] == results[0].1["message"]["message_id"])
    );
    assert_eq!(d.all_messages(c).await.len(), before + 3);

    // Starting a chat: the same client id gives the same chat.
    let (st, a) =
        d.u2.post(
            "/api/chat/start",
            json!({"topic": "once", "message": "first", "client_id": "start-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, b) =
        d.u2.post(
            "/api/chat/start",
            json!({"topic": "once", "message": "first", "client_id": "start-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(a["chat"]["chat_id"], b["chat"]["chat_id"]);
    assert_eq!(a["message"]["message_id"], b["message"]["message_id"]);
    let (_, l) = d.u2.get("/api/chat/list").await;
    assert_eq!(chat_ids(&l).len(), 2, "u2 has its desk chat and one more");
    // Another customer's same id is another chat; so is a guest's.
    let (st, x) =
        d.u1.post("/api/chat/start", json!({"client_id": "start-1"}))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{x}");
    assert_ne!(x["chat"]["chat_id"], a["chat"]["chat_id"]);
    let (st, g1) = d
        .guest
        .post("/api/chat/start", json!({"client_id": "start-1"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g1}");
    let (st, g2) = d
        .guest
        .post("/api/chat/start", json!({"client_id": "start-1"}))
        .await;
    assert_eq!(st, StatusCode::OK, "{g2}");
    assert_eq!(g1["chat"]["chat_id"], g2["chat"]["chat_id"]);
    assert_eq!(
        g2["guest_token"],
        Value::Null,
        "no new guest session on a retry"
    );
}

/// The schema of `r`: itself, or the component it refers to.
fn resolve<'a>(doc: &'a Value, r: &'a Value) -> &'a Value {
    match r["$ref"].as_str() {
        Some(path) => {
            let name = path.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => r,
    }
}

fn is_string(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// The OpenAPI document gives every input its real limits, so a client generated from it
/// sends what the server accepts: each string a request carries has a `maxLength` (or is an
/// enum), each page size its range; and at each documented limit the server agrees.
#[tokio::test]
async fn openapi_declares_the_limits_the_api_enforces() {
    let s = TestServer::start().await;
    let (st, doc) = s.anon().get("/api/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    let mut checked = 0;
    let mut missing = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if !body.is_null() {
                let schema = resolve(&doc, body);
                for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
                    let prop = resolve(&doc, prop);
                    if is_string(prop) && prop["enum"].is_null() {
                        checked += 1;
                        if prop["maxLength"].as_u64().is_none() {
                            missing.push(format!("{method} {path} body.{field}"));
                        }
                    }
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or_default();
                let schema = resolve(&doc, &p["schema"]);
                if is_string(schema) && schema["enum"].is_null() {
                    checked += 1;
                    if schema["maxLength"].is_null() && schema["pattern"].is_null() {
                        missing.push(format!("{method} {path} ?{name}"));
                    }
                }
                if name == "limit" {
                    assert_eq!(schema["minimum"], 1, "{method} {path} ?limit");
                    assert_eq!(schema["maximum"], 100, "{method} {path} ?limit");
                }
            }
        }
    }
    assert!(checked > 20, "walked the document: {checked} strings");
    assert_eq!(missing, Vec::<String>::new(), "strings without limits");

    // The numbers are the rules' own.
    let schemas = &doc["components"]["schemas"];
    let max = |s: &str, f: &str| schemas[s]["properties"][f]["maxLength"].as_u64();
    use chat_core::validate::{self, *};
    assert_eq!(
        max("SendRequest", "message"),
        Some(MAX_MESSAGE_CHARS as u64)
    );
    assert_eq!(max("StartRequest", "topic"), Some(MAX_TOPIC_CHARS as u64));
    assert_eq!(max("StartRequest", "name"), Some(MAX_NAME_CHARS as u64));
    assert_eq!(max("StartRequest", "email"), Some(MAX_EMAIL_CHARS as u64));
    assert_eq!(
        max("StartRequest", "client_id"),
        Some(MAX_CLIENT_ID_CHARS as u64)
    );
    assert_eq!(
        max("CreateAccountRequest", "password"),
        Some(MAX_PASSWORD_CHARS as u64)
    );
    for s in ["NewCannedReply", "CannedReplyChange"] {
        assert_eq!(max(s, "text"), Some(MAX_MESSAGE_CHARS as u64), "{s}");
        assert_eq!(
            max(s, "shortcut"),
            Some(MAX_SHORTCUT_CHARS as u64 + 1),
            "{s}, with its /"
        );
    }
    let prefs = &schemas["Preferences"]["properties"];
    assert_eq!(prefs["email_delay_secs"]["maximum"], 604800);
    assert_eq!(prefs["quiet_start_hour"]["maximum"], 23);

    // The patterns say what the rules say.
    let pattern = |s: &str, f: &str| {
        let p = schemas[s]["properties"][f]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{s}.{f} has a pattern"));
        regex::Regex::new(p).expect("a pattern the regex crate reads")
    };
    let message = pattern("SendRequest", "message");
    for ok in ["hi", "two\nlines", "\ttabbed ", "ünïcödé 🚗"] {
        assert!(message.is_match(ok), "{ok:?}");
        assert!(validate::message_text(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", "   ", " \n ", "nul\u{0}", "bell\u{7}"] {
        assert!(!message.is_match(bad), "{bad:?}");
        assert!(validate::message_text(bad).is_err(), "{bad:?}");
    }
    let shortcut = pattern("NewCannedReply", "shortcut");
    for ok in ["tyres", "/Tyres", "a", "oil_2-x", &"z".repeat(32)] {
        assert!(shortcut.is_match(ok), "{ok:?}");
        assert!(validate::canned_shortcut(ok).is_ok(), "{ok:?}");
    }
    for bad in [
        "",
        "/",
        "//x",
        "two words",
        "ümlaut",
        "\u{212A}elvin",
        &"z".repeat(33),
    ] {
        assert!(!shortcut.is_match(bad), "{bad:?}");
        assert!(validate::canned_shortcut(bad).is_err(), "{bad:?}");
    }
    let name = pattern("StartRequest", "name");
    for ok in ["Greta Guest", "李"] {
        assert!(name.is_match(ok) && validate::name(ok).is_ok(), "{ok:?}");
    }
    for bad in ["  ", "two\nlines", "tab\u{1b}"] {
        assert!(
            !name.is_match(bad) && validate::name(bad).is_err(),
            "{bad:?}"
        );
    }
    let email = pattern("StartRequest", "email");
    for ok in ["a@b.co", "first.last@garage.example"] {
        assert!(email.is_match(ok) && validate::email(ok).is_ok(), "{ok:?}");
    }
    for bad in ["a@b", "@b.co", "a b@c.de", "a@.b.co", "a@b.co."] {
        assert!(
            !email.is_match(bad) && validate::email(bad).is_err(),
            "{bad:?}"
        );
    }
    let cid = pattern("SendRequest", "client_id");
    assert!(cid.is_match("web-1:abc.def_9") && !cid.is_match("has space"));

    // At each limit the server agrees with the document: the limit passes, one more fails.
    let limits = [
        ("message", MAX_MESSAGE_CHARS, "m"),
        ("topic", MAX_TOPIC_CHARS, "t"),
        ("name", MAX_NAME_CHARS, "n"),
        ("client_id", MAX_CLIENT_ID_CHARS, "c"),
    ];
    for (field, n, fill) in limits {
        for (len, want) in [
            (n, StatusCode::CREATED),
            (n + 1, StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let mut body = json!({"message": "hello"});
            body[field] = json!(fill.repeat(len));
            let (st, b) = s.anon().post("/api/chat/start", body).await;
            assert_eq!(st, want, "{field} of {len}: {b}");
        }
    }
    let long_email = |n: usize| format!("{}@garage.test", "e".repeat(n - "@garage.test".len()));
    for (len, want) in [
        (MAX_EMAIL_CHARS, StatusCode::CREATED),
        (MAX_EMAIL_CHARS + 1, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (st, b) = s
            .anon()
            .post(
                "/api/chat/start",
                json!({"message": "hi", "email": long_email(len)}),
            )
            .await;
        assert_eq!(st, want, "email of {len}: {b}");
    }
}

/// Every answer carries a request id (`X-Request-Id`), every error body names it, and a
/// proxy's own well-formed id is kept while a malformed one is replaced.
#[tokio::test]
async fn every_answer_has_a_request_id_and_errors_quote_it() {
    let s = TestServer::start().await;
    let c = s.anon();
    let ok = send_full(c.request(Method::GET, "/healthz")).await;
    let id = ok.header_all("x-request-id");
    assert_eq!(id.len(), 1, "one id header");
    assert!(
        id[0].len() >= 8 && id[0].chars().all(|ch| ch.is_ascii_alphanumeric()),
        "{id:?}"
    );

    let err = send_full(c.request(Method::GET, "/api/chat/details?chat_id=1")).await;
    assert_eq!(err.status, StatusCode::UNAUTHORIZED);
    let header = err.header_all("x-request-id");
    let body: Value = serde_json::from_str(&err.raw).expect("json");
    assert_eq!(body["error"]["request_id"], header[0].as_str(), "{body}");
    assert_ne!(header[0], id[0], "each request its own");

    let kept = send_full(
        c.request(Method::GET, "/api/nope")
            .header("x-request-id", "edge-7f3a.42"),
    )
    .await;
    assert_eq!(kept.header_all("x-request-id"), ["edge-7f3a.42"]);
    let body: Value = serde_json::from_str(&kept.raw).expect("json");
    assert_eq!(body["error"]["request_id"], "edge-7f3a.42");
    let replaced = send_full(
        c.request(Method::GET, "/healthz")
            .header("x-request-id", "bad id\twith <junk>"),
    )
    .await;
    let got = replaced.header_all("x-request-id");
    assert!(!got[0].contains(' ') && !got[0].contains('<'), "{got:?}");
}
