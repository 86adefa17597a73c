//! Every status transition, allowed and refused, through the API: the table of
//! `chat_core::status`, cell by cell, each on a fresh chat, plus assignment rules and the
//! system messages that tell a chat's story.

use crate::support::*;
use chat_core::AccountRole;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Pending,
    Open,
    Escalated,
    Closed,
}

impl St {
    fn as_str(self) -> &'static str {
        match self {
            St::Pending => "pending",
            St::Open => "open",
            St::Escalated => "escalated",
            St::Closed => "closed",
        }
    }
}

/// An action and who takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// The chat's user writes.
    CustomerMessage,
    /// The assigned worker writes.
    WorkerMessage,
    AdminMessage,
    WorkerEscalate,
    AdminEscalate,
    WorkerClose,
    AdminClose,
    UserClose,
    WorkerReopen,
    AdminReopen,
    /// The admin reassigns the chat from w1 to w2.
    Assign,
}

const ACTS: [Act; 11] = [
    Act::CustomerMessage,
    Act::WorkerMessage,
    Act::AdminMessage,
    Act::WorkerEscalate,
    Act::AdminEscalate,
    Act::WorkerClose,
    Act::AdminClose,
    Act::UserClose,
    Act::WorkerReopen,
    Act::AdminReopen,
    Act::Assign,
];

/// The table of `chat_core::status`, written out again: the status after `act` in `from`,
/// or `None` for 409.
fn table(from: St, act: Act) -> Option<St> {
    use Act::*;
    use St::*;
    match (from, act) {
        (Closed, CustomerMessage) => Some(Pending),
        (s, CustomerMessage) => Some(s),
        (Closed, WorkerMessage | AdminMessage) => None,
        (Pending, WorkerMessage | AdminMessage) => Some(Open),
        (Open, WorkerMessage | AdminMessage) => Some(Open),
        (Escalated, WorkerMessage) => Some(Escalated),
        (Escalated, AdminMessage) => Some(Open),
        (Pending | Open, WorkerEscalate | AdminEscalate) => Some(Escalated),
        (Escalated | Closed, WorkerEscalate | AdminEscalate) => None,
        (Closed, WorkerClose | AdminClose | UserClose) => None,
        (_, WorkerClose | AdminClose | UserClose) => Some(Closed),
        (Closed | Escalated, WorkerReopen | AdminReopen) => Some(Open),
        (Pending | Open, WorkerReopen | AdminReopen) => None,
        (Closed, Assign) => None,
        (s, Assign) => Some(s),
    }
}

/// The system message an allowed action adds (a part of its text), if any.
fn note(from: St, act: Act) -> Option<&'static str> {
    use Act::*;
    use St::*;
    match (from, act) {
        (Closed, CustomerMessage) => Some("Umar wrote again; the chat is reopened"),
        (Escalated, AdminMessage) => Some("Escalation handled by Ada Admin"),
        (_, CustomerMessage | WorkerMessage | AdminMessage) => None,
        (_, WorkerEscalate) => Some("Walt asked for an admin"),
        (_, AdminEscalate) => Some("Ada Admin asked for an admin"),
        (_, WorkerClose) => Some("Walt closed the chat"),
        (_, AdminClose) => Some("Ada Admin closed the chat"),
        (_, UserClose) => Some("Umar closed the chat"),
        (Escalated, WorkerReopen) => Some("Walt handed the chat back"),
        (Escalated, AdminReopen) => Some("Ada Admin handed the chat back"),
        (_, WorkerReopen) => Some("Walt reopened the chat"),
        (_, AdminReopen) => Some("Ada Admin reopened the chat"),
        (_, Assign) => Some("Ada Admin reassigned the chat to Wendy"),
    }
}

fn is_message(act: Act) -> bool {
    matches!(
        act,
        Act::CustomerMessage | Act::WorkerMessage | Act::AdminMessage
    )
}

/// A fresh chat of u1, assigned to w1, brought to `st` the usual way.
async fn chat_in(d: &Desk, st: St) -> i64 {
    let chat = d.start_chat(&d.u1, "transitions", Some("my car")).await;
    d.assign(chat, d.w1_id).await;
    if st != St::Pending {
        let (s, b) = d.w1.send_message(chat, "looking").await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let step = match st {
        St::Escalated => Some("/api/chat/escalate"),
        St::Closed => Some("/api/chat/close"),
        _ => None,
    };
    if let Some(path) = step {
        let (s, b) = d.w1.post(path, json!({"chat_id": chat})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    assert_eq!(d.status(chat).await, st.as_str());
    chat
}

async fn perform(d: &Desk, chat: i64, act: Act) -> (StatusCode, Value) {
    let body = json!({"chat_id": chat});
    match act {
        Act::CustomerMessage => d.u1.send_message(chat, "customer writes").await,
        Act::WorkerMessage => d.w1.send_message(chat, "worker writes").await,
        Act::AdminMessage => d.admin.send_message(chat, "admin writes").await,
        Act::WorkerEscalate => d.w1.post("/api/chat/escalate", body).await,
        Act::AdminEscalate => d.admin.post("/api/chat/escalate", body).await,
        Act::WorkerClose => d.w1.post("/api/chat/close", body).await,
        Act::AdminClose => d.admin.post("/api/chat/close", body).await,
        Act::UserClose => d.u1.post("/api/chat/close", body).await,
        Act::WorkerReopen => d.w1.post("/api/chat/reopen", body).await,
        Act::AdminReopen => d.admin.post("/api/chat/reopen", body).await,
        Act::Assign => {
            d.admin
                .post(
                    "/api/chat/assign_worker",
                    json!({"chat_id": chat, "worker_id": d.w2_id}),
                )
                .await
        }
    }
}

#[tokio::test]
async fn every_transition_follows_the_status_table() {
    let d = Desk::new().await;
    let mut allowed = 0;
    let mut refused = 0;
    for from in [St::Pending, St::Open, St::Escalated, St::Closed] {
        for act in ACTS {
            let ctx = format!("{act:?} in {}", from.as_str());
            let chat = chat_in(&d, from).await;
            let before = d.chat_snapshot(chat).await;
            let got = perform(&d, chat, act).await;
            match table(from, act) {
                None => {
                    assert_error(&got, StatusCode::CONFLICT, "conflict");
                    assert_eq!(
                        d.chat_snapshot(chat).await,
                        before,
                        "{ctx}: refused, unchanged"
                    );
                    refused += 1;
                }
                Some(to) => {
                    let (want, reported) = if is_message(act) {
                        (StatusCode::CREATED, &got.1["chat_status"])
                    } else {
                        (StatusCode::OK, &got.1["chat"]["status"])
                    };
                    assert_eq!(got.0, want, "{ctx}: {}", got.1);
                    assert_eq!(reported, to.as_str(), "{ctx}: the response says so");
                    assert_eq!(d.status(chat).await, to.as_str(), "{ctx}: stored");
                    // What was added to the chat: the message, then the story.
                    let old = before["messages"].as_array().expect("messages").len();
                    let all = d.all_messages(chat).await;
                    let added = &all[old..];
                    let mut want_texts: Vec<String> = Vec::new();
                    if is_message(act) {
                        want_texts.push(
                            got.1["message"]["message"]
                                .as_str()
                                .expect("text")
                                .to_owned(),
                        );
                    }
                    if let Some(n) = note(from, act) {
                        want_texts.push(n.to_owned());
                    }
                    let texts: Vec<&str> = added
                        .iter()
                        .map(|m| m["message"].as_str().expect("text"))
                        .collect();
                    assert_eq!(texts, want_texts, "{ctx}: messages added");
                    if let Some(n) = note(from, act) {
                        let sys = added.last().expect("system message");
                        assert_eq!(sys["message"], n);
                        assert_eq!(sys["sender_type"], "system", "{ctx}");
                        assert_eq!(sys["sender_id"], Value::Null, "{ctx}");
                    }
                    allowed += 1;
                }
            }
        }
    }
    assert_eq!(allowed + refused, 4 * ACTS.len());
    assert_eq!(refused, 14, "the table has 14 refusals");
}

#[tokio::test]
async fn guests_may_not_close_but_come_back_by_writing() {
    let d = Desk::new().await;
    let before = d.chat_snapshot(d.chat_g).await;
    let got = d
        .guest
        .post("/api/chat/close", json!({"chat_id": d.chat_g}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    for path in [
        "/api/chat/escalate",
        "/api/chat/reopen",
        "/api/chat/unassign",
    ] {
        let got = d.guest.post(path, json!({"chat_id": d.chat_g})).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(d.chat_snapshot(d.chat_g).await, before);
    // Staff close it; the guest writes again and it is pending for staff.
    let (st, b) = d
        .admin
        .post("/api/chat/close", json!({"chat_id": d.chat_g}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let got = d.admin.send_message(d.chat_g, "closed, no").await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    let (st, b) = d.guest.send_message(d.chat_g, "one more thing").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["chat_status"], "pending");
    let last = d.all_messages(d.chat_g).await.pop().expect("message");
    assert_eq!(last["sender_type"], "system");
    assert_eq!(last["message"], "Gus wrote again; the chat is reopened");
}

#[tokio::test]
async fn an_escalation_is_handed_back_by_an_admin() {
    let d = Desk::new().await;
    let (st, b) =
        d.w1.post(
            "/api/chat/escalate",
            json!({"chat_id": d.chat_u1, "reason": "  warranty question  "}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["status"], "escalated");
    // Everyone reads that an admin was asked for; the reason is a private note from the
    // worker, which the customer never sees.
    let mut all = d.all_messages(d.chat_u1).await;
    let reason = all.pop().expect("reason");
    let said = all.pop().expect("system line");
    assert_eq!(said["message"], "Walt asked for an admin");
    assert_eq!(said["sender_type"], "system");
    assert_eq!(reason["message"], "Need admin: warranty question");
    assert_eq!(reason["sender_type"], "worker");
    assert_eq!(reason["is_private"], true);
    let (_, mine) =
        d.u1.get(&format!("/api/chat/messages?chat_id={}", d.chat_u1))
            .await;
    let texts: Vec<&str> = mine["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert!(texts.contains(&"Walt asked for an admin"), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("warranty")),
        "the customer never reads the reason: {texts:?}"
    );
    // The worker still sees and answers it; the answer keeps it escalated.
    let (st, b) = d.w1.send_message(d.chat_u1, "an admin is coming").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["chat_status"], "escalated");
    let got =
        d.w1.post("/api/chat/escalate", json!({"chat_id": d.chat_u1}))
            .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    // The admin reopens it: open again, handed back.
    let (st, b) = d
        .admin
        .post("/api/chat/reopen", json!({"chat_id": d.chat_u1}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["status"], "open");
    let last = d.all_messages(d.chat_u1).await.pop().expect("note");
    assert_eq!(last["message"], "Ada Admin handed the chat back");
    let got = d
        .admin
        .post("/api/chat/reopen", json!({"chat_id": d.chat_u1}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn assignment_rules() {
    let d = Desk::new().await;
    // Same worker twice.
    let before = d.snapshot().await;
    let got = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u1, "worker_id": d.w1_id}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    // Unknown worker.
    let got = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u2, "worker_id": 999_999}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    // Unknown chat.
    let got = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": 999_999, "worker_id": d.w2_id}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let (_, w3) = d
        .server
        .account(AccountRole::Worker, "w3@t.test", "Wes")
        .await;
    let (st, b) = d
        .admin
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "worker", "id": w3}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let before_w3 = d.snapshot().await;
    // Deactivated worker.
    let got = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u2, "worker_id": w3}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    assert_eq!(d.snapshot().await, before_w3, "refusals change nothing");
    // Closed chat.
    let (st, _) = d
        .admin
        .post("/api/chat/close", json!({"chat_id": d.chat_u2}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let closed = d.chat_snapshot(d.chat_u2).await;
    let got = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u2, "worker_id": d.w2_id}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    assert_eq!(d.chat_snapshot(d.chat_u2).await, closed);
    // Nothing about chat_u1 moved through all this.
    assert_eq!(
        d.chat_snapshot(d.chat_u1).await,
        json!({"chat": before["list"]["chats"].as_array().expect("chats").iter().find(|c| c["chat_id"] == d.chat_u1).expect("chat_u1"),
               "messages": before["messages"][d.chat_u1.to_string()]})
    );
}

#[tokio::test]
async fn reassigning_moves_visibility_and_the_story_records_it() {
    let d = Desk::new().await;
    let (st, _) = d.w1.send_message(d.chat_u1, "first answer").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, b) = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u1, "worker_id": d.w2_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["worker_id"], d.w2_id);
    assert_eq!(b["chat"]["worker_name"], "Wendy");
    assert_eq!(b["chat"]["assigned_by"], d.admin_id);
    assert_eq!(b["chat"]["status"], "open", "assignment keeps the status");
    // The old worker has lost it entirely.
    let got =
        d.w1.get(&format!("/api/chat/details?chat_id={}", d.chat_u1))
            .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got =
        d.w1.get(&format!("/api/chat/messages?chat_id={}", d.chat_u1))
            .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = d.w1.send_message(d.chat_u1, "still mine?").await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let (_, b) = d.w1.get("/api/chat/list").await;
    assert_eq!(chat_ids(&b), Vec::<i64>::new());
    // The new one has it.
    let (st, b) = d.w2.get("/api/chat/list").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(chat_ids(&b), vec![d.chat_u1]);
    let (st, _) = d.w2.send_message(d.chat_u1, "Wendy here").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, b) =
        d.w2.post("/api/chat/close", json!({"chat_id": d.chat_u1}))
            .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) =
        d.w2.post("/api/chat/reopen", json!({"chat_id": d.chat_u1}))
            .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["status"], "open");
    // Unassign: w2 loses it; a second unassign has nothing to do.
    let (st, b) = d
        .admin
        .post("/api/chat/unassign", json!({"chat_id": d.chat_u1}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["worker_id"], Value::Null);
    assert_eq!(b["chat"]["assigned_by"], Value::Null);
    let got =
        d.w2.get(&format!("/api/chat/details?chat_id={}", d.chat_u1))
            .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = d
        .admin
        .post("/api/chat/unassign", json!({"chat_id": d.chat_u1}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");

    let system: Vec<String> = d
        .all_messages(d.chat_u1)
        .await
        .into_iter()
        .filter(|m| m["sender_type"] == "system")
        .map(|m| {
            assert_eq!(m["sender_id"], Value::Null);
            assert_eq!(m["is_read"], true, "system messages are always read");
            m["message"].as_str().expect("text").to_owned()
        })
        .collect();
    assert_eq!(
        system,
        [
            "Ada Admin assigned the chat to Walt",
            "Ada Admin reassigned the chat to Wendy",
            "Wendy closed the chat",
            "Wendy reopened the chat",
            "Ada Admin took the worker off the chat",
        ]
    );
    // System messages never count as unread.
    let (_, b) = d.u1.get("/api/chat/unread_count").await;
    assert_eq!(b["total"], 2, "two staff messages: {b}");
}

#[tokio::test]
async fn racing_closes_let_exactly_one_through() {
    let d = Desk::new().await;
    let (st, _) = d.w1.send_message(d.chat_u1, "open it").await;
    assert_eq!(st, StatusCode::CREATED);
    let callers = [&d.admin, &d.w1, &d.u1, &d.admin, &d.w1, &d.u1];
    let results = futures_util::future::join_all(
        callers
            .iter()
            .map(|c| c.post("/api/chat/close", json!({"chat_id": d.chat_u1}))),
    )
    .await;
    let ok = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter(|r| r.0 != StatusCode::OK) {
        assert_error(r, StatusCode::CONFLICT, "conflict");
    }
    let closes = d
        .all_messages(d.chat_u1)
        .await
        .iter()
        .filter(|m| {
            m["message"]
                .as_str()
                .is_some_and(|t| t.ends_with("closed the chat"))
        })
        .count();
    assert_eq!(closes, 1);
}
