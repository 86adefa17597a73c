//! The access matrix, against the real server: every endpoint × every kind of caller
//! (admin, assigned worker, other worker, owning customer, other user, other guest, no
//! credentials), on a user's chat and on a guest's chat; then expired guests, deactivated
//! accounts, and what the chat list shows to whom.
//!
//! The rules (`chat_core::policy`): a non-participant gets 404 `not_found`, exactly as for
//! a chat that does not exist; a participant without the right gets 403 `forbidden`; no
//! credentials get 401 `unauthenticated`. A refused request changes nothing.

use crate::support::*;
use chat_core::AccountRole;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Every endpoint of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ep {
    Messages,
    Details,
    Send,
    Assign,
    Close,
    Escalate,
    Reopen,
    Unassign,
    MarkRead,
    List,
    Unread,
    AccountsList,
    AccountsCreate,
    Deactivate,
    Emails,
    PrefsGet,
    PrefsPut,
}

/// The endpoints about one chat.
const CHAT_EPS: [Ep; 9] = [
    Ep::Messages,
    Ep::Details,
    Ep::Send,
    Ep::Assign,
    Ep::Close,
    Ep::Escalate,
    Ep::Reopen,
    Ep::Unassign,
    Ep::MarkRead,
];

/// The endpoints not about one chat.
const OTHER_EPS: [Ep; 8] = [
    Ep::List,
    Ep::Unread,
    Ep::AccountsList,
    Ep::AccountsCreate,
    Ep::Deactivate,
    Ep::Emails,
    Ep::PrefsGet,
    Ep::PrefsPut,
];

fn all_eps() -> Vec<Ep> {
    CHAT_EPS.iter().chain(OTHER_EPS.iter()).copied().collect()
}

/// What a call acts on.
struct Target {
    chat: i64,
    /// The worker `assign_worker` assigns.
    worker: i64,
    /// The user `deactivate` deactivates.
    victim: i64,
    /// A fresh email for `POST /api/admin/accounts`.
    email: String,
}

fn prefs_body() -> Value {
    json!({
        "email_enabled": false,
        "email_delay_secs": 120,
        "admin_scope": "none",
        "sound_enabled": true,
        "browser_notifications": true,
        "quiet_start_hour": 22,
        "quiet_end_hour": 6,
        "time_zone": "Europe/Lisbon"
    })
}

async fn call(c: &Client, ep: Ep, t: &Target) -> (StatusCode, Value) {
    let chat = json!({"chat_id": t.chat});
    match ep {
        Ep::Messages => c.get(&format!("/api/chat/messages?chat_id={}", t.chat)).await,
        Ep::Details => c.get(&format!("/api/chat/details?chat_id={}", t.chat)).await,
        Ep::Send => {
            c.post(
                "/api/chat/send_message",
                json!({"chat_id": t.chat, "message": "matrix says hi"}),
            )
            .await
        }
        Ep::Assign => {
            c.post(
                "/api/chat/assign_worker",
                json!({"chat_id": t.chat, "worker_id": t.worker}),
            )
            .await
        }
        Ep::Close => c.post("/api/chat/close", chat).await,
        Ep::Escalate => c.post("/api/chat/escalate", chat).await,
        Ep::Reopen => c.post("/api/chat/reopen", chat).await,
        Ep::Unassign => c.post("/api/chat/unassign", chat).await,
        Ep::MarkRead => c.post("/api/chat/mark_read", chat).await,
        Ep::List => c.get("/api/chat/list").await,
        Ep::Unread => c.get("/api/chat/unread_count").await,
        Ep::AccountsList => c.get("/api/admin/accounts").await,
        Ep::AccountsCreate => {
            c.post(
                "/api/admin/accounts",
                json!({"role": "worker", "email": t.email, "name": "New Hire", "password": "long enough pw"}),
            )
            .await
        }
        Ep::Deactivate => {
            c.post(
                "/api/admin/accounts/deactivate",
                json!({"role": "user", "id": t.victim}),
            )
            .await
        }
        Ep::Emails => c.get("/api/admin/emails").await,
        Ep::PrefsGet => c.get("/api/me/preferences").await,
        Ep::PrefsPut => c.put("/api/me/preferences", prefs_body()).await,
    }
}

/// Who calls, relative to the chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Admin,
    AssignedWorker,
    OtherWorker,
    /// The chat's customer: the user of a user's chat, the guest of a guest's chat.
    Owner,
    OtherUser,
    OtherGuest,
    Nobody,
}

const RELS: [Rel; 7] = [
    Rel::Admin,
    Rel::AssignedWorker,
    Rel::OtherWorker,
    Rel::Owner,
    Rel::OtherUser,
    Rel::OtherGuest,
    Rel::Nobody,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    UserChat,
    GuestChat,
}

type Expect = Result<StatusCode, (StatusCode, &'static str)>;

fn not_found() -> Expect {
    Err((StatusCode::NOT_FOUND, "not_found"))
}
fn forbidden() -> Expect {
    Err((StatusCode::FORBIDDEN, "forbidden"))
}
fn unauthenticated() -> Expect {
    Err((StatusCode::UNAUTHORIZED, "unauthenticated"))
}

/// The policy, written out as a table for chat endpoints.
fn expect_chat(ep: Ep, rel: Rel, kind: Kind) -> Expect {
    if rel == Rel::Nobody {
        return unauthenticated();
    }
    if !matches!(rel, Rel::Admin | Rel::AssignedWorker | Rel::Owner) {
        return not_found();
    }
    let allowed = match ep {
        Ep::Messages | Ep::Details | Ep::MarkRead | Ep::Send => true,
        Ep::Assign | Ep::Unassign => rel == Rel::Admin,
        // Users close their own chat; guests may not.
        Ep::Close => rel != Rel::Owner || kind == Kind::UserChat,
        Ep::Escalate | Ep::Reopen => matches!(rel, Rel::Admin | Rel::AssignedWorker),
        _ => unreachable!("not a chat endpoint: {ep:?}"),
    };
    match (allowed, ep) {
        (false, _) => forbidden(),
        (true, Ep::Send) => Ok(StatusCode::CREATED),
        (true, _) => Ok(StatusCode::OK),
    }
}

/// Roles for the endpoints that are not about one chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Admin,
    Worker,
    User,
    Guest,
    Nobody,
}

fn expect_other(ep: Ep, role: Role) -> Expect {
    if role == Role::Nobody {
        return unauthenticated();
    }
    match ep {
        Ep::List | Ep::Unread => Ok(StatusCode::OK),
        Ep::AccountsList | Ep::Deactivate | Ep::Emails if role == Role::Admin => Ok(StatusCode::OK),
        Ep::AccountsCreate if role == Role::Admin => Ok(StatusCode::CREATED),
        Ep::AccountsList | Ep::AccountsCreate | Ep::Deactivate | Ep::Emails => forbidden(),
        Ep::PrefsGet | Ep::PrefsPut if role == Role::Guest => forbidden(),
        Ep::PrefsGet | Ep::PrefsPut => Ok(StatusCode::OK),
        _ => unreachable!("a chat endpoint: {ep:?}"),
    }
}

/// The desk plus a second guest.
struct Cast {
    d: Desk,
    g2: Client,
}

impl Cast {
    async fn new() -> Cast {
        let d = Desk::new().await;
        let (g2, _, _) = d.server.guest_chat("Gina", "hi from the other guest").await;
        Cast { d, g2 }
    }

    fn client(&self, rel: Rel, kind: Kind) -> Client {
        let d = &self.d;
        match (rel, kind) {
            (Rel::Admin, _) => d.admin.clone(),
            (Rel::AssignedWorker, _) => d.w1.clone(),
            (Rel::OtherWorker, _) => d.w2.clone(),
            (Rel::Owner, Kind::UserChat) => d.u1.clone(),
            (Rel::Owner, Kind::GuestChat) => d.guest.clone(),
            (Rel::OtherUser, _) => d.u2.clone(),
            (Rel::OtherGuest, _) => self.g2.clone(),
            (Rel::Nobody, _) => d.server.anon(),
        }
    }

    /// A fresh chat of u1 (or of the desk's guest), with a first message, assigned to w1.
    /// `reopen` is tried on a closed chat, so that it is allowed where the role may.
    async fn fresh_chat(&self, kind: Kind, ep: Ep) -> i64 {
        let d = &self.d;
        let owner = match kind {
            Kind::UserChat => &d.u1,
            Kind::GuestChat => &d.guest,
        };
        let chat = d.start_chat(owner, "matrix", Some("help please")).await;
        d.assign(chat, d.w1_id).await;
        if ep == Ep::Reopen {
            let (st, b) = d
                .admin
                .post("/api/chat/close", json!({"chat_id": chat}))
                .await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
        chat
    }
}

/// What an allowed call must have done to the chat.
async fn check_effect(d: &Desk, ep: Ep, chat: i64, body: &Value, before: &Value, ctx: &str) {
    let after = d.chat_snapshot(chat).await;
    assert_eq!(
        writes(ep),
        &after != before,
        "{ctx}: the chat changed iff the call writes"
    );
    match ep {
        Ep::Messages => {
            assert_eq!(body["messages"], before["messages"], "{ctx}");
        }
        Ep::Details => assert_eq!(body["chat"]["chat_id"], chat, "{ctx}"),
        Ep::Send => {
            assert_eq!(body["message"]["message"], "matrix says hi", "{ctx}");
            let texts: Vec<&Value> = after["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| &m["message"])
                .collect();
            assert!(texts.contains(&&json!("matrix says hi")), "{ctx}");
        }
        Ep::Assign => assert_eq!(after["chat"]["worker_id"], d.w2_id, "{ctx}"),
        Ep::Unassign => assert_eq!(after["chat"]["worker_id"], Value::Null, "{ctx}"),
        Ep::Close => assert_eq!(after["chat"]["status"], "closed", "{ctx}"),
        Ep::Escalate => assert_eq!(after["chat"]["status"], "escalated", "{ctx}"),
        Ep::Reopen => assert_eq!(after["chat"]["status"], "open", "{ctx}"),
        Ep::MarkRead => assert_eq!(body["position"]["chat_id"], chat, "{ctx}"),
        _ => unreachable!(),
    }
}

/// Does an allowed call of `ep` change the chat (so it needs a chat of its own)?
fn writes(ep: Ep) -> bool {
    !matches!(ep, Ep::Messages | Ep::Details)
}

#[tokio::test]
async fn chat_endpoints_follow_the_access_matrix() {
    let cast = Cast::new().await;
    let d = &cast.d;
    let mut cells = 0;
    for kind in [Kind::UserChat, Kind::GuestChat] {
        // Refusals and reads all go to one chat (a closed one for `reopen`, so that the
        // state never hides a missing right); it must never change. Allowed writes get a
        // fresh chat each.
        let mut shared = Vec::new();
        for ep in [Ep::Send, Ep::Reopen] {
            let chat = cast.fresh_chat(kind, ep).await;
            shared.push((chat, d.chat_snapshot(chat).await));
        }
        for rel in RELS {
            let who = cast.client(rel, kind);
            for ep in CHAT_EPS {
                let ctx = format!("{ep:?} by {rel:?} on a {kind:?}");
                let expected = expect_chat(ep, rel, kind);
                let (chat, before) = if expected.is_ok() && writes(ep) {
                    let chat = cast.fresh_chat(kind, ep).await;
                    (chat, d.chat_snapshot(chat).await)
                } else {
                    shared[usize::from(ep == Ep::Reopen)].clone()
                };
                let t = Target {
                    chat,
                    worker: d.w2_id,
                    victim: d.u2_id,
                    email: String::new(),
                };
                let got = call(&who, ep, &t).await;
                match expected {
                    Ok(status) => {
                        assert_eq!(got.0, status, "{ctx}: {}", got.1);
                        check_effect(d, ep, chat, &got.1, &before, &ctx).await;
                    }
                    Err((status, code)) => {
                        assert_error(&got, status, code);
                        // The chat's event sequence moves with every change to it.
                        assert_eq!(
                            d.chat(chat).await,
                            before["chat"],
                            "{ctx}: a refusal changed the chat"
                        );
                        if status == StatusCode::NOT_FOUND {
                            // Indistinguishable from a chat that does not exist.
                            let missing = Target { chat: 999_999, ..t };
                            let none = call(&who, ep, &missing).await;
                            assert_eq!(
                                (none.0, without_request_id(&none.1)),
                                (got.0, without_request_id(&got.1)),
                                "{ctx}: a hidden chat must look missing"
                            );
                        }
                    }
                }
                cells += 1;
            }
        }
        for (chat, before) in &shared {
            assert_eq!(&d.chat_snapshot(*chat).await, before, "{kind:?}: untouched");
        }
    }
    assert_eq!(cells, 2 * RELS.len() * CHAT_EPS.len());

    // A participant asking to assign an unknown worker learns "forbidden", not "no such
    // worker": the right is checked before anything about workers is revealed.
    for (who, chat) in [(&d.u1, d.chat_u1), (&d.w1, d.chat_u1), (&d.guest, d.chat_g)] {
        for worker in [d.w2_id, 999_999] {
            let got = who
                .post(
                    "/api/chat/assign_worker",
                    json!({"chat_id": chat, "worker_id": worker}),
                )
                .await;
            assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
        }
    }
}

/// The admin's chat list (each chat's status, worker, event sequence, times) and the
/// accounts: enough to see any change an account or preferences call could make.
async fn light_snapshot(d: &Desk) -> Value {
    let (st, list) = d.admin.get("/api/chat/list?limit=100").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let (st, accounts) = d.admin.get("/api/admin/accounts").await;
    assert_eq!(st, StatusCode::OK, "{accounts}");
    json!({"list": list, "accounts": accounts})
}

#[tokio::test]
async fn other_endpoints_follow_the_access_matrix() {
    let cast = Cast::new().await;
    let d = &cast.d;
    let victim = nati_chat::http::admin::create_account(
        d.server.state.store.as_ref(),
        &d.server.state.hashing,
        AccountRole::User,
        "victim@t.test",
        "Vic",
        PASSWORD,
    )
    .await
    .expect("victim");
    let callers = [
        (Role::Admin, d.admin.clone()),
        (Role::Worker, d.w1.clone()),
        (Role::Worker, d.w2.clone()),
        (Role::User, d.u1.clone()),
        (Role::User, d.u2.clone()),
        (Role::Guest, d.guest.clone()),
        (Role::Guest, cast.g2.clone()),
        (Role::Nobody, d.server.anon()),
    ];
    for (i, (role, who)) in callers.iter().enumerate() {
        for ep in OTHER_EPS {
            let ctx = format!("{ep:?} by caller {i} ({role:?})");
            let t = Target {
                chat: d.chat_u1,
                worker: d.w2_id,
                victim: victim.id,
                email: format!("hire{i}@t.test"),
            };
            let before = light_snapshot(d).await;
            let got = call(who, ep, &t).await;
            match expect_other(ep, *role) {
                Ok(status) => {
                    assert_eq!(got.0, status, "{ctx}: {}", got.1);
                    match ep {
                        Ep::List => assert!(got.1["chats"].is_array(), "{ctx}"),
                        Ep::Unread => assert!(got.1["total"].is_i64(), "{ctx}"),
                        Ep::AccountsList => {
                            assert_eq!(got.1["accounts"].as_array().map(Vec::len), Some(6))
                        }
                        Ep::AccountsCreate => {
                            assert_eq!(got.1["account"]["email"], t.email, "{ctx}");
                            let (st, b) = d.admin.get("/api/admin/accounts?role=worker").await;
                            assert_eq!(st, StatusCode::OK);
                            assert!(
                                b["accounts"]
                                    .as_array()
                                    .expect("accounts")
                                    .iter()
                                    .any(|a| a["email"] == t.email.as_str()),
                                "{ctx}: the new account is listed"
                            );
                        }
                        Ep::Deactivate => {
                            assert_eq!(got.1["account"]["active"], false, "{ctx}");
                            // Put it back for the other callers.
                            let (st, b) = d
                                .admin
                                .post(
                                    "/api/admin/accounts/activate",
                                    json!({"role": "user", "id": victim.id}),
                                )
                                .await;
                            assert_eq!(st, StatusCode::OK, "{b}");
                        }
                        Ep::Emails => assert!(got.1["emails"].is_array(), "{ctx}"),
                        Ep::PrefsGet => assert!(got.1["email_delay_secs"].is_i64(), "{ctx}"),
                        Ep::PrefsPut => {
                            assert_eq!(got.1, prefs_body(), "{ctx}");
                            assert_eq!(who.get("/api/me/preferences").await.1, prefs_body());
                        }
                        _ => unreachable!(),
                    }
                }
                Err((status, code)) => {
                    assert_error(&got, status, code);
                    assert_eq!(
                        light_snapshot(d).await,
                        before,
                        "{ctx}: a refusal changed something"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_list_shows_each_role_only_what_it_may_see() {
    let d = Desk::new().await;
    let (g2, chat_g2, _) = d.server.guest_chat("Gina", "second guest").await;
    let list = |c: &Client, q: &'static str| {
        let c = c.clone();
        async move {
            let (st, b) = c.get(&format!("/api/chat/list{q}")).await;
            assert_eq!(st, StatusCode::OK, "{q}: {b}");
            let mut ids = chat_ids(&b);
            ids.sort();
            ids
        }
    };
    let mut all = vec![d.chat_u1, d.chat_u2, d.chat_g, chat_g2];
    all.sort();
    assert_eq!(list(&d.admin, "").await, all);
    assert_eq!(list(&d.w1, "").await, vec![d.chat_u1]);
    assert_eq!(list(&d.w2, "").await, Vec::<i64>::new());
    assert_eq!(list(&d.u1, "").await, vec![d.chat_u1]);
    assert_eq!(list(&d.u2, "").await, vec![d.chat_u2]);
    assert_eq!(list(&d.guest, "").await, vec![d.chat_g]);
    assert_eq!(list(&g2, "").await, vec![chat_g2]);

    // The unread counts stay within the same scope.
    let (st, b) = d.w2.get("/api/chat/unread_count").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 0, "{b}");
    assert_eq!(b["chats"], json!([]));
    let (_, b) = d.u2.get("/api/chat/unread_count").await;
    assert!(
        b["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .all(|c| c["chat_id"] == d.chat_u2),
        "{b}"
    );
}

#[tokio::test]
async fn admin_list_filters_work_and_are_admin_only() {
    let d = Desk::new().await;
    // chat_u1: open, w1.  chat_u2: pending, unassigned.  chat_g: closed, unassigned.
    let (st, _) = d.w1.send_message(d.chat_u1, "On it").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = d
        .admin
        .post("/api/chat/close", json!({"chat_id": d.chat_g}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let ids = |c: Client, q: String| async move {
        let (st, b) = c.get(&format!("/api/chat/list?{q}")).await;
        assert_eq!(st, StatusCode::OK, "{q}: {b}");
        let mut ids = chat_ids(&b);
        ids.sort();
        ids
    };
    let a = || d.admin.clone();
    let none: Vec<i64> = vec![];
    let mut every = vec![d.chat_u1, d.chat_u2, d.chat_g];
    every.sort();
    let cases: Vec<(String, Vec<i64>)> = vec![
        ("status=open".into(), vec![d.chat_u1]),
        ("status=pending".into(), vec![d.chat_u2]),
        ("status=closed".into(), vec![d.chat_g]),
        ("status=escalated".into(), none.clone()),
        (format!("worker_id={}", d.w1_id), vec![d.chat_u1]),
        (format!("worker_id={}", d.w2_id), none.clone()),
        ("unassigned=true".into(), {
            let mut v = vec![d.chat_u2, d.chat_g];
            v.sort();
            v
        }),
        ("unassigned=false".into(), every.clone()),
        (format!("user_id={}", d.u1_id), vec![d.chat_u1]),
        (format!("user_id={}", d.u2_id), vec![d.chat_u2]),
        (format!("guest_id={}", d.guest_id), vec![d.chat_g]),
        (
            format!("status=open&worker_id={}", d.w1_id),
            vec![d.chat_u1],
        ),
        (
            format!("status=pending&worker_id={}", d.w1_id),
            none.clone(),
        ),
        // Search: customer name, email, topic and message text, case-insensitively.
        ("q=umar".into(), vec![d.chat_u1]),
        ("q=U2%40T.TEST".into(), vec![d.chat_u2]),
        ("q=tyres".into(), vec![d.chat_u2]),
        ("q=anyone%20there".into(), vec![d.chat_g]),
        ("q=BRAKES".into(), vec![d.chat_u1]),
        ("q=on%20it".into(), vec![d.chat_u1]),
        ("q=nothing-like-this".into(), none.clone()),
        // LIKE wildcards are searched for literally.
        ("q=%25".into(), none.clone()),
        ("q=_".into(), none.clone()),
        // An empty search is no search.
        ("q=".into(), every.clone()),
    ];
    for (q, want) in cases {
        assert_eq!(ids(a(), q.clone()).await, want, "admin ?{q}");
    }
    // Others may filter by status and search, within what they see.
    assert_eq!(
        ids(d.u1.clone(), "status=open".into()).await,
        vec![d.chat_u1]
    );
    assert_eq!(ids(d.u1.clone(), "status=pending".into()).await, none);
    assert_eq!(ids(d.u1.clone(), "q=tyres".into()).await, none, "no leak");
    assert_eq!(ids(d.w1.clone(), "q=anyone".into()).await, none, "no leak");
    assert_eq!(ids(d.guest.clone(), "q=gus".into()).await, vec![d.chat_g]);
    // ... but not by worker, user, guest or assignment.
    for who in [&d.w1, &d.w2, &d.u1, &d.guest] {
        for q in [
            format!("worker_id={}", d.w1_id),
            format!("worker_id={}", d.w2_id),
            format!("user_id={}", d.u1_id),
            format!("guest_id={}", d.guest_id),
            "unassigned=true".to_owned(),
        ] {
            let got = who.get(&format!("/api/chat/list?{q}")).await;
            assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    // `unassigned=false` filters nothing, so it is harmless: the caller's own scope.
    assert_eq!(
        ids(d.u1.clone(), "unassigned=false".into()).await,
        vec![d.chat_u1]
    );
    assert_eq!(ids(d.w2.clone(), "unassigned=false".into()).await, none);
    let got = d.server.anon().get("/api/chat/list?status=open").await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
}

/// The requests an expired guest or a deactivated account tries, beyond the matrix.
async fn extra_calls(c: &Client) -> Vec<(&'static str, (StatusCode, Value))> {
    vec![
        ("me", c.get("/api/me").await),
        (
            "start",
            c.post("/api/chat/start", json!({"message": "again"})).await,
        ),
        ("logout", c.post("/api/auth/logout", json!({})).await),
    ]
}

#[tokio::test]
async fn an_expired_guest_is_refused_everywhere_and_its_chat_closed() {
    let server = TestServer::start_with(|s| s.guest_inactivity_secs = 1).await;
    let d = Desk::on(server).await;
    let before = d.all_messages(d.chat_g).await;
    // The one real sleep of the suite: the guest idles past its 1 s limit.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let t = Target {
        chat: d.chat_g,
        worker: d.w1_id,
        victim: d.u2_id,
        email: "g@t.test".into(),
    };
    for ep in all_eps() {
        let got = call(&d.guest, ep, &t).await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{ep:?}: {}", got.1);
        assert_error(&got, StatusCode::UNAUTHORIZED, "guest_expired");
    }
    for (what, got) in extra_calls(&d.guest).await {
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{what}: {}", got.1);
        assert_error(&got, StatusCode::UNAUTHORIZED, "guest_expired");
    }
    // The chat was closed, and its story says why.
    assert_eq!(d.status(d.chat_g).await, "closed");
    let after = d.all_messages(d.chat_g).await;
    let new: Vec<&Value> = after[before.len()..].iter().collect();
    assert_eq!(new.len(), 1, "one system message: {new:?}");
    assert_eq!(new[0]["sender_type"], "system");
    assert!(
        new[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("session expired")),
        "{}",
        new[0]
    );
    // No message from the guest got in.
    assert!(after.iter().all(|m| m["message"] != "matrix says hi"));
    // Everyone else is unaffected.
    let (st, _) = d.u1.send_message(d.chat_u1, "still here").await;
    assert_eq!(st, StatusCode::CREATED);
}

#[tokio::test]
async fn a_deactivated_account_is_refused_everywhere_until_reactivated() {
    let d = Desk::new().await;
    let (st, b) = d
        .admin
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "user", "id": d.u1_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["account"]["active"], false);
    let (st, b) = d
        .admin
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "worker", "id": d.w1_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let before = d.snapshot().await;
    for who in [&d.u1, &d.w1] {
        let t = Target {
            chat: d.chat_u1,
            worker: d.w2_id,
            victim: d.u2_id,
            email: "x@t.test".into(),
        };
        for ep in all_eps() {
            let got = call(who, ep, &t).await;
            assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{ep:?}: {}", got.1);
            assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
        }
        for (what, got) in extra_calls(who).await {
            assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{what}: {}", got.1);
            assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
        }
    }
    assert_eq!(d.snapshot().await, before, "nothing changed");
    // Signing in again is refused too.
    let got = d
        .server
        .anon()
        .post(
            "/api/auth/login",
            json!({"email": "u1@t.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    // A deactivated worker cannot be assigned.
    let got = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u2, "worker_id": d.w1_id}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");

    // Reactivation: the old session stays ended; a fresh sign-in works.
    let (st, b) = d
        .admin
        .post(
            "/api/admin/accounts/activate",
            json!({"role": "user", "id": d.u1_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["account"]["active"], true);
    let got = d.u1.get("/api/me").await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
    let u1 = d.server.login("u1@t.test").await;
    let (st, me) = u1.get("/api/me").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["id"], d.u1_id);
    let (st, b) = u1.get("/api/chat/list").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(chat_ids(&b), vec![d.chat_u1]);
    let (st, _) = u1.send_message(d.chat_u1, "back again").await;
    assert_eq!(st, StatusCode::CREATED);
}

#[tokio::test]
async fn admins_cannot_deactivate_themselves_and_unknown_accounts_are_not_found() {
    let d = Desk::new().await;
    let before = d.snapshot().await;
    let got = d
        .admin
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "admin", "id": d.admin_id}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    let got = d
        .admin
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "worker", "id": 999_999}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(d.snapshot().await, before);
    let (st, _) = d.admin.get("/api/me").await;
    assert_eq!(st, StatusCode::OK, "the admin is still signed in");
    // Another admin may deactivate this one.
    let (a2, _) = d
        .server
        .account(AccountRole::Admin, "a2@t.test", "Second Admin")
        .await;
    let (st, b) = a2
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "admin", "id": d.admin_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let got = d.admin.get("/api/me").await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthenticated");
}
