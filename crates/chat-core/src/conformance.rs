//! The story every [`Store`] implementation must pass, run against a fresh, empty database
//! by each backend's tests. It exercises the contract, not SQL: accounts and sessions,
//! guests and their expiry, the status machine through `update_chat` and `send_message`,
//! idempotent retries, pagination, read positions, unread counts and the event log.

use crate::actor::{AccountRole, Actor};
use crate::error::ChatError;
use crate::ids::*;
use crate::model::*;
use crate::policy::{self, ChatAction};
use crate::status::ChatStatus;
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn account(store: &dyn Store, role: AccountRole, email: &str, name: &str) -> Account {
    store
        .create_account(
            &NewAccount {
                role,
                email: email.into(),
                name: name.into(),
                password_hash: "x".into(),
            },
            now(),
        )
        .await
        .expect("create account")
}

/// Run the whole story. Panics (with the step) on the first broken promise.
pub async fn run(store: &dyn Store) {
    canned_replies(store).await;
    // ---- accounts and sessions
    let admin = account(store, AccountRole::Admin, "a@x.test", "Alice").await;
    let w1 = account(store, AccountRole::Worker, "w1@x.test", "Walt").await;
    let w2 = account(store, AccountRole::Worker, "w2@x.test", "Wendy").await;
    let user = account(store, AccountRole::User, "u@x.test", "Ursula 🚗").await;
    let dup = store
        .create_account(
            &NewAccount {
                role: AccountRole::User,
                email: "u@x.test".into(),
                name: "Other".into(),
                password_hash: "x".into(),
            },
            now(),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Duplicate(_))),
        "duplicate email refused"
    );
    let (found, hash) = store
        .account_by_email(AccountRole::User, "u@x.test")
        .await
        .expect("by email")
        .expect("found");
    assert_eq!(
        (found.id, hash.as_str(), found.name.as_str()),
        (user.id, "x", "Ursula 🚗")
    );
    assert!(
        store
            .account_by_email(AccountRole::Admin, "u@x.test")
            .await
            .expect("q")
            .is_none()
    );
    assert_eq!(
        store
            .list_accounts(Some(AccountRole::Worker))
            .await
            .expect("list")
            .len(),
        2
    );
    assert_eq!(store.list_accounts(None).await.expect("list").len(), 4);

    let later = now() + Duration::hours(1);
    store
        .create_session("tok-u", AccountRole::User, user.id, later, now())
        .await
        .expect("session");
    store
        .create_session(
            "tok-old",
            AccountRole::User,
            user.id,
            now() - Duration::seconds(1),
            now() - Duration::hours(1),
        )
        .await
        .expect("session");
    assert_eq!(
        store
            .session_account("tok-u", now())
            .await
            .expect("s")
            .map(|a| a.id),
        Some(user.id)
    );
    assert!(
        store
            .session_account("tok-old", now())
            .await
            .expect("s")
            .is_none(),
        "expired session"
    );
    assert!(
        store
            .session_account("nope", now())
            .await
            .expect("s")
            .is_none()
    );

    // ---- a chat with its first message
    let uact = Actor::User(UserId(user.id));
    let start = store
        .create_chat(
            &NewChat {
                customer: uact,
                customer_name: user.name.clone(),
                topic: "Brakes".into(),
                first_message: Some("  squeak <b>squeak</b>  ".into()),
                client_id: Some("start-1".into()),
            },
            now(),
        )
        .await
        .expect("create chat");
    assert!(start.created);
    let (chat, first) = (start.chat, start.first_message);
    assert_eq!(chat.status, ChatStatus::Pending);
    let first = first.expect("first message");
    assert_eq!(
        first.message, "  squeak <b>squeak</b>  ",
        "stored exactly as sent"
    );
    assert_eq!(first.sender_type, crate::SenderType::User);
    // Retried start: same chat.
    let again = store
        .create_chat(
            &NewChat {
                customer: uact,
                customer_name: user.name.clone(),
                topic: "Brakes".into(),
                first_message: Some("  squeak <b>squeak</b>  ".into()),
                client_id: Some("start-1".into()),
            },
            now(),
        )
        .await
        .expect("retry");
    assert_eq!(
        again.chat.chat_id, chat.chat_id,
        "a retried start makes one chat"
    );
    assert!(!again.created);
    assert_eq!(
        again.first_message.map(|m| m.message_id),
        Some(first.message_id)
    );

    // ---- assignment through the policy, inside the transaction
    let aact = Actor::Admin(AdminId(admin.id));
    let assign = |w: &Account| ChatAction::Assign {
        worker: WorkerId(w.id),
        worker_name: w.name.clone(),
    };
    let a1 = assign(&w1);
    let updated = store
        .update_chat(chat.chat_id, policy::rule(aact, "Alice", a1.clone()), now())
        .await
        .expect("assign");
    assert_eq!(updated.worker_id, Some(WorkerId(w1.id)));
    assert_eq!(updated.assigned_by, Some(AdminId(admin.id)));
    assert_eq!(updated.admin_id, Some(AdminId(admin.id)));
    let w1act = Actor::Worker(WorkerId(w1.id));
    let w2act = Actor::Worker(WorkerId(w2.id));
    // A refused rule changes nothing.
    let before = store
        .chat(chat.chat_id)
        .await
        .expect("chat")
        .expect("exists");
    let refused = store
        .update_chat(
            chat.chat_id,
            policy::rule(w2act, "Wendy", ChatAction::Close),
            now(),
        )
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Rule(ChatError::NotFound(_)))
    ));
    assert_eq!(
        store
            .chats(&[chat.chat_id, ChatId(i64::MAX)])
            .await
            .expect("chats"),
        vec![before.clone()],
        "several chats at once; an unknown id is left out"
    );
    assert_eq!(store.chat(chat.chat_id).await.expect("chat"), Some(before));
    let missing = store
        .update_chat(
            ChatId(999_999),
            policy::rule(aact, "A", ChatAction::Close),
            now(),
        )
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::Rule(ChatError::NotFound(_)))
    ));

    // ---- messages: the worker's answer opens the chat; retries are idempotent
    let send = |sender: Actor, name: &str, text: &str, cid: Option<&str>| NewMessage {
        chat_id: chat.chat_id,
        sender,
        sender_name: name.into(),
        text: text.into(),
        client_id: cid.map(String::from),
        private: false,
        attachments: Vec::new(),
    };
    let m = send(w1act, "Walt", "On it", Some("c-1"));
    let (out, c) = store
        .send_message(
            m.clone(),
            policy::rule(w1act, "Walt", ChatAction::Message),
            now(),
        )
        .await
        .expect("send");
    assert!(matches!(out, SendOutcome::Created(_)));
    assert_eq!(c.status, ChatStatus::Open);
    let (retry, _) = store
        .send_message(
            m.clone(),
            policy::rule(w1act, "Walt", ChatAction::Message),
            now(),
        )
        .await
        .expect("retry");
    assert_eq!(
        retry,
        SendOutcome::Duplicate(out.message().clone()),
        "a retried send is stored once"
    );
    for i in 0..5 {
        let m = send(uact, "Ursula", &format!("msg {i}"), None);
        store
            .send_message(
                m.clone(),
                policy::rule(uact, "Ursula", ChatAction::Message),
                now(),
            )
            .await
            .expect("send");
    }

    // ---- history pages
    let all = store
        .messages(
            chat.chat_id,
            Page {
                before: None,
                after: None,
                limit: 100,
                private_notes: true,
            },
        )
        .await
        .expect("page");
    // first, assignment note, worker answer, five user messages
    assert_eq!(all.len(), 8, "{all:#?}");
    assert!(
        all.windows(2)
            .all(|w| w[0].message_id < w[1].message_id && w[0].seq < w[1].seq)
    );
    let newest = store
        .messages(
            chat.chat_id,
            Page {
                before: None,
                after: None,
                limit: 3,
                private_notes: true,
            },
        )
        .await
        .expect("page");
    assert_eq!(
        newest
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>(),
        ["msg 2", "msg 3", "msg 4"]
    );
    let older = store
        .messages(
            chat.chat_id,
            Page {
                before: Some(newest[0].message_id),
                after: None,
                limit: 3,
                private_notes: true,
            },
        )
        .await
        .expect("page");
    assert_eq!(older.last().map(|m| m.message.as_str()), Some("msg 1"));
    let after = store
        .messages(
            chat.chat_id,
            Page {
                before: None,
                after: Some(all[0].message_id),
                limit: 2,
                private_notes: true,
            },
        )
        .await
        .expect("page");
    assert_eq!(
        after.iter().map(|m| m.message_id).collect::<Vec<_>>(),
        [all[1].message_id, all[2].message_id]
    );

    // ---- read positions drive unread counts and is_read
    let unread_w = store
        .unread_counts(crate::policy::scope_for(&w1act), &w1act)
        .await
        .expect("unread");
    assert_eq!(
        unread_w,
        vec![(chat.chat_id, 6)],
        "first + five, not its own, not system"
    );
    let unread_u = store
        .unread_counts(crate::policy::scope_for(&uact), &uact)
        .await
        .expect("unread");
    assert_eq!(unread_u, vec![(chat.chat_id, 1)]);
    let pos = store
        .mark_read(chat.chat_id, &w1act, Some(all[4].message_id), now())
        .await
        .expect("read");
    assert_eq!(pos.last_read_message_id, all[4].message_id);
    let back = store
        .mark_read(chat.chat_id, &w1act, Some(all[1].message_id), now())
        .await
        .expect("read");
    assert_eq!(
        back.last_read_message_id, all[4].message_id,
        "never moves backwards"
    );
    let unread_w = store
        .unread_counts(crate::policy::scope_for(&w1act), &w1act)
        .await
        .expect("unread");
    assert_eq!(unread_w, vec![(chat.chat_id, 3)]);
    let msgs = store
        .messages(
            chat.chat_id,
            Page {
                before: None,
                after: None,
                limit: 100,
                private_notes: true,
            },
        )
        .await
        .expect("page");
    assert!(
        msgs[0].is_read,
        "the user's first message was read by staff"
    );
    assert!(!msgs[7].is_read);
    assert!(
        !msgs[2].is_read,
        "the worker's own answer is unread until the user reads it"
    );
    let wrong = store
        .mark_read(chat.chat_id, &w1act, Some(MessageId(999_999)), now())
        .await;
    assert!(matches!(
        wrong,
        Err(StoreError::Rule(ChatError::NotFound(_)))
    ));
    store
        .mark_read(chat.chat_id, &uact, None, now())
        .await
        .expect("read all");
    assert!(
        store
            .unread_counts(crate::policy::scope_for(&uact), &uact)
            .await
            .expect("u")
            .is_empty()
    );

    // ---- lists and filters
    let summary = store
        .chat_summary(chat.chat_id, &w1act)
        .await
        .expect("summary")
        .expect("exists");
    assert_eq!(summary.unread, 3);
    assert_eq!(summary.customer_name, "Ursula 🚗");
    assert_eq!(summary.worker_name.as_deref(), Some("Walt"));
    assert_eq!(summary.last_message.as_deref(), Some("msg 4"));
    let f = |status: Option<ChatStatus>| ChatFilter {
        status,
        limit: 50,
        ..ChatFilter::default()
    };
    assert_eq!(
        store
            .list_chats(ChatScope::All, &f(None), &aact)
            .await
            .expect("l")
            .len(),
        1
    );
    assert_eq!(
        store
            .list_chats(ChatScope::All, &f(Some(ChatStatus::Closed)), &aact)
            .await
            .expect("l")
            .len(),
        0
    );
    assert_eq!(
        store
            .list_chats(ChatScope::Worker(WorkerId(w2.id)), &f(None), &w2act)
            .await
            .expect("l")
            .len(),
        0
    );
    let q = ChatFilter {
        query: Some("SQUEAK".into()),
        limit: 50,
        ..ChatFilter::default()
    };
    assert_eq!(
        store
            .list_chats(ChatScope::All, &q, &aact)
            .await
            .expect("l")
            .len(),
        1,
        "search in text"
    );
    let q = ChatFilter {
        query: Some("100%".into()),
        limit: 50,
        ..ChatFilter::default()
    };
    assert_eq!(
        store
            .list_chats(ChatScope::All, &q, &aact)
            .await
            .expect("l")
            .len(),
        0,
        "wildcards escaped"
    );

    // ---- reassign, escalate, close, reopen by writing
    let a2 = assign(&w2);
    let moved = store
        .update_chat(chat.chat_id, policy::rule(aact, "Alice", a2.clone()), now())
        .await
        .expect("reassign");
    assert_eq!(moved.worker_id, Some(WorkerId(w2.id)));
    let esc = ChatAction::Escalate {
        reason: Some("warranty".into()),
    };
    let c = store
        .update_chat(
            chat.chat_id,
            policy::rule(w2act, "Wendy", esc.clone()),
            now(),
        )
        .await
        .expect("escalate");
    assert_eq!(c.status, ChatStatus::Escalated);
    let c = store
        .update_chat(
            chat.chat_id,
            policy::rule(uact, "U", ChatAction::Close),
            now(),
        )
        .await
        .expect("close");
    assert_eq!(c.status, ChatStatus::Closed);
    let m = send(w2act, "Wendy", "late answer", None);
    let refused = store
        .send_message(
            m.clone(),
            policy::rule(w2act, "Wendy", ChatAction::Message),
            now(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Rule(ChatError::Conflict(_)))),
        "staff cannot write in a closed chat"
    );
    let m = send(uact, "Ursula", "one more thing", None);
    let (_, c) = store
        .send_message(
            m.clone(),
            policy::rule(uact, "Ursula", ChatAction::Message),
            now(),
        )
        .await
        .expect("send");
    assert_eq!(
        c.status,
        ChatStatus::Pending,
        "a customer's message reopens a closed chat"
    );

    // ---- events: one per change, in order, gap-free per chat
    let events = store.events_after(0, 10_000).await.expect("events");
    assert!(!events.is_empty());
    assert!(events.windows(2).all(|w| w[0].event_id < w[1].event_id));
    let seqs: Vec<i64> = events
        .iter()
        .filter(|e| e.chat_id == chat.chat_id)
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "per-chat sequence has no gaps"
    );
    let last = store.chat(chat.chat_id).await.expect("c").expect("c");
    assert_eq!(last.last_seq, *seqs.last().expect("some"));
    assert!(
        events
            .iter()
            .any(|e| e.kind == "chat.updated" && e.previous_worker_id == Some(WorkerId(w1.id))),
        "reassignment names the old worker"
    );
    assert_eq!(
        store.last_event_id().await.expect("last"),
        events.last().expect("e").event_id
    );
    let tail = store
        .events_after(events[events.len() - 2].event_id, 10)
        .await
        .expect("tail");
    assert_eq!(tail.len(), 1);

    // ---- guests and expiry
    let guest = store
        .create_guest(
            "g-tok",
            Some("Gus"),
            Some("g@x.test"),
            now() - Duration::hours(2),
        )
        .await
        .expect("guest");
    assert_eq!(
        store
            .guest_by_token("g-tok")
            .await
            .expect("g")
            .map(|g| g.guest_id),
        Some(guest.guest_id)
    );
    let gact = Actor::Guest(guest.guest_id);
    let gchat = store
        .create_chat(
            &NewChat {
                customer: gact,
                customer_name: "Gus".into(),
                topic: String::new(),
                first_message: Some("hello?".into()),
                client_id: None,
            },
            now() - Duration::hours(2),
        )
        .await
        .expect("guest chat")
        .chat;
    let stale = store
        .guests_inactive_since(now() - Duration::hours(1), 100)
        .await
        .expect("stale");
    assert_eq!(stale, vec![guest.guest_id]);
    store
        .touch_guest(guest.guest_id, now())
        .await
        .expect("touch");
    assert!(
        store
            .guests_inactive_since(now() - Duration::hours(1), 100)
            .await
            .expect("stale")
            .is_empty()
    );
    let closed = store
        .expire_guest(guest.guest_id, now())
        .await
        .expect("expire");
    assert_eq!(closed, vec![gchat.chat_id]);
    assert_eq!(
        store
            .expire_guest(guest.guest_id, now())
            .await
            .expect("again"),
        Vec::<ChatId>::new(),
        "idempotent"
    );
    assert_eq!(
        store
            .chat(gchat.chat_id)
            .await
            .expect("c")
            .map(|c| c.status),
        Some(ChatStatus::Closed)
    );
    assert!(
        store
            .guest(guest.guest_id)
            .await
            .expect("g")
            .and_then(|g| g.expired_at)
            .is_some()
    );

    // ---- deactivation ends sessions; preferences default and persist
    store
        .set_account_active(AccountRole::User, user.id, false, now())
        .await
        .expect("deactivate");
    assert!(
        store
            .session_account("tok-u", now())
            .await
            .expect("s")
            .is_none()
    );
    assert!(
        store
            .set_account_active(AccountRole::User, 999_999, false, now())
            .await
            .expect("none")
            .is_none()
    );
    let p = store
        .preferences(AccountRole::Admin, admin.id)
        .await
        .expect("prefs");
    assert_eq!(p, Preferences::defaults_for(AccountRole::Admin));
    let mut p2 = p.clone();
    p2.email_delay_secs = 30;
    p2.admin_scope = AdminEmailScope::Escalated;
    p2.quiet_start_hour = Some(22);
    p2.quiet_end_hour = Some(7);
    assert_eq!(
        store
            .set_preferences(AccountRole::Admin, admin.id, &p2, now())
            .await
            .expect("set"),
        p2
    );
    assert_eq!(
        store
            .preferences(AccountRole::Admin, admin.id)
            .await
            .expect("get"),
        p2
    );

    // ---- replay by visibility, unread snapshots, socket tickets
    let w1id = WorkerId(w1.id);
    let seen_by_w1 = store
        .events_visible_after(ChatScope::Worker(w1id), 0, 10_000)
        .await
        .expect("replay");
    assert!(!seen_by_w1.is_empty());
    assert!(
        seen_by_w1
            .iter()
            .all(|e| e.worker_id == Some(w1id) || e.previous_worker_id == Some(w1id)),
        "a worker replays only what it could see"
    );
    assert!(
        seen_by_w1
            .iter()
            .any(|e| e.previous_worker_id == Some(w1id)),
        "including the move away"
    );
    let everything = store.events_after(0, 100_000).await.expect("all");
    let for_admin = store
        .events_visible_after(ChatScope::All, 0, 100_000)
        .await
        .expect("all");
    assert_eq!(everything, for_admin);
    let for_guest = store
        .events_visible_after(ChatScope::Guest(guest.guest_id), 0, 100_000)
        .await
        .expect("guest");
    assert!(!for_guest.is_empty() && for_guest.iter().all(|e| e.chat_id == gchat.chat_id));
    // A customer's scope is exactly the events marked with them, in order, page by page.
    let users: BTreeSet<UserId> = everything.iter().filter_map(|e| e.user_id).collect();
    let scopes = users
        .into_iter()
        .map(ChatScope::User)
        .chain([ChatScope::Guest(guest.guest_id)]);
    for scope in scopes {
        let mine: Vec<StoredEvent> = everything
            .iter()
            .filter(|e| match scope {
                ChatScope::User(u) => e.user_id == Some(u),
                ChatScope::Guest(g) => e.guest_id == Some(g),
                _ => false,
            })
            .cloned()
            .collect();
        let seen = store
            .events_visible_after(scope, 0, 100_000)
            .await
            .expect("mine");
        assert_eq!(seen, mine, "{scope:?}");
        let page = store
            .events_visible_after(scope, mine[0].event_id, 2)
            .await
            .expect("page");
        assert_eq!(
            page,
            mine[1..mine.len().min(3)].to_vec(),
            "{scope:?}, paged"
        );
    }
    let after = store
        .events_visible_after(ChatScope::All, for_admin[2].event_id, 2)
        .await
        .expect("page");
    assert_eq!(after, for_admin[3..5].to_vec());
    let (last, counts) = store
        .unread_snapshot(crate::policy::scope_for(&w2act), &w2act)
        .await
        .expect("snapshot");
    assert_eq!(last, store.last_event_id().await.expect("last"));
    assert_eq!(
        counts,
        store
            .unread_counts(crate::policy::scope_for(&w2act), &w2act)
            .await
            .expect("counts")
    );
    let soon = now() + Duration::seconds(30);
    store
        .create_ws_ticket("t-1", "session", "sess-hash", soon, now())
        .await
        .expect("ticket");
    store
        .create_ws_ticket(
            "t-old",
            "guest",
            "g-hash",
            now() - Duration::seconds(1),
            now() - Duration::seconds(31),
        )
        .await
        .expect("ticket");
    assert_eq!(
        store.take_ws_ticket("t-1", now()).await.expect("take"),
        Some(("session".to_owned(), "sess-hash".to_owned()))
    );
    assert_eq!(
        store.take_ws_ticket("t-1", now()).await.expect("again"),
        None,
        "single use"
    );
    assert_eq!(
        store.take_ws_ticket("t-old", now()).await.expect("old"),
        None,
        "expired"
    );

    // ---- email outbox: one pending per (recipient, chat), due-time claims, leases
    assert_eq!(store.job_cursor("email").await.expect("cursor"), None);
    store.set_job_cursor("email", 42, now()).await.expect("set");
    store.set_job_cursor("email", 7, now()).await.expect("set");
    assert_eq!(
        store.job_cursor("email").await.expect("cursor"),
        Some(42),
        "never backwards"
    );
    let msgs = store
        .messages(
            chat.chat_id,
            Page {
                before: None,
                after: None,
                limit: 100,
                private_notes: true,
            },
        )
        .await
        .expect("page");
    let first_unread = msgs
        .iter()
        .find(|m| m.sender_type == crate::SenderType::User)
        .expect("a user message");
    let email = NewEmail {
        kind: EmailKind::Missed,
        recipient: w2act,
        chat_id: chat.chat_id,
        first_message_id: first_unread.message_id,
        due_at: now() + Duration::seconds(60),
    };
    assert!(store.enqueue_email(&email, now()).await.expect("enqueue"));
    assert!(
        !store.enqueue_email(&email, now()).await.expect("again"),
        "re-planning is harmless"
    );
    let burst = NewEmail {
        first_message_id: MessageId(first_unread.message_id.0 + 1),
        ..email.clone()
    };
    assert!(
        !store.enqueue_email(&burst, now()).await.expect("burst"),
        "a burst becomes one email"
    );
    let lease = now() + Duration::seconds(30);
    assert!(
        store
            .claim_due_emails(now(), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let later = now() + Duration::seconds(61);
    let claimed = store
        .claim_due_emails(later, later + Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].status.as_str(), claimed[0].recipient()),
        ("sending", Some(w2act))
    );
    assert!(
        store
            .claim_due_emails(later, later + Duration::seconds(30), 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    let recovered = store
        .claim_due_emails(
            later + Duration::seconds(31),
            later + Duration::seconds(60),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(
        recovered.len(),
        1,
        "a lease that ran out is claimed again (the sender died)"
    );
    let unread = store
        .unread_for(chat.chat_id, &w2act, first_unread.message_id, 100)
        .await
        .expect("unread");
    assert!(
        !unread.is_empty()
            && unread
                .iter()
                .all(|m| m.sender_type != crate::SenderType::System)
    );
    store
        .finish_email(
            claimed[0].id,
            &EmailOutcome::Retry {
                at: later + Duration::seconds(5),
                error: "smtp down".into(),
            },
            later,
        )
        .await
        .expect("retry");
    let again = store
        .claim_due_emails(
            later + Duration::seconds(6),
            later + Duration::seconds(60),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(
        (
            again.len(),
            again[0].attempts,
            again[0].last_error.as_deref()
        ),
        (1, 1, Some("smtp down"))
    );
    let last = unread.last().expect("last").message_id;
    store
        .finish_email(
            again[0].id,
            &EmailOutcome::Sent {
                last_message_id: last,
                idempotency_key: "k1".into(),
            },
            later,
        )
        .await
        .expect("sent");
    let sent = store.list_emails(Some("sent"), 10).await.expect("list");
    assert_eq!(
        (
            sent.len(),
            sent[0].last_message_id,
            sent[0].idempotency_key.as_deref()
        ),
        (1, Some(last), Some("k1"))
    );
    assert!(
        store
            .enqueue_email(
                &NewEmail {
                    first_message_id: MessageId(last.0 + 1),
                    ..email.clone()
                },
                now()
            )
            .await
            .expect("next"),
        "after sending, a new message queues anew"
    );
    assert_eq!(store.list_emails(None, 10).await.expect("all").len(), 2);

    // A transcript is its own kind: it does not merge with a pending missed-message email.
    let transcript = NewEmail {
        kind: EmailKind::Transcript,
        ..email.clone()
    };
    assert!(
        store
            .enqueue_email(&transcript, now())
            .await
            .expect("transcript")
    );
    let kinds: Vec<EmailKind> = store
        .list_emails(Some("pending"), 10)
        .await
        .expect("pending")
        .iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&EmailKind::Transcript) && kinds.contains(&EmailKind::Missed),
        "{kinds:?}"
    );
    // A planner's batch: an open one again, and a burst of two for someone else: one row
    // is added.
    let other = NewEmail {
        recipient: crate::Actor::Admin(crate::AdminId(i64::from(i32::MAX))),
        due_at: now() + Duration::days(10),
        ..email.clone()
    };
    let other_burst = NewEmail {
        first_message_id: MessageId(other.first_message_id.0 + 1),
        ..other.clone()
    };
    assert_eq!(
        store
            .enqueue_emails(&[email.clone(), other.clone(), other_burst], now())
            .await
            .expect("batch"),
        1,
        "one row per recipient and chat in a batch, none where one is open"
    );
    assert_eq!(
        store
            .enqueue_emails(&[other], now())
            .await
            .expect("batch again"),
        0
    );

    // Guests: a resume link rotates the token; the transcript wish is remembered.
    let g2 = store
        .create_guest("g2-old", Some("Gia"), Some("gia@x.test"), now())
        .await
        .expect("guest");
    assert!(!g2.wants_transcript);
    store
        .set_guest_transcript(g2.guest_id, true)
        .await
        .expect("wish");
    assert!(
        store
            .guest(g2.guest_id)
            .await
            .expect("g")
            .expect("g")
            .wants_transcript
    );
    assert!(
        store
            .rotate_guest_token(g2.guest_id, "g2-new", now())
            .await
            .expect("rotate")
    );
    assert!(
        store.guest_by_token("g2-old").await.expect("old").is_none(),
        "the old token stops working"
    );
    assert_eq!(
        store
            .guest_by_token("g2-new")
            .await
            .expect("new")
            .map(|g| g.guest_id),
        Some(g2.guest_id)
    );
    assert!(
        !store
            .rotate_guest_token(guest.guest_id, "expired-new", now())
            .await
            .expect("expired"),
        "not for an expired guest"
    );

    // ---- files: sent with their message, in its transaction
    sent_files(store, uact, w2act, aact).await;

    // ---- webhooks
    crate::conformance_webhooks::run(store).await;
}

/// A message's files are marked sent by the writer with the message, and only then; the
/// unsent-upload sweep removes only what is still unsent.
async fn sent_files(store: &dyn Store, customer: Actor, stranger: Actor, staff: Actor) {
    use crate::attachment::{Attachment, AttachmentKind, AttachmentMeta};
    let start = store
        .create_chat(
            &NewChat {
                customer,
                customer_name: "Ursula".into(),
                topic: "Photos".into(),
                first_message: None,
                client_id: Some("files-1".into()),
            },
            now(),
        )
        .await
        .expect("chat");
    let chat = start.chat.chat_id;
    let upload = |id: &str, uploader: Actor| Attachment {
        meta: AttachmentMeta {
            id: id.into(),
            kind: AttachmentKind::Image,
            mime: "image/jpeg".into(),
            name: format!("{id}.jpg"),
            size: 10,
            width: Some(1),
            height: Some(1),
            thumb: false,
        },
        chat_id: chat,
        uploader_type: uploader.sender_type(),
        uploader_id: uploader.raw_id(),
        client_id: format!("cid-{id}"),
        sha256: format!("sha-{id}"),
        thumb_sha256: None,
        sent: false,
        private: false,
        created_at: now(),
    };
    let sent = store
        .insert_attachment(&upload("conf-sent", customer))
        .await
        .expect("upload");
    let refused = store
        .insert_attachment(&upload("conf-refused", stranger))
        .await
        .expect("upload");
    let message = |sender: Actor, file: &Attachment| NewMessage {
        chat_id: chat,
        sender,
        sender_name: "N".into(),
        text: String::new(),
        client_id: None,
        private: false,
        attachments: vec![file.meta.clone()],
    };
    store
        .send_message(
            message(customer, &sent),
            policy::rule(customer, "N", ChatAction::Message),
            now(),
        )
        .await
        .expect("send");
    // The stranger does not see the chat: refused, and their file stays unsent.
    let out = store
        .send_message(
            message(stranger, &refused),
            policy::rule(stranger, "N", ChatAction::Message),
            now(),
        )
        .await;
    assert!(out.is_err(), "{out:?}");
    let ids = vec![sent.meta.id.clone(), refused.meta.id.clone()];
    let now_stored = store.attachments(&ids).await.expect("read");
    let sent_flags: Vec<(String, bool)> = now_stored
        .iter()
        .map(|a| (a.meta.id.clone(), a.sent))
        .collect();
    assert!(
        sent_flags.contains(&("conf-sent".into(), true)),
        "{sent_flags:?}"
    );
    assert!(
        sent_flags.contains(&("conf-refused".into(), false)),
        "{sent_flags:?}"
    );
    // The sweep takes only the unsent one, and frees its bytes.
    let unused = store.delete_unsent_attachments(&ids).await.expect("delete");
    assert_eq!(unused, vec!["sha-conf-refused".to_owned()]);
    let left: Vec<String> = store
        .attachments(&ids)
        .await
        .expect("read")
        .into_iter()
        .map(|a| a.meta.id)
        .collect();
    assert_eq!(left, vec!["conf-sent".to_owned()]);

    // A file is private only while every message holding it is a note: a note's file sent
    // again to the customer becomes theirs, and stays theirs when a note holds it again.
    let file = store
        .insert_attachment(&upload("conf-note", staff))
        .await
        .expect("upload");
    let private = |id: &'static str| async move {
        let got = store.attachments(&[id.to_owned()]).await.expect("read");
        got.first().map(|a| (a.sent, a.private))
    };
    let mut before = (false, false);
    let mut seen = Vec::new();
    for note in [true, false, true, false] {
        let expected = (
            true,
            crate::attachment::private_after(before.0, before.1, note),
        );
        let mut m = message(staff, &file);
        m.private = note;
        let action = if note {
            ChatAction::Note
        } else {
            ChatAction::Message
        };
        store
            .send_message(m, policy::rule(staff, "N", action), now())
            .await
            .expect("send");
        assert_eq!(
            private("conf-note").await,
            Some(expected),
            "after a note: {note}"
        );
        before = expected;
        seen.push(expected.1);
    }
    assert_eq!(
        seen,
        [true, false, false, false],
        "staff only until the customer has it"
    );
}

/// The host-identity story (sign-in from the host site and API keys), on a fresh database
/// with the chat's own accounts. `host_id`s are the host's ids: in a store whose accounts
/// are the host's own rows, rows with ids 501 and 502 must exist in `tbl_user`.
pub async fn host_identity(store: &dyn Store) {
    use crate::hosttoken::HostProfile;
    let profile = |name: &str, email: &str| HostProfile {
        name: name.into(),
        email: email.into(),
        avatar_url: None,
    };
    // A password account and a host account with the same email are two people.
    let pw = account(store, AccountRole::User, "same@x.test", "Password Pat").await;
    assert_eq!(pw.source, AccountSource::Password);
    let first = store
        .upsert_host_account(
            AccountRole::User,
            "501",
            &profile("Host Pat", "same@x.test"),
            now(),
        )
        .await
        .expect("create host account");
    assert_ne!(first.id, pw.id, "never merged by email");
    assert_eq!(first.host_id.as_deref(), Some("501"));
    assert_eq!(first.source, AccountSource::Host);
    // Two host accounts may share an email too; each is its own (role, host id).
    let other = store
        .upsert_host_account(
            AccountRole::User,
            "502",
            &profile("Twin", "same@x.test"),
            now(),
        )
        .await
        .expect("second host account");
    assert_ne!(other.id, first.id);
    // A later sign-in refreshes the profile of the same account.
    let again = store
        .upsert_host_account(
            AccountRole::User,
            "501",
            &HostProfile {
                name: "Host Pat Renamed".into(),
                email: "new@x.test".into(),
                avatar_url: Some("https://img.test/p.png".into()),
            },
            now(),
        )
        .await
        .expect("refresh");
    assert_eq!(again.id, first.id);
    assert_eq!(again.name, "Host Pat Renamed");
    assert_eq!(again.email, "new@x.test");
    assert_eq!(again.avatar_url.as_deref(), Some("https://img.test/p.png"));
    let found = store
        .account_by_host_id(AccountRole::User, "501")
        .await
        .expect("by host id")
        .expect("found");
    assert_eq!(found.id, first.id);
    assert!(
        store
            .account_by_host_id(AccountRole::Admin, "501")
            .await
            .expect("by host id")
            .is_none(),
        "the identity is (role, host id)"
    );
    // Password lookup finds only the password account.
    let (by_email, _) = store
        .account_by_email(AccountRole::User, "same@x.test")
        .await
        .expect("by email")
        .expect("found");
    assert_eq!(by_email.id, pw.id);

    // A token id is spent once; expired ids are forgotten.
    let t = now();
    assert!(
        store
            .use_token_id("jti-1", t + Duration::minutes(5), t)
            .await
            .expect("use")
    );
    assert!(
        !store
            .use_token_id("jti-1", t + Duration::minutes(5), t)
            .await
            .expect("replay")
    );
    assert!(
        store
            .use_token_id("jti-old", t + Duration::seconds(1), t)
            .await
            .expect("use")
    );
    let later = t + Duration::minutes(1);
    assert!(
        store
            .use_token_id("jti-old", later + Duration::minutes(5), later)
            .await
            .expect("purged"),
        "an expired id is forgotten"
    );

    // API keys: stored by hash, listed, revoked.
    let key = store
        .create_api_key(
            &NewApiKey {
                name: "shop".into(),
                key_hash: "ab".repeat(32),
                prefix: "nk_abcd".into(),
                scopes: vec![ApiScope::UnreadRead, ApiScope::AccountsWrite],
            },
            now(),
        )
        .await
        .expect("create key");
    assert_eq!(
        key.scopes,
        vec![ApiScope::UnreadRead, ApiScope::AccountsWrite]
    );
    let by_hash = store
        .api_key_by_hash(&"ab".repeat(32))
        .await
        .expect("by hash")
        .expect("found");
    assert_eq!(by_hash, key);
    assert_eq!(store.list_api_keys().await.expect("list").len(), 1);
    let revoked = store
        .revoke_api_key(key.id, now())
        .await
        .expect("revoke")
        .expect("found");
    assert!(revoked.revoked_at.is_some());
    assert!(
        store
            .revoke_api_key(key.id + 1000, now())
            .await
            .expect("revoke")
            .is_none()
    );
}

/// Canned replies: team and personal ones side by side, a shortcut unique per owner, each
/// staff member sees the team's and their own, text kept exactly as written.
pub async fn canned_replies(store: &dyn Store) {
    let (w2, w3) = (Actor::Worker(WorkerId(2)), Actor::Worker(WorkerId(3)));
    let text = "Hi {customer_name}, your <b>tyres</b> are ready.\n{worker_name}";
    let team = store
        .create_canned_reply(None, "tyres", text, now())
        .await
        .expect("team reply");
    assert!(team.shared && team.owner.is_none());
    assert_eq!(team.text, text, "stored as written");
    let mine = store
        .create_canned_reply(Some(&w2), "tyres", "mine", now())
        .await
        .expect("the same shortcut, another owner");
    assert_eq!((mine.shared, mine.owner), (false, Some(w2)));
    for owner in [None, Some(&w2)] {
        let again = store.create_canned_reply(owner, "tyres", "x", now()).await;
        assert!(
            matches!(again, Err(StoreError::Duplicate("shortcut"))),
            "{again:?}"
        );
    }
    store
        .create_canned_reply(Some(&w3), "brakes", "w3's", now())
        .await
        .expect("w3's own");
    let seen: Vec<(String, bool)> = store
        .canned_replies(&w2)
        .await
        .expect("list")
        .into_iter()
        .map(|r| (r.shortcut, r.shared))
        .collect();
    assert_eq!(
        seen,
        [("tyres".into(), true), ("tyres".into(), false)],
        "team first, not w3's"
    );
    let seen: Vec<String> = store
        .canned_replies(&w3)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.shortcut)
        .collect();
    assert_eq!(seen, ["brakes", "tyres"]);

    let changed = store
        .update_canned_reply(mine.id, "tyres-2", "changed", now())
        .await
        .expect("update")
        .expect("found");
    assert_eq!(
        (changed.shortcut.as_str(), changed.text.as_str()),
        ("tyres-2", "changed")
    );
    assert_eq!(changed.owner, Some(w2), "the owner stays");
    let clash = store
        .update_canned_reply(team.id, "brakes", "x", now())
        .await;
    assert!(clash.is_ok(), "brakes is w3's, not the team's: {clash:?}");
    store
        .create_canned_reply(None, "oil", "x", now())
        .await
        .expect("oil");
    let clash = store.update_canned_reply(team.id, "oil", "x", now()).await;
    assert!(
        matches!(clash, Err(StoreError::Duplicate("shortcut"))),
        "{clash:?}"
    );
    assert!(
        store
            .update_canned_reply(999_999, "x", "x", now())
            .await
            .expect("update")
            .is_none()
    );

    assert!(store.delete_canned_reply(mine.id).await.expect("delete"));
    assert!(!store.delete_canned_reply(mine.id).await.expect("again"));
    assert!(store.canned_reply(mine.id).await.expect("get").is_none());
    let kept = store
        .canned_reply(team.id)
        .await
        .expect("get")
        .expect("team");
    assert_eq!(kept.shortcut, "brakes");
}
