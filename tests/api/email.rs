//! Missed-message email through real SMTP: delays, read-in-time, bursts, preferences,
//! guests, restarts and an SMTP server that is down for a while.

use crate::smtp::SmtpSink;
use crate::support::*;
use chat_core::AccountRole;
use nati_chat::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn mail_settings(s: &mut Settings, sink: &SmtpSink) {
    s.smtp_host = Some("127.0.0.1".into());
    s.smtp_port = sink.addr.port();
    s.smtp_security = nati_chat::config::SmtpSecurity::None;
    s.email_poll_millis = 50;
    s.email_retry_base_secs = 1;
    s.guest_email_delay_secs = 1;
    s.public_url = Some("https://chat.nati.test".into());
}

/// Set one account's email delay (and optionally other preferences).
async fn prefs(c: &Client, delay: i64, patch: Value) {
    let (_, mut p) = c.get("/api/me/preferences").await;
    p["email_delay_secs"] = json!(delay);
    if let Value::Object(m) = patch {
        for (k, v) in m {
            p[k] = v;
        }
    }
    let (st, b) = c.put("/api/me/preferences", p).await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

/// Outbox rows of a status, as admins see them.
async fn outbox(admin: &Client, status: &str) -> Vec<Value> {
    let (st, b) = admin
        .get(&format!("/api/admin/emails?status={status}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["emails"].as_array().cloned().unwrap_or_default()
}

async fn wait_outbox(admin: &Client, status: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let rows = outbox(admin, status).await;
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} `{status}` outbox rows");
}

#[tokio::test]
async fn a_burst_left_unread_becomes_one_email_after_the_delay() {
    let sink = SmtpSink::start().await;
    let d = Desk::on(TestServer::start_with(|s| mail_settings(s, &sink)).await).await;
    prefs(&d.w1, 2, json!({})).await;
    prefs(&d.admin, 2, json!({"admin_scope": "none"})).await;
    for t in [
        "first <b>question</b>",
        "second, see https://parts.test/brakes?id=7.",
        "third",
    ] {
        d.u1.send_message(d.chat_u1, t).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(sink.received().is_empty(), "nothing before the delay");
    let got = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got_later = sink.received();
    assert_eq!(got_later.len(), 1, "a burst is one email: {got:?}");
    let m = &got[0];
    assert_eq!(m.rcpt, ["<w1@t.test>"]);
    let text = m.text();
    for t in [
        "first <b>question</b>",
        "second, see https://parts.test/brakes?id=7.",
        "third",
    ] {
        assert!(
            text.contains(t),
            "plain text lists every message as sent: {text}"
        );
    }
    let html = m.html();
    assert!(
        html.contains("first &lt;b&gt;question&lt;/b&gt;"),
        "HTML escapes user text: {html}"
    );
    assert!(!html.contains("<b>question</b>"));
    assert!(
        html.contains("see <a href=\"https://parts.test/brakes?id=7\" target=\"_blank\" rel=\"noopener nofollow ugc\">https://parts.test/brakes?id=7</a>."),
        "a URL in a message is a link in the HTML part: {html}"
    );
    assert!(
        text.contains(&format!("https://chat.nati.test/worker?chat={}", d.chat_u1)),
        "links to the right panel"
    );
    assert!(m.subject().contains("3 unread messages"), "{}", m.subject());
    assert!(
        !m.message_id().is_empty(),
        "the idempotency key rides as Message-ID"
    );
    // Never the sender: the user got nothing for their own messages.
    assert!(got_later.iter().all(|m| m.rcpt != ["<u1@t.test>"]));
    // A new message after the email starts a new one, covering only what is new.
    d.u1.send_message(d.chat_u1, "fourth").await;
    let got = sink.wait_for(2).await;
    assert!(
        got[1].text().contains("fourth") && !got[1].text().contains("second"),
        "never the same message twice"
    );
}

#[tokio::test]
async fn a_message_read_in_time_sends_nothing() {
    let sink = SmtpSink::start().await;
    let d = Desk::on(TestServer::start_with(|s| mail_settings(s, &sink)).await).await;
    prefs(&d.u1, 1, json!({})).await;
    prefs(&d.admin, 1, json!({"admin_scope": "none"})).await;
    d.w1.send_message(d.chat_u1, "your car is ready").await;
    let (st, _) =
        d.u1.post("/api/chat/mark_read", json!({"chat_id": d.chat_u1}))
            .await;
    assert_eq!(st, StatusCode::OK);
    let cancelled = wait_outbox(&d.admin, "cancelled", 1).await;
    assert_eq!(cancelled[0]["last_error"], "read in time");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn preferences_decide_who_is_emailed() {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(|s| mail_settings(s, &sink)).await;
    let (admin, _) = server
        .account(AccountRole::Admin, "admin@t.test", "Ada")
        .await;
    let (quiet_admin, _) = server
        .account(AccountRole::Admin, "quiet@t.test", "Quinn")
        .await;
    let (worker, worker_id) = server
        .account(AccountRole::Worker, "w1@t.test", "Walt")
        .await;
    let (u1, _) = server.account(AccountRole::User, "u1@t.test", "Umar").await;
    let (u2, _) = server
        .account(AccountRole::User, "u2@t.test", "Ursula")
        .await;
    // The worker turned email off; one admin wants unassigned chats, the other none.
    prefs(&worker, 1, json!({"email_enabled": false})).await;
    prefs(&admin, 1, json!({"admin_scope": "unassigned"})).await;
    prefs(&quiet_admin, 1, json!({"admin_scope": "none"})).await;
    let (_, b) = u1
        .post("/api/chat/start", json!({"topic": "assigned"}))
        .await;
    let assigned = b["chat"]["chat_id"].as_i64().expect("id");
    admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": assigned, "worker_id": worker_id}),
        )
        .await;
    let (_, b) = u2.post("/api/chat/start", json!({"topic": "open"})).await;
    let unassigned = b["chat"]["chat_id"].as_i64().expect("id");
    u1.send_message(assigned, "to my worker").await;
    u2.send_message(unassigned, "anyone?").await;
    let got = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got_all = sink.received();
    assert_eq!(got_all.len(), 1, "{got:?}");
    assert_eq!(got_all[0].rcpt, ["<admin@t.test>"]);
    assert!(got_all[0].text().contains("anyone?"));
}

#[tokio::test]
async fn a_guest_with_an_email_hears_the_reply_and_one_without_does_not() {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(|s| mail_settings(s, &sink)).await;
    let (admin, _) = server.account(AccountRole::Admin, "a@t.test", "Ada").await;
    prefs(&admin, 60, json!({"admin_scope": "none"})).await;
    let (st, b) = server
        .anon()
        .post(
            "/api/chat/start",
            json!({"name": "Gina", "email": "gina@example.com", "message": "when are you open?"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let with_email = b["chat"]["chat_id"].as_i64().expect("id");
    let (_, without, _) = server.guest_chat("Anon", "hello").await;
    admin.send_message(with_email, "From 8 to 18").await;
    admin.send_message(without, "Hi!").await;
    let got = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(got[0].rcpt, ["<gina@example.com>"]);
    assert!(got[0].text().contains("From 8 to 18"));
}

#[tokio::test]
async fn smtp_down_then_up_delivers_once() {
    let mut sink = SmtpSink::start().await;
    let port = sink.addr.port();
    let mailbox = sink.mail.clone();
    let d = Desk::on(TestServer::start_with(|s| mail_settings(s, &sink)).await).await;
    prefs(&d.w1, 0, json!({})).await;
    prefs(&d.admin, 0, json!({"admin_scope": "none"})).await;
    sink.stop();
    d.u1.send_message(d.chat_u1, "are you there?").await;
    // It fails, is retried, and says why.
    for _ in 0..200 {
        let rows = outbox(&d.admin, "pending").await;
        if rows.iter().any(|r| r["attempts"].as_i64() >= Some(1)) {
            assert!(
                rows[0]["last_error"]
                    .as_str()
                    .is_some_and(|e| !e.is_empty())
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        outbox(&d.admin, "pending")
            .await
            .iter()
            .any(|r| r["attempts"].as_i64() >= Some(1)),
        "a failed attempt is recorded"
    );
    let sink = SmtpSink::start_on(port, mailbox).await;
    let got = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.received().len(), 1, "once: {got:?}");
    assert_eq!(wait_outbox(&d.admin, "sent", 1).await.len(), 1);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_the_queue_sends_each_email_once() {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(|s| mail_settings(s, &sink)).await;
    let (admin, _) = server.account(AccountRole::Admin, "a@t.test", "Ada").await;
    prefs(&admin, 1, json!({"admin_scope": "all"})).await;
    // Eight customers write; each chat owes the admin one email.
    for i in 0..8 {
        server
            .guest_chat(&format!("G{i}"), &format!("question {i}"))
            .await;
    }
    sink.wait_for(1).await;
    let (dir, settings) = server.stop().await;
    let server = TestServer::start_in(dir, settings).await;
    let admin = server.login("a@t.test").await;
    let got = sink.wait_for(8).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got = if sink.received().len() > got.len() {
        sink.received()
    } else {
        got
    };
    assert_eq!(got.len(), 8, "each once, across the restart");
    let mut texts: Vec<String> = got.iter().map(|m| m.text()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 8, "no email twice");
    assert_eq!(outbox(&admin, "sent").await.len(), 8);
}

#[tokio::test]
async fn without_smtp_emails_are_written_as_files() {
    let server = TestServer::start_with(|s| {
        s.email_poll_millis = 50;
        s.guest_email_delay_secs = 0;
    })
    .await;
    let (admin, _) = server.account(AccountRole::Admin, "a@t.test", "Ada").await;
    prefs(&admin, 60, json!({"admin_scope": "none"})).await;
    let (_, b) = server
        .anon()
        .post(
            "/api/chat/start",
            json!({"email": "g@example.com", "message": "hi"}),
        )
        .await;
    let chat = b["chat"]["chat_id"].as_i64().expect("id");
    admin.send_message(chat, "hello from the desk").await;
    let dir = server.dir.path().join("outbox");
    for _ in 0..200 {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        if let Some(f) = files
            .iter()
            .find(|f| f.path().extension().is_some_and(|e| e == "eml"))
        {
            let body = std::fs::read_to_string(f.path()).expect("read eml");
            assert!(body.contains("g@example.com"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no .eml file in {}", dir.display());
}

fn resume_token(text: &str) -> String {
    let at = text.find("/guest?resume=").expect("a resume link") + "/guest?resume=".len();
    text[at..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_owned()
}

#[tokio::test]
async fn a_guest_resumes_from_the_signed_link_and_gets_the_transcript_on_close() {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(|s| mail_settings(s, &sink)).await;
    let (admin, _) = server.account(AccountRole::Admin, "a@t.test", "Ada").await;
    prefs(&admin, 60, json!({"admin_scope": "none"})).await;
    let (st, b) = server
        .anon()
        .post("/api/chat/start", json!({"email": "gina@example.com", "name": "Gina", "message": "my brakes squeak", "transcript": true}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let chat = b["chat"]["chat_id"].as_i64().expect("id");
    let old = Client::new(&server.base, b["guest_token"].as_str().map(String::from));
    admin.send_message(chat, "Bring it in tomorrow").await;
    let mail = sink.wait_for(1).await;
    let token = resume_token(&mail[0].text());
    assert!(token.starts_with("nr_"), "{token}");
    // Tampered and foreign links are refused and change nothing.
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let (st, b) = server
        .anon()
        .post("/api/chat/guest_resume", json!({"token": tampered}))
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let (st, _) = old.get(&format!("/api/chat/messages?chat_id={chat}")).await;
    assert_eq!(
        st,
        StatusCode::OK,
        "a refused link leaves the old token working"
    );
    // The real link gives a fresh token on any device; the old one stops working.
    let (st, b) = server
        .anon()
        .post("/api/chat/guest_resume", json!({"token": token}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let fresh = Client::new(&server.base, b["guest_token"].as_str().map(String::from));
    let (st, page) = fresh
        .get(&format!("/api/chat/messages?chat_id={chat}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["message"] == "Bring it in tomorrow")
    );
    let (st, _) = old.get(&format!("/api/chat/messages?chat_id={chat}")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // The link works once: a second use is refused and signs nobody out.
    let (st, b) = server
        .anon()
        .post("/api/chat/guest_resume", json!({"token": token}))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("used already")),
        "{b}"
    );
    let (st, _) = fresh
        .get(&format!("/api/chat/messages?chat_id={chat}"))
        .await;
    assert_eq!(
        st,
        StatusCode::OK,
        "the holder of the fresh token stays signed in"
    );
    // Closing sends the whole conversation to the guest who asked for it. (A second
    // later: a link made in the same second as the one used above would be the same.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fresh.send_message(chat, "thanks, see you").await;
    let (st, _) = admin
        .post("/api/chat/close", json!({"chat_id": chat}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let mut transcript = None;
    for _ in 0..200 {
        transcript = sink
            .received()
            .into_iter()
            .find(|m| m.subject().contains("transcript"));
        if transcript.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = transcript.expect("a transcript email").text();
    for line in [
        "my brakes squeak",
        "Bring it in tomorrow",
        "thanks, see you",
    ] {
        assert!(t.contains(line), "the transcript has every message: {t}");
    }
    // It asks for a rating by a signed link: the guest who follows it rates the chat.
    assert!(t.contains("How did we do? Rate this conversation"), "{t}");
    let rate_link = t
        .split_whitespace()
        .find(|w| w.contains("rate=1"))
        .expect("a rating link")
        .to_owned();
    let token = rate_link
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("resume="))
        .expect("the link's resume token");
    let (st, b) = server
        .anon()
        .post("/api/chat/guest_resume", json!({"token": token}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let rater = Client::new(&server.base, b["guest_token"].as_str().map(String::from));
    let (st, b) = rater
        .post(
            "/api/chat/rate",
            json!({"chat_id": chat, "stars": 5, "comment": "Great help"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["rating"]["rater_type"], "guest");
    // A transcript needs an email.
    let (st, b) = server
        .anon()
        .post(
            "/api/chat/start",
            json!({"message": "hi", "transcript": true}),
        )
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );
}

#[tokio::test]
async fn an_expired_resume_link_is_refused() {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(|s| {
        mail_settings(s, &sink);
        s.guest_link_ttl_secs = 0;
    })
    .await;
    let (admin, _) = server.account(AccountRole::Admin, "a@t.test", "Ada").await;
    prefs(&admin, 60, json!({"admin_scope": "none"})).await;
    let (_, b) = server
        .anon()
        .post(
            "/api/chat/start",
            json!({"email": "g@example.com", "message": "hi"}),
        )
        .await;
    admin
        .send_message(b["chat"]["chat_id"].as_i64().expect("id"), "hello")
        .await;
    let token = resume_token(&sink.wait_for(1).await[0].text());
    let (st, b) = server
        .anon()
        .post("/api/chat/guest_resume", json!({"token": token}))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{b}"
    );
}

#[tokio::test]
async fn a_private_note_is_never_emailed() {
    let sink = SmtpSink::start().await;
    let d = Desk::on(TestServer::start_with(|s| mail_settings(s, &sink)).await).await;
    prefs(&d.u1, 1, json!({})).await;
    prefs(&d.admin, 60, json!({"admin_scope": "none"})).await;
    d.w1.send_message(d.chat_u1, "first public").await;
    let (st, b) =
        d.w1.post(
            "/api/chat/send_message",
            json!({"chat_id": d.chat_u1, "message": "note: gearbox is shot", "private": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    d.w1.send_message(d.chat_u1, "second public").await;
    let got = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.received().len(), 1, "{got:?}");
    let text = got[0].text();
    assert!(text.contains("first public") && text.contains("second public"));
    assert!(!text.contains("gearbox"), "a note was emailed: {text}");
}
