//! Webhooks through a real HTTP receiver on 127.0.0.1 that checks every signature the way
//! docs/webhooks.md tells a site to: each event type with its payload, a secret rotation,
//! a receiver that is down for a while (answering 503, or not listening at all), a server
//! restart with deliveries pending, giving up after the age limit, and the admin-only log.

use crate::support::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chat_core::AccountRole;
use hmac::{Hmac, Mac};
use nati_chat::config::{Settings, WebhookEndpoint};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    id: String,
    /// What the receiver answered.
    answered: u16,
    body: Value,
    /// How many `v1,` signatures the header carried.
    signatures: usize,
}

/// A webhook receiver: verifies each request independently of the server's code, records
/// it, and answers with the status it is set to.
#[derive(Clone)]
pub(crate) struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Requests whose signature or timestamp did not verify.
    bad: Arc<Mutex<Vec<String>>>,
    answer: Arc<AtomicU16>,
    keys: Arc<Vec<Vec<u8>>>,
    /// While set, requests are counted and never answered (a receiver that hangs).
    stall: Arc<std::sync::atomic::AtomicBool>,
    stalled: Arc<std::sync::atomic::AtomicUsize>,
}

/// Verify a Standard Webhooks request: every secret we know must have produced one of the
/// `v1,` signatures over `{id}.{timestamp}.{body}`, and the timestamp must be recent.
fn verify(keys: &[Vec<u8>], headers: &HeaderMap, body: &[u8]) -> Result<(String, usize), String> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(format!("no {n}"))
    };
    let (id, ts, sig) = (
        h("webhook-id")?,
        h("webhook-timestamp")?,
        h("webhook-signature")?,
    );
    let ts_n: i64 = ts.parse().map_err(|_| "bad timestamp".to_owned())?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - ts_n).abs() > 300 {
        return Err("timestamp too far from now".into());
    }
    let given: Vec<&str> = sig
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .collect();
    let mut signed = Vec::new();
    signed.extend_from_slice(format!("{id}.{ts}.").as_bytes());
    signed.extend_from_slice(body);
    for key in keys {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
        mac.update(&signed);
        let expected = B64.encode(mac.finalize().into_bytes());
        if !given.contains(&expected.as_str()) {
            return Err(format!("no signature verifies with a known key: {sig}"));
        }
    }
    if h("content-type")? != "application/json" {
        return Err("not JSON".into());
    }
    Ok((id, given.len()))
}

fn key(secret: &str) -> Vec<u8> {
    B64.decode(secret.trim_start_matches("whsec_"))
        .expect("base64 secret")
}

impl Receiver {
    fn new(secrets: &[&str]) -> Receiver {
        Receiver {
            hits: Arc::default(),
            bad: Arc::default(),
            answer: Arc::new(AtomicU16::new(200)),
            keys: Arc::new(secrets.iter().map(|s| key(s)).collect()),
            stall: Arc::default(),
            stalled: Arc::default(),
        }
    }

    /// Serve on `listener` until the returned sender is dropped or fired.
    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::sync::oneshot::Sender<()> {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move {
                    if me.stall.load(Ordering::SeqCst) {
                        me.stalled.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await;
                    }
                    match verify(&me.keys, &headers, &body) {
                        Ok((id, signatures)) => {
                            let answered = me.answer.load(Ordering::SeqCst);
                            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            me.hits.lock().expect("hits").push(Hit {
                                id,
                                answered,
                                body,
                                signatures,
                            });
                            AxStatus::from_u16(answered).unwrap_or(AxStatus::OK)
                        }
                        Err(e) => {
                            me.bad.lock().expect("bad").push(e);
                            AxStatus::BAD_REQUEST
                        }
                    }
                }
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        tx
    }

    pub(crate) async fn start(
        secrets: &[&str],
    ) -> (Receiver, String, tokio::sync::oneshot::Sender<()>) {
        let r = Receiver::new(secrets);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let stop = r.serve(listener);
        (r, url, stop)
    }

    /// The events answered with 2xx, in arrival order, one per id.
    pub(crate) fn accepted(&self) -> Vec<Hit> {
        let hits = self.hits.lock().expect("hits");
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for h in hits.iter().filter(|h| (200..300).contains(&h.answered)) {
            assert!(
                seen.insert(h.id.clone()),
                "{} accepted twice: {:?}",
                h.id,
                h.body
            );
            out.push(h.clone());
        }
        out
    }

    fn of_type(&self, t: &str) -> Vec<Value> {
        self.accepted()
            .into_iter()
            .filter(|h| h.body["type"] == t)
            .map(|h| h.body)
            .collect()
    }

    /// Wait until `ok` holds for the accepted events (15 s at most).
    pub(crate) async fn wait(&self, what: &str, ok: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        for _ in 0..300 {
            let got = self.accepted();
            if ok(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let bodies: Vec<_> = self.accepted().into_iter().map(|h| h.body).collect();
        panic!("timed out waiting for {what}; accepted: {bodies:#?}");
    }

    pub(crate) fn assert_all_verified(&self) {
        let bad = self.bad.lock().expect("bad");
        assert!(bad.is_empty(), "signatures that did not verify: {bad:?}");
    }
}

fn hook_settings(s: &mut Settings, url: &str, secrets: &[&str]) {
    s.webhooks = vec![WebhookEndpoint {
        name: "bell".into(),
        url: url.to_owned(),
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        events: Vec::new(),
    }];
    s.webhook_poll_millis = 50;
    s.webhook_retry_base_millis = 100;
    s.webhook_retry_max_secs = 1;
    s.webhook_timeout_millis = 2000;
    s.guest_email_delay_secs = 1;
}

async fn deliveries(admin: &Client, query: &str) -> Vec<Value> {
    let (st, b) = admin
        .get(&format!("/api/admin/webhooks/deliveries?limit=100{query}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["deliveries"].as_array().cloned().unwrap_or_default()
}

/// Wait until the log has at least `n` rows matching `query` (15 s at most).
async fn wait_log(admin: &Client, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let rows = deliveries(admin, query).await;
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} deliveries with {query}");
}

/// Per chat, the accepted events in arrival order, as `type:detail`.
pub(crate) fn per_chat(hits: &[Hit]) -> BTreeMap<i64, Vec<Value>> {
    let mut out: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for h in hits {
        if let Some(c) = h.body["data"]["chat_id"].as_i64() {
            out.entry(c).or_default().push(h.body.clone());
        }
    }
    out
}

/// Each chat's story arrives in order: started first, messages in id order.
pub(crate) fn assert_in_order(hits: &[Hit]) {
    for (chat, events) in per_chat(hits) {
        assert_eq!(
            events[0]["type"], "chat.started",
            "chat {chat} starts with chat.started: {events:#?}"
        );
        let ids: Vec<i64> = events
            .iter()
            .filter(|e| e["type"] == "message.created")
            .filter_map(|e| e["data"]["message_id"].as_i64())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "chat {chat}: messages in order");
    }
}

#[tokio::test]
async fn every_event_type_arrives_signed_with_its_payload() {
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    let server = TestServer::start_with(|s| hook_settings(s, &url, &[SECRET])).await;
    let d = Desk::on(server).await;
    // The user turned email off; the bell still hears about missed messages.
    let (_, mut p) = d.u1.get("/api/me/preferences").await;
    p["email_enabled"] = json!(false);
    p["email_delay_secs"] = json!(1);
    let (st, b) = d.u1.put("/api/me/preferences", p).await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let (_, sent) = d.w1.send_message(d.chat_u1, "your car is ready").await;
    let worker_message = sent["message"]["message_id"].as_i64().expect("id");
    d.assign(d.chat_u1, d.w2_id).await;
    let (st, _) = d.guest.post("/api/auth/logout", json!({})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    rx.wait("every event type", |hits| {
        let types: std::collections::HashSet<&str> = hits
            .iter()
            .filter_map(|h| h.body["type"].as_str())
            .collect();
        [
            "chat.started",
            "message.created",
            "chat.assigned",
            "chat.status_changed",
            "message.missed",
            "guest.expired",
        ]
        .iter()
        .all(|t| types.contains(t))
            && hits
                .iter()
                .filter(|h| h.body["type"] == "chat.status_changed")
                .count()
                >= 2
    })
    .await;
    rx.assert_all_verified();

    let started = rx.of_type("chat.started");
    assert_eq!(started.len(), 3, "{started:#?}");
    assert!(
        started.iter().any(|e| e["data"]
            == json!({"chat_id": d.chat_u1, "customer": {"role": "user", "id": d.u1_id}}))
    );
    assert!(started.iter().any(|e| e["data"]
        == json!({"chat_id": d.chat_g, "customer": {"role": "guest", "id": d.guest_id}})));
    for e in &started {
        assert!(e["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    let messages = rx.of_type("message.created");
    let worker = messages
        .iter()
        .find(|e| e["data"]["message_id"] == worker_message)
        .expect("the worker's message");
    assert_eq!(
        worker["data"],
        json!({"chat_id": d.chat_u1, "message_id": worker_message, "sender": {"role": "worker", "id": d.w1_id}})
    );
    assert!(
        !messages
            .iter()
            .any(|e| e.to_string().contains("your car is ready")),
        "no message text in payloads"
    );
    assert!(
        messages
            .iter()
            .all(|e| e["data"]["sender"]["role"] != "system"),
        "system notes are not message.created"
    );

    let assigned = rx.of_type("chat.assigned");
    assert_eq!(assigned.len(), 2, "{assigned:#?}");
    assert_eq!(
        assigned[0]["data"]["worker"],
        json!({"role": "worker", "id": d.w1_id})
    );
    assert_eq!(assigned[0]["data"]["previous_worker"], Value::Null);
    assert_eq!(
        assigned[1]["data"]["worker"],
        json!({"role": "worker", "id": d.w2_id})
    );
    assert_eq!(
        assigned[1]["data"]["previous_worker"],
        json!({"role": "worker", "id": d.w1_id})
    );
    assert_eq!(
        assigned[1]["data"]["assigned_by"],
        json!({"role": "admin", "id": d.admin_id})
    );

    let changed = rx.of_type("chat.status_changed");
    assert!(changed.iter().any(|e| e["data"]
        == json!({"chat_id": d.chat_u1, "previous_status": "pending", "status": "open"})));
    assert!(changed.iter().any(|e| e["data"]
        == json!({"chat_id": d.chat_g, "previous_status": "pending", "status": "closed"})));

    let missed = rx.of_type("message.missed");
    assert!(
        missed.iter().any(|e| e["data"]
            == json!({"chat_id": d.chat_u1, "message_id": worker_message, "recipient": {"role": "user", "id": d.u1_id}})),
        "{missed:#?}"
    );

    let expired = rx.of_type("guest.expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0]["data"],
        json!({"guest": {"role": "guest", "id": d.guest_id}})
    );

    assert_in_order(&rx.accepted());
    // The log shows them delivered, with the answer's status.
    let log = wait_log(&d.admin, "&status=delivered", rx.accepted().len()).await;
    assert!(
        log.iter()
            .all(|r| r["last_status_code"] == 200 && r["endpoint"] == "bell")
    );
}

#[tokio::test]
async fn a_message_read_in_time_is_not_missed() {
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    let server = TestServer::start_with(|s| hook_settings(s, &url, &[SECRET])).await;
    let d = Desk::on(server).await;
    let (_, sent) = d.admin.send_message(d.chat_g, "hello guest").await;
    let id = sent["message"]["message_id"].as_i64().expect("id");
    let (st, _) = d
        .guest
        .post("/api/chat/mark_read", json!({"chat_id": d.chat_g}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let cancelled = wait_log(&d.admin, "&status=cancelled", 1).await;
    assert_eq!(cancelled[0]["type"], "message.missed");
    assert_eq!(cancelled[0]["last_error"], "read in time");
    assert!(
        rx.of_type("message.missed")
            .iter()
            .all(|e| e["data"]["message_id"] != id)
    );
}

#[tokio::test]
async fn a_private_note_is_no_webhook_and_no_missed_message() {
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    let server = TestServer::start_with(|s| hook_settings(s, &url, &[SECRET])).await;
    let d = Desk::on(server).await;
    // u1 is told of a missed message after a second.
    let (_, mut p) = d.u1.get("/api/me/preferences").await;
    p["email_delay_secs"] = json!(1);
    let (st, b) = d.u1.put("/api/me/preferences", p).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) =
        d.w1.post(
            "/api/chat/send_message",
            json!({"chat_id": d.chat_u1, "message": "note", "private": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let note = b["message"]["message_id"].as_i64().expect("id");
    let (_, sent) = d.w1.send_message(d.chat_u1, "public").await;
    let public = sent["message"]["message_id"].as_i64().expect("id");
    let hits = rx
        .wait("the public message, created and missed", |hits| {
            hits.iter().any(|h| {
                h.body["type"] == "message.missed" && h.body["data"]["chat_id"] == d.chat_u1
            })
        })
        .await;
    let about: Vec<(String, i64)> = hits
        .iter()
        .filter(|h| h.body["data"]["chat_id"] == d.chat_u1)
        .filter_map(|h| {
            Some((
                h.body["type"].as_str()?.to_owned(),
                h.body["data"]["message_id"].as_i64()?,
            ))
        })
        .collect();
    assert!(
        about.contains(&("message.created".into(), public)),
        "{about:?}"
    );
    assert!(
        about.contains(&("message.missed".into(), public)),
        "the missed message is the public one, not the note: {about:?}"
    );
    assert!(about.iter().all(|(_, id)| *id != note), "{about:?}");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_every_delivery() {
    // The receiver knows both secrets and requires each to verify.
    let (rx, url, _stop) = Receiver::start(&[SECRET, NEW_SECRET]).await;
    let server = TestServer::start_with(|s| hook_settings(s, &url, &[SECRET, NEW_SECRET])).await;
    let (_guest, _chat, _) = server.guest_chat("Gina", "hello").await;
    let hits = rx.wait("two deliveries", |h| h.len() >= 2).await;
    rx.assert_all_verified();
    assert!(hits.iter().all(|h| h.signatures == 2));
    // A receiver that has only the old, or only the new, secret accepts them too.
    for only in [SECRET, NEW_SECRET] {
        let (rx1, url1, _stop1) = Receiver::start(&[only]).await;
        let server =
            TestServer::start_with(|s| hook_settings(s, &url1, &[SECRET, NEW_SECRET])).await;
        server.guest_chat("Gina", "hello").await;
        rx1.wait("a delivery", |h| !h.is_empty()).await;
        rx1.assert_all_verified();
    }
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_everything_once_in_order() {
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    rx.answer.store(503, Ordering::SeqCst);
    let server = TestServer::start_with(|s| {
        hook_settings(s, &url, &[SECRET]);
        s.webhooks[0].events = vec!["chat.started".into(), "message.created".into()];
    })
    .await;
    let (guest, chat, _) = server.guest_chat("Gina", "one").await;
    let (guest2, chat2, _) = server.guest_chat("Gus", "uno").await;
    for (n, (c, id)) in [(&guest, chat), (&guest2, chat2)].into_iter().enumerate() {
        for i in 0..4 {
            let (st, b) = c.send_message(id, &format!("message {n}.{i}")).await;
            assert_eq!(st, StatusCode::CREATED, "{b}");
        }
    }
    // It failed a few times: the log shows the 503s, and nothing was accepted.
    let (admin, _) = server
        .account(AccountRole::Admin, "admin@t.test", "Ada")
        .await;
    let mut seen_503 = false;
    for _ in 0..200 {
        let pending = deliveries(&admin, "&status=pending").await;
        if pending
            .iter()
            .any(|r| r["last_status_code"] == 503 && r["attempts"].as_i64() >= Some(1))
        {
            seen_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_503, "the log shows the refused attempts");
    assert!(rx.accepted().is_empty());
    // Back up: everything arrives, once per id, in order per chat.
    rx.answer.store(200, Ordering::SeqCst);
    let hits = rx.wait("2 starts and 10 messages", |h| h.len() >= 12).await;
    rx.assert_all_verified();
    assert_in_order(&hits);
    let chats = per_chat(&hits);
    assert_eq!(chats[&chat].len(), 6, "{:#?}", chats[&chat]);
    assert_eq!(chats[&chat2].len(), 6);
    // Retries reuse the id: every id that was refused was later accepted exactly once.
    let all = rx.hits.lock().expect("hits").clone();
    let accepted: HashMap<String, usize> = hits.iter().map(|h| (h.id.clone(), 1)).collect();
    assert!(all.iter().all(|h| accepted.contains_key(&h.id)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.accepted().len(), 12, "nothing more, nothing twice");
}

#[tokio::test]
async fn deliveries_pending_across_a_restart_are_not_lost() {
    // Nobody listens on the endpoint's port yet: connections are refused.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = reserved.local_addr().expect("addr");
    drop(reserved);
    let url = format!("http://{addr}/hooks");
    let server = TestServer::start_with(|s| {
        hook_settings(s, &url, &[SECRET]);
        s.webhooks[0].events = vec!["chat.started".into(), "message.created".into()];
    })
    .await;
    let (admin, _) = server
        .account(AccountRole::Admin, "admin@t.test", "Ada")
        .await;
    let (guest, chat, _) = server.guest_chat("Gina", "first").await;
    for i in 0..3 {
        guest.send_message(chat, &format!("then {i}")).await;
    }
    let before = wait_log(&admin, "", 5).await;
    assert_eq!(before.len(), 5, "{before:#?}");
    assert!(before.iter().all(|r| r["status"] != "delivered"));
    for _ in 0..200 {
        if deliveries(&admin, "&status=pending")
            .await
            .iter()
            .any(|r| r["last_error"] == "could not connect")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (dir, settings) = server.stop().await;

    // The receiver comes up; the server starts again on the same database.
    let rx = Receiver::new(&[SECRET]);
    let _stop = rx.serve(tokio::net::TcpListener::bind(addr).await.expect("rebind"));
    let server = TestServer::start_in(dir, settings).await;
    let hits = rx.wait("all five", |h| h.len() >= 5).await;
    rx.assert_all_verified();
    assert_in_order(&hits);
    let admin = server.login("admin@t.test").await;
    let delivered = wait_log(&admin, "&status=delivered", 5).await;
    assert_eq!(delivered.len(), 5);
    let ids: std::collections::HashSet<_> = hits.iter().map(|h| h.id.clone()).collect();
    for r in &delivered {
        assert!(ids.contains(r["webhook_id"].as_str().expect("id")));
    }
}

#[tokio::test]
async fn a_delivery_past_its_age_limit_is_failed_and_admins_alone_see_the_log() {
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    rx.answer.store(500, Ordering::SeqCst);
    let server = TestServer::start_with(|s| {
        hook_settings(s, &url, &[SECRET]);
        s.webhook_max_age_secs = 1;
    })
    .await;
    let d = Desk::on(server).await;
    let failed = wait_log(&d.admin, "&status=failed", 1).await;
    assert_eq!(failed[0]["last_status_code"], 500);
    assert!(
        failed[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("gave up")),
        "{failed:#?}"
    );
    assert!(failed[0]["attempts"].as_i64() >= Some(1));
    let (st, b) = d.admin.get("/api/admin/webhooks").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["endpoints"][0]["name"], "bell");
    assert_eq!(b["endpoints"][0]["secrets"], 1);
    assert!(b["endpoints"][0]["counts"]["failed"].as_i64() >= Some(1));
    assert!(!b.to_string().contains("whsec_"), "secrets never shown");

    // Retry now: once the receiver is back, the failed one is delivered.
    rx.answer.store(200, Ordering::SeqCst);
    let id = failed[0]["id"].as_i64().expect("id");
    let (st, b) = d
        .admin
        .post("/api/admin/webhooks/deliveries/retry", json!({"id": id}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    rx.wait("the retried delivery", |h| {
        h.iter()
            .any(|x| Some(x.id.as_str()) == failed[0]["webhook_id"].as_str())
    })
    .await;
    let again = d
        .admin
        .post("/api/admin/webhooks/deliveries/retry", json!({"id": -1}))
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found");
    let bad = d
        .admin
        .get("/api/admin/webhooks/deliveries?status=lost")
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let bad = d
        .admin
        .get_query("/api/admin/webhooks/deliveries", &[("endpoint", "a\u{0}b")])
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (st, b) = d
        .admin
        .get("/api/admin/webhooks/deliveries?endpoint=elsewhere")
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["deliveries"], json!([]));

    for c in [&d.w1, &d.u1, &d.guest] {
        for path in ["/api/admin/webhooks", "/api/admin/webhooks/deliveries"] {
            assert_error(&c.get(path).await, StatusCode::FORBIDDEN, "forbidden");
        }
        let r = c
            .post("/api/admin/webhooks/deliveries/retry", json!({"id": id}))
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_error(
        &d.server.anon().get("/api/admin/webhooks/deliveries").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

/// The PHP verification function of docs/webhooks.md, exactly as shown there, running in
/// PHP's own server as the receiver. It knows only the new secret of a rotation.
#[tokio::test]
async fn the_documented_php_receiver_verifies_real_deliveries() {
    if std::process::Command::new("php")
        .arg("-v")
        .output()
        .is_err()
    {
        // scripts/test.sh installs php-cli; a bare `cargo test` may lack it.
        eprintln!("skipped: php is not installed");
        return;
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhooks.md"))
        .expect("docs/webhooks.md");
    let start = doc.find("```php\n").expect("a php block") + "```php\n".len();
    let verify = &doc[start..start + doc[start..].find("```").expect("block end")];
    assert!(verify.contains("function nati_verify_webhook"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("nati-webhook.php"), verify).expect("write");
    std::fs::write(
        dir.path().join("router.php"),
        r#"<?php
require __DIR__ . '/nati-webhook.php';
$headers = array_change_key_case(getallheaders(), CASE_LOWER);
$body = file_get_contents('php://input');
try {
    $event = nati_verify_webhook([getenv('HOST_CHAT_WEBHOOK_SECRET')], $headers, $body);
} catch (Throwable $e) {
    file_put_contents(__DIR__ . '/refused.log', $e->getMessage() . "\n", FILE_APPEND | LOCK_EX);
    http_response_code(400);
    exit;
}
file_put_contents(__DIR__ . '/events.log', $headers['webhook-id'] . ' ' . $event['type'] . "\n", FILE_APPEND | LOCK_EX);
http_response_code(204);
"#,
    )
    .expect("write");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _php = Kill(
        std::process::Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "router.php"])
            .current_dir(dir.path())
            .env("HOST_CHAT_WEBHOOK_SECRET", NEW_SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("php -S"),
    );
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "php -S listens");
    let url = format!("http://127.0.0.1:{port}/hook");

    // A forged request is refused.
    let forged = reqwest::Client::new()
        .post(&url)
        .header("webhook-id", "msg_forged")
        .header(
            "webhook-timestamp",
            time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
        )
        .header(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .body("{}")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);

    let server = TestServer::start_with(|s| hook_settings(s, &url, &[SECRET, NEW_SECRET])).await;
    let (admin, _) = server
        .account(AccountRole::Admin, "admin@t.test", "Ada")
        .await;
    server.guest_chat("Gina", "hello").await;
    let delivered = wait_log(&admin, "&status=delivered", 2).await;
    assert!(delivered.iter().all(|r| r["last_status_code"] == 204));
    let log = std::fs::read_to_string(dir.path().join("events.log")).expect("events.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].ends_with(" chat.started") && lines[1].ends_with(" message.created"));
    for r in &delivered {
        assert!(log.contains(r["webhook_id"].as_str().expect("id")));
    }
    let refused = std::fs::read_to_string(dir.path().join("refused.log")).unwrap_or_default();
    assert_eq!(refused.lines().count(), 1, "only the forged one: {refused}");
}

/// People the host site signs in carry the host's id in webhook payloads, so the host's
/// bell can find them by its own keys; guests carry none.
#[tokio::test]
async fn payloads_name_host_signed_people_by_the_host_id() {
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    let server = TestServer::start_with(|s| {
        hook_settings(s, &url, &[SECRET]);
        crate::host::host_settings(s);
    })
    .await;
    let (customer, _) = crate::host::host_login(
        &server,
        "user",
        json!("cust-42"),
        "Carla Customer",
        "carla@shop.test",
    )
    .await;
    let (st, b) = customer
        .post(
            "/api/chat/start",
            json!({"topic": "brakes", "message": "squeaky brakes"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, b) = server
        .anon()
        .post("/api/chat/start", json!({"message": "a guest asks"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let hits = rx
        .wait("two chats started and two messages", |hits| {
            hits.iter()
                .filter(|h| h.body["type"] == "chat.started")
                .count()
                >= 2
                && hits
                    .iter()
                    .filter(|h| h.body["type"] == "message.created")
                    .count()
                    >= 2
        })
        .await;
    let started: Vec<&Value> = hits
        .iter()
        .filter(|h| h.body["type"] == "chat.started")
        .map(|h| &h.body["data"]["customer"])
        .collect();
    assert!(
        started
            .iter()
            .any(|c| c["role"] == "user" && c["host_id"] == "cust-42"),
        "{started:?}"
    );
    assert!(
        started
            .iter()
            .any(|c| c["role"] == "guest" && c.get("host_id").is_none()),
        "{started:?}"
    );
    let senders: Vec<&Value> = hits
        .iter()
        .filter(|h| h.body["type"] == "message.created")
        .map(|h| &h.body["data"]["sender"])
        .collect();
    assert!(
        senders.iter().any(|p| p["host_id"] == "cust-42"),
        "{senders:?}"
    );
    rx.assert_all_verified();
}

/// A node killed while a delivery hangs gives it back as soon as it starts again: the
/// chat's events go out at once, not after the lease (here two minutes) runs out.
#[tokio::test]
async fn a_node_restarted_after_a_crash_mid_send_delivers_at_once() {
    use crate::nodes::Node;
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    rx.stall.store(true, Ordering::SeqCst);
    let hooks = json!([{"name": "bell", "url": url, "secrets": [SECRET],
        "events": ["chat.started", "message.created"]}])
    .to_string();
    let env = [
        ("NATI_WEBHOOKS", hooks),
        ("NATI_WEBHOOK_POLL_MILLIS", "20".to_owned()),
        ("NATI_WEBHOOK_RETRY_BASE_MILLIS", "100".to_owned()),
        // The lease is this plus 60 s: two minutes.
        ("NATI_WEBHOOK_TIMEOUT_MILLIS", "60000".to_owned()),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = std::env::var("NATI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| is_server_url(u));
    let scratch = match &db {
        Some(u) => Some(ScratchDb::create(u, "nati_it_").await.expect("db")),
        None => None,
    };
    let db_url = scratch.as_ref().map(|d| d.url().to_owned());
    let mut first = Node::start_in(dir.path(), db_url.as_deref(), &env);
    let (st, body) = Client::new(&first.base, None)
        .post("/api/chat/start", json!({"message": "hello"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let token = body["guest_token"].as_str().map(String::from);
    let chat = body["chat"]["chat_id"].as_i64().expect("id");
    for _ in 0..300 {
        if rx.stalled.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        rx.stalled.load(Ordering::SeqCst) > 0,
        "the first delivery reached the receiver"
    );
    first.kill();
    rx.stall.store(false, Ordering::SeqCst);
    let second = Node::start_in(dir.path(), db_url.as_deref(), &env);
    let guest = Client::new(&second.base, token);
    let (st, b) = guest.send_message(chat, "still there?").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let later = b["message"]["message_id"].as_i64().expect("id");
    let started = std::time::Instant::now();
    // wait() gives up after 15 s, far below the two-minute lease.
    let hits = rx
        .wait("chat.started and the later message", |h| {
            h.iter().any(|h| {
                h.body["type"] == "message.created" && h.body["data"]["message_id"] == later
            })
        })
        .await;
    rx.assert_all_verified();
    assert_in_order(&hits);
    assert!(
        hits.iter().any(|h| h.body["type"] == "chat.started"),
        "the delivery the crash interrupted went out again"
    );
    println!("delivered {:?} after the restart", started.elapsed());
    drop(second);
    if let Some(d) = scratch {
        d.drop_database().await.expect("drop");
    }
}
