//! The write rules without a database: [`WriteTx`] over plain vectors, and property tests
//! of the status machine and the sequence through [`apply`].

use super::*;
use crate::ids::{AdminId, ChatId, GuestId, MessageId, UserId, WorkerId};
use crate::model::NewMessage;
use crate::policy::{self, ChatAction};
use proptest::prelude::*;

/// The tables the write path touches, in memory.
#[derive(Default, Clone)]
struct Tables {
    chats: Vec<Chat>,
    messages: Vec<Message>,
    events: Vec<EventRow>,
}

#[async_trait]
impl WriteTx for Tables {
    async fn lock_chats(&mut self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        Ok(self
            .chats
            .iter()
            .filter(|c| ids.contains(&c.chat_id))
            .cloned()
            .collect())
    }
    async fn find_client_ids(&mut self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| ClientKey::of(m).is_some_and(|k| keys.contains(&k)))
            .cloned()
            .collect())
    }
    async fn insert_messages(&mut self, rows: &[MessageRow]) -> Result<Vec<MessageId>, StoreError> {
        let mut ids = Vec::new();
        for r in rows {
            let id = MessageId(self.messages.len() as i64 + 1);
            self.messages.push(r.stored(id));
            ids.push(id);
        }
        Ok(ids)
    }
    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        self.events.extend_from_slice(rows);
        Ok(())
    }
    async fn save_chats(&mut self, chats: &[Chat]) -> Result<(), StoreError> {
        for c in chats {
            if let Some(slot) = self.chats.iter_mut().find(|x| x.chat_id == c.chat_id) {
                *slot = c.clone();
            }
        }
        Ok(())
    }
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)
}

fn chat(id: i64, user: i64) -> Chat {
    Chat {
        chat_id: ChatId(id),
        user_id: Some(UserId(user)),
        guest_id: None,
        admin_id: None,
        worker_id: None,
        assigned_by: None,
        status: ChatStatus::Pending,
        topic: "brakes".into(),
        last_seq: 0,
        created_at: t0(),
        updated_at: t0(),
        last_message_at: None,
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn send(chat: i64, who: Actor, text: &str, client_id: Option<&str>) -> WriteCommand {
    WriteCommand::Send {
        new: NewMessage {
            chat_id: ChatId(chat),
            sender: who,
            sender_name: "N".into(),
            text: text.into(),
            client_id: client_id.map(String::from),
        },
        rule: policy::rule(who, "N", ChatAction::Message),
        now: t0(),
    }
}

fn act(chat: i64, who: Actor, action: ChatAction) -> WriteCommand {
    WriteCommand::Update {
        chat_id: ChatId(chat),
        rule: policy::rule(who, "N", action),
        now: t0(),
    }
}

#[test]
fn a_new_chat_starts_with_chat_created_then_the_first_message() {
    let mut db = Tables {
        chats: vec![chat(1, 7)],
        ..Tables::default()
    };
    let new = NewChat {
        customer: Actor::User(UserId(7)),
        customer_name: "Umar".into(),
        topic: "brakes".into(),
        first_message: Some("squeak".into()),
        client_id: None,
    };
    let start = run(start_chat(&mut db, chat(1, 7), &new, t0())).expect("start");
    assert_eq!(start.chat.last_seq, 2);
    assert_eq!(start.chat.last_message_at, Some(t0()));
    let kinds: Vec<_> = db.events.iter().map(|e| (e.kind, e.seq)).collect();
    assert_eq!(
        kinds,
        [(EventKind::ChatCreated, 1), (EventKind::MessageCreated, 2)]
    );
    let first = start.first_message.expect("first message");
    assert_eq!(first.message, "squeak");
    assert_eq!(
        db.chats[0], start.chat,
        "the chat's columns are written back"
    );
    // The message event's payload is the stored message, with its id.
    let payload: Message = serde_json::from_str(&db.events[1].payload).expect("json");
    assert_eq!(payload, first);
}

#[test]
fn a_batch_answers_each_command_and_a_refusal_spoils_nothing() {
    let mut db = Tables {
        chats: vec![chat(1, 7), chat(2, 8)],
        ..Tables::default()
    };
    let admin = Actor::Admin(AdminId(1));
    let stranger = Actor::User(UserId(99));
    let cmds = vec![
        send(1, Actor::User(UserId(7)), "hello", Some("c1")),
        send(1, stranger, "let me in", None),
        act(
            1,
            admin,
            ChatAction::Assign {
                worker: WorkerId(3),
                worker_name: "Walt".into(),
            },
        ),
        send(1, Actor::User(UserId(7)), "hello", Some("c1")),
        send(2, admin, "hi from staff", None),
        act(9, admin, ChatAction::Close),
    ];
    let out = run(apply(&mut db, &cmds)).expect("batch");
    assert!(matches!(
        &out[0],
        Ok(WriteOutcome::Sent(SendOutcome::Created(_), _))
    ));
    assert_eq!(out[1], Err(ChatError::NotFound("chat")));
    let Ok(WriteOutcome::Updated(c)) = &out[2] else {
        panic!("assign: {:?}", out[2]);
    };
    assert_eq!(c.worker_id, Some(WorkerId(3)));
    // The retry inside the same batch is answered with the first send's message.
    match (&out[0], &out[3]) {
        (
            Ok(WriteOutcome::Sent(SendOutcome::Created(a), _)),
            Ok(WriteOutcome::Sent(SendOutcome::Duplicate(b), _)),
        ) => assert_eq!(a, b),
        other => panic!("retry: {other:?}"),
    }
    let Ok(WriteOutcome::Sent(_, c2)) = &out[4] else {
        panic!("staff message: {:?}", out[4]);
    };
    assert_eq!(c2.status, ChatStatus::Open, "the first staff answer opens");
    assert_eq!(out[5], Err(ChatError::NotFound("chat")));
    // Chat 1: message (1), system note (2), chat.updated (3). Chat 2: message (1) and
    // its status change: chat.updated (2).
    let seqs = |id| -> Vec<i64> {
        db.events
            .iter()
            .filter(|e| e.chat_id == ChatId(id))
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs(1), [1, 2, 3]);
    assert_eq!(seqs(2), [1, 2]);
    assert_eq!(db.messages.len(), 3);
    // The assignment event is visible to the new worker; the system note says who.
    let note = db
        .messages
        .iter()
        .find(|m| m.sender_type == SenderType::System)
        .expect("note");
    assert_eq!(note.sender_name, SYSTEM_SENDER_NAME);
    assert_eq!(note.message, "N assigned the chat to Walt");
    let updated = db
        .events
        .iter()
        .find(|e| e.kind == EventKind::ChatUpdated && e.chat_id == ChatId(1))
        .expect("chat.updated");
    assert_eq!(updated.visibility.worker_id, Some(WorkerId(3)));

    // A retry in a later batch finds the stored message and asks no rule.
    let again = run(apply(
        &mut db,
        &[send(1, Actor::User(UserId(7)), "hello", Some("c1"))],
    ))
    .expect("batch");
    assert!(matches!(
        &again[0],
        Ok(WriteOutcome::Sent(SendOutcome::Duplicate(_), _))
    ));
    assert_eq!(db.messages.len(), 3);
}

#[test]
fn reassignment_is_seen_by_the_worker_it_moved_away_from() {
    let mut c = chat(1, 7);
    c.worker_id = Some(WorkerId(3));
    c.status = ChatStatus::Open;
    let mut db = Tables {
        chats: vec![c],
        ..Tables::default()
    };
    let cmd = act(
        1,
        Actor::Admin(AdminId(1)),
        ChatAction::Assign {
            worker: WorkerId(4),
            worker_name: "Wendy".into(),
        },
    );
    run(apply(&mut db, &[cmd])).expect("batch");
    let e = db
        .events
        .iter()
        .find(|e| e.kind == EventKind::ChatUpdated)
        .expect("chat.updated");
    assert_eq!(e.visibility.worker_id, Some(WorkerId(4)));
    assert_eq!(e.visibility.previous_worker_id, Some(WorkerId(3)));
}

#[test]
fn event_kinds_round_trip_their_names() {
    for k in EventKind::ALL {
        assert_eq!(EventKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(EventKind::parse("chat.deleted"), None);
}

/// The actors of the property test: the chat's customer, a stranger, a guest, an admin and
/// two workers.
fn actor(i: u8) -> Actor {
    match i % 6 {
        0 => Actor::User(UserId(7)),
        1 => Actor::User(UserId(8)),
        2 => Actor::Guest(GuestId(7)),
        3 => Actor::Admin(AdminId(1)),
        4 => Actor::Worker(WorkerId(3)),
        _ => Actor::Worker(WorkerId(4)),
    }
}

fn action(i: u8) -> Option<ChatAction> {
    match i % 8 {
        0 | 1 | 2 => None, // a message
        3 => Some(ChatAction::Assign {
            worker: WorkerId(3 + i64::from(i / 8 % 2)),
            worker_name: "W".into(),
        }),
        4 => Some(ChatAction::Close),
        5 => Some(ChatAction::Escalate { reason: None }),
        6 => Some(ChatAction::Reopen),
        _ => Some(ChatAction::Unassign),
    }
}

fn command(who: u8, what: u8, n: usize) -> WriteCommand {
    let a = actor(who);
    match action(what) {
        None => send(1, a, &format!("m{n}"), Some(&format!("c{}", n % 5))),
        Some(x) => act(1, a, x),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of actions by any role, cut into batches anyhow: sequence numbers stay
    /// gap-free, only participants' actions pass, a closed chat takes no message without
    /// reopening, and batching changes nothing about the outcome.
    #[test]
    fn any_story_keeps_the_invariants(
        steps in proptest::collection::vec((any::<u8>(), any::<u8>()), 1..40),
        cuts in proptest::collection::vec(1usize..6, 1..40),
    ) {
        let one_by_one = run(async {
            let mut db = Tables { chats: vec![chat(1, 7)], ..Tables::default() };
            let mut answers = Vec::new();
            for (n, (who, what)) in steps.iter().enumerate() {
                let before = db.chats[0].clone();
                let cmd = command(*who, *what, n);
                let out = apply(&mut db, std::slice::from_ref(&cmd)).await.expect("apply");
                let after = &db.chats[0];
                match &out[0] {
                    Ok(WriteOutcome::Sent(SendOutcome::Created(m), c)) => {
                        prop_assert!(policy::can_view(&actor(*who), &before), "a stranger wrote");
                        prop_assert!(c.status != ChatStatus::Closed, "a closed chat took a message");
                        prop_assert_eq!(m.seq, before.last_seq + 1);
                    }
                    Ok(WriteOutcome::Sent(SendOutcome::Duplicate(_), _)) => {
                        prop_assert_eq!(&before, after, "a retry changed the chat");
                    }
                    Ok(WriteOutcome::Updated(_)) => {
                        prop_assert!(policy::can_view(&actor(*who), &before), "a stranger acted");
                    }
                    Err(_) => prop_assert_eq!(&before, after, "a refusal changed the chat"),
                }
                answers.push(out.into_iter().next().map(|o| o.is_ok()));
            }
            Ok((db, answers))
        })?;
        let (db, answers) = one_by_one;
        // Gap-free sequence over all events, matching the chat's last_seq.
        let seqs: Vec<i64> = db.events.iter().map(|e| e.seq).collect();
        let want: Vec<i64> = (1..=db.chats[0].last_seq).collect();
        prop_assert_eq!(seqs, want);
        // Each client id is stored at most once per sender.
        let mut keys: Vec<_> = db.messages.iter().filter_map(ClientKey::of).collect();
        let n = keys.len();
        keys.sort_by(|a, b| (a.sender_id, &a.client_id).cmp(&(b.sender_id, &b.client_id)));
        keys.dedup();
        prop_assert_eq!(keys.len(), n);

        // The same commands cut into batches give the same answers and the same rows.
        let batched = run(async {
            let mut db = Tables { chats: vec![chat(1, 7)], ..Tables::default() };
            let cmds: Vec<WriteCommand> = steps
                .iter()
                .enumerate()
                .map(|(n, (who, what))| command(*who, *what, n))
                .collect();
            let mut answers = Vec::new();
            let mut rest: &[WriteCommand] = &cmds;
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let k = (*cut.next().unwrap_or(&1)).min(rest.len());
                let out = apply(&mut db, &rest[..k]).await.expect("apply");
                answers.extend(out.into_iter().map(|o| Some(o.is_ok())));
                rest = &rest[k..];
            }
            (db, answers)
        });
        prop_assert_eq!(batched.1, answers);
        prop_assert_eq!(&batched.0.chats, &db.chats);
        prop_assert_eq!(batched.0.messages, db.messages);
        prop_assert_eq!(batched.0.events, db.events);
    }
}
