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
    /// The client id each chat was started with.
    chat_client_ids: Vec<(ChatId, Actor, String)>,
    messages: Vec<Message>,
    events: Vec<EventRow>,
    positions: Vec<ReadPosition>,
    expired_guests: Vec<GuestId>,
    ratings: Vec<ChatRating>,
    /// Uploads marked sent, as `(id, private)`, in order.
    files_sent: Vec<(String, bool)>,
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
    async fn mark_files_sent(&mut self, files: &[(String, bool)]) -> Result<(), StoreError> {
        self.files_sent.extend_from_slice(files);
        Ok(())
    }
    async fn worker_open_chats(&mut self, worker: WorkerId) -> Result<i64, StoreError> {
        Ok(self
            .chats
            .iter()
            .filter(|c| c.worker_id == Some(worker) && c.status != ChatStatus::Closed)
            .count() as i64)
    }
    async fn insert_rating(&mut self, rating: &ChatRating) -> Result<bool, StoreError> {
        if self.ratings.iter().any(|r| r.chat_id == rating.chat_id) {
            return Ok(false);
        }
        self.ratings.push(rating.clone());
        Ok(true)
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
    async fn started_chat(
        &mut self,
        customer: &Actor,
        client_id: &str,
    ) -> Result<Option<ChatId>, StoreError> {
        Ok(self
            .chat_client_ids
            .iter()
            .find(|(_, a, c)| a == customer && c == client_id)
            .map(|(id, _, _)| *id))
    }
    async fn first_customer_message(
        &mut self,
        chat: ChatId,
    ) -> Result<Option<Message>, StoreError> {
        Ok(self
            .messages
            .iter()
            .find(|m| m.chat_id == chat && m.sender_type != SenderType::System)
            .cloned())
    }
    async fn insert_chat(
        &mut self,
        new: &NewChat,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        let id = ChatId(self.chats.len() as i64 + 1);
        let mut c = chat(id.0, 0);
        c.user_id = None;
        match new.customer {
            Actor::User(u) => c.user_id = Some(u),
            Actor::Guest(g) => c.guest_id = Some(g),
            _ => {}
        }
        c.topic = new.topic.clone();
        c.created_at = now;
        c.updated_at = now;
        if let Some(cid) = &new.client_id {
            self.chat_client_ids.push((id, new.customer, cid.clone()));
        }
        self.chats.push(c.clone());
        Ok(c)
    }
    async fn newest_message(&mut self, chat: ChatId) -> Result<MessageId, StoreError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| m.chat_id == chat)
            .map(|m| m.message_id)
            .max_by_key(|m| m.0)
            .unwrap_or(MessageId(0)))
    }
    async fn has_message(&mut self, chat: ChatId, id: MessageId) -> Result<bool, StoreError> {
        Ok(self
            .messages
            .iter()
            .any(|m| m.chat_id == chat && m.message_id == id))
    }
    async fn read_position(
        &mut self,
        chat: ChatId,
        reader: &Actor,
    ) -> Result<Option<(MessageId, OffsetDateTime)>, StoreError> {
        Ok(self
            .positions
            .iter()
            .find(|p| {
                p.chat_id == chat
                    && p.reader_type == reader.sender_type()
                    && p.reader_id == reader.raw_id()
            })
            .map(|p| (p.last_read_message_id, p.updated_at)))
    }
    async fn save_read_position(&mut self, position: &ReadPosition) -> Result<(), StoreError> {
        self.positions.retain(|p| {
            !(p.chat_id == position.chat_id
                && p.reader_type == position.reader_type
                && p.reader_id == position.reader_id)
        });
        self.positions.push(position.clone());
        Ok(())
    }
    async fn mark_messages_read(
        &mut self,
        chat: ChatId,
        up_to: MessageId,
        senders: [SenderType; 2],
    ) -> Result<(), StoreError> {
        for m in &mut self.messages {
            if m.chat_id == chat && m.message_id.0 <= up_to.0 && senders.contains(&m.sender_type) {
                m.is_read = true;
            }
        }
        Ok(())
    }
    async fn expire_guest_session(
        &mut self,
        guest: GuestId,
        _now: OffsetDateTime,
    ) -> Result<Vec<ChatId>, StoreError> {
        if !self.expired_guests.contains(&guest) {
            self.expired_guests.push(guest);
        }
        Ok(self
            .chats
            .iter()
            .filter(|c| c.guest_id == Some(guest) && c.status != ChatStatus::Closed)
            .map(|c| c.chat_id)
            .collect())
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
            private: false,
            attachments: Vec::new(),
        },
        rule: policy::rule(who, "N", ChatAction::Message),
        now: t0(),
    }
}

fn note(chat: i64, who: Actor, text: &str) -> WriteCommand {
    WriteCommand::Send {
        new: NewMessage {
            chat_id: ChatId(chat),
            sender: who,
            sender_name: "N".into(),
            text: text.into(),
            client_id: None,
            private: true,
            attachments: Vec::new(),
        },
        rule: policy::rule(who, "N", ChatAction::Note),
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

fn started(out: &Result<WriteOutcome, ChatError>) -> ChatStart {
    match out {
        Ok(WriteOutcome::Started(s)) => s.clone(),
        other => panic!("not a start: {other:?}"),
    }
}

#[test]
fn a_new_chat_starts_with_chat_created_then_the_first_message() {
    let mut db = Tables::default();
    let new = NewChat {
        customer: Actor::User(UserId(7)),
        customer_name: "Umar".into(),
        topic: "brakes".into(),
        first_message: Some("squeak".into()),
        client_id: Some("start-1".into()),
    };
    let cmd = || WriteCommand::Start {
        new: new.clone(),
        now: t0(),
    };
    let out = run(apply(&mut db, &[cmd()])).expect("start");
    let start = started(&out[0]);
    assert!(start.created);
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

    // A retried start finds the same chat and its first message, and writes nothing.
    let again = run(apply(&mut db, &[cmd()])).expect("retry");
    let again = started(&again[0]);
    assert!(!again.created);
    assert_eq!(again.chat, start.chat);
    assert_eq!(again.first_message, Some(first));
    assert_eq!(db.events.len(), 2);

    // Staff cannot start chats.
    let mut staff = new.clone();
    staff.customer = Actor::Worker(WorkerId(3));
    let refused = run(apply(
        &mut db,
        &[WriteCommand::Start {
            new: staff,
            now: t0(),
        }],
    ))
    .expect("batch");
    assert!(matches!(refused[0], Err(ChatError::Forbidden(_))));
}

#[test]
fn a_read_moves_forward_only_and_marks_the_other_sides_messages() {
    let mut db = Tables {
        chats: vec![chat(1, 7)],
        ..Tables::default()
    };
    let admin = Actor::Admin(AdminId(1));
    let user = Actor::User(UserId(7));
    run(apply(
        &mut db,
        &[
            send(1, user, "one", None),
            send(1, admin, "two", None),
            send(1, user, "three", None),
        ],
    ))
    .expect("sends");
    let read = |up_to: Option<i64>| WriteCommand::Read {
        chat_id: ChatId(1),
        reader: admin,
        up_to: up_to.map(MessageId),
        now: t0(),
    };
    let out = run(apply(
        &mut db,
        &[read(Some(1)), read(None), read(Some(2)), read(Some(99))],
    ))
    .expect("reads");
    let pos = |o: &Result<WriteOutcome, ChatError>| match o {
        Ok(WriteOutcome::Read(p)) => p.last_read_message_id.0,
        other => panic!("not a read: {other:?}"),
    };
    assert_eq!(pos(&out[0]), 1);
    assert_eq!(pos(&out[1]), 3);
    assert_eq!(pos(&out[2]), 3, "a read never moves the position back");
    assert_eq!(out[3], Err(ChatError::NotFound("message")));
    // The admin's reading marks the customer's messages read, not the admin's own.
    let read_flags: Vec<bool> = db.messages.iter().map(|m| m.is_read).collect();
    assert_eq!(read_flags, [true, false, true]);
    // Two reads moved the position: two message.read events, in sequence.
    let reads: Vec<i64> = db
        .events
        .iter()
        .filter(|e| e.kind == EventKind::MessageRead)
        .map(|e| e.seq)
        .collect();
    assert_eq!(reads.len(), 2);
    assert_eq!(db.chats[0].last_seq, *reads.last().expect("a read"));
}

#[test]
fn an_expired_guest_closes_its_open_chats_once() {
    let mut open = chat(1, 0);
    open.user_id = None;
    open.guest_id = Some(GuestId(5));
    let mut closed = open.clone();
    closed.chat_id = ChatId(2);
    closed.status = ChatStatus::Closed;
    let mut db = Tables {
        chats: vec![open, closed],
        ..Tables::default()
    };
    let expire = || WriteCommand::ExpireGuest {
        guest: GuestId(5),
        now: t0(),
    };
    let out = run(apply(&mut db, &[expire(), expire()])).expect("expire");
    assert_eq!(out[0], Ok(WriteOutcome::Expired(vec![ChatId(1)])));
    assert_eq!(out[1], Ok(WriteOutcome::Expired(vec![])));
    assert_eq!(db.chats[0].status, ChatStatus::Closed);
    assert_eq!(db.expired_guests, [GuestId(5)]);
    let note = db.messages.last().expect("note");
    assert_eq!(
        note.message,
        "The guest's session expired; the chat is closed"
    );
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
    match i % 10 {
        0..=2 => None, // a message
        3 => Some(ChatAction::Assign {
            worker: WorkerId(3 + i64::from(i / 10 % 2)),
            worker_name: "W".into(),
        }),
        4 => Some(ChatAction::Close),
        5 => Some(ChatAction::Escalate {
            reason: (i / 10 % 2 == 1).then(|| "brakes".to_owned()),
        }),
        6 => Some(ChatAction::Reopen),
        7 => Some(ChatAction::Unassign),
        8 => Some(ChatAction::AssignToMe),
        _ => Some(ChatAction::Note),
    }
}

fn command(who: u8, what: u8, n: usize) -> WriteCommand {
    let a = actor(who);
    match action(what) {
        None => send(1, a, &format!("m{n}"), Some(&format!("c{}", n % 5))),
        Some(ChatAction::Note) => note(1, a, &format!("n{n}")),
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
                        // A private note may follow up a closed chat; a message may not.
                        prop_assert!(m.is_private || c.status != ChatStatus::Closed, "a closed chat took a message");
                        prop_assert_eq!(m.seq, before.last_seq + 1);
                    }
                    Ok(WriteOutcome::Sent(SendOutcome::Duplicate(_), _)) => {
                        prop_assert_eq!(&before, after, "a retry changed the chat");
                    }
                    Ok(WriteOutcome::Updated(_)) => {
                        prop_assert!(policy::can_view(&actor(*who), &before), "a stranger acted");
                    }
                    Err(_) => prop_assert_eq!(&before, after, "a refusal changed the chat"),
                    Ok(other) => prop_assert!(false, "unexpected outcome {other:?}"),
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
        // Private notes are the staff's: written by staff, and their events name no
        // customer; every other message's event names the customer.
        for m in &db.messages {
            let e = db.events.iter().find(|e| e.seq == m.seq).expect("the message's event");
            if m.is_private {
                prop_assert!(m.sender_type == SenderType::Admin || m.sender_type == SenderType::Worker);
                prop_assert!(m.is_read, "a note is nobody's unread");
                prop_assert_eq!(e.visibility.user_id, None);
                prop_assert_eq!(e.visibility.guest_id, None);
            } else {
                prop_assert_eq!(e.visibility.user_id, Some(UserId(7)));
            }
        }

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

#[test]
fn tls_is_skipped_only_for_a_local_server_whose_url_says_nothing_about_it() {
    use crate::store::plain_on_loopback;
    assert!(plain_on_loopback("postgres://u@127.0.0.1/db", "127.0.0.1"));
    assert!(plain_on_loopback("postgres://u@localhost/db", "localhost"));
    assert!(plain_on_loopback("mysql://u@[::1]/db", "[::1]"));
    assert!(!plain_on_loopback(
        "postgres://u@db.example/db",
        "db.example"
    ));
    assert!(!plain_on_loopback(
        "postgres://u@127.0.0.1/db?sslmode=require",
        "127.0.0.1"
    ));
    assert!(!plain_on_loopback(
        "mysql://u@127.0.0.1/db?ssl-mode=REQUIRED",
        "127.0.0.1"
    ));
}

#[test]
fn a_private_note_is_the_staffs_alone_and_moves_no_timestamp() {
    let mut c = chat(1, 7);
    c.worker_id = Some(WorkerId(3));
    c.status = ChatStatus::Open;
    let before = c.clone();
    let mut db = Tables {
        chats: vec![c],
        ..Tables::default()
    };
    let out = run(apply(
        &mut db,
        &[
            note(1, Actor::Worker(WorkerId(3)), "customer sounds upset"),
            note(1, Actor::User(UserId(7)), "let me in"),
            note(1, Actor::Worker(WorkerId(4)), "not my chat"),
            note(1, Actor::Admin(AdminId(1)), "noted"),
        ],
    ))
    .expect("batch");
    assert!(matches!(&out[0], Ok(WriteOutcome::Sent(SendOutcome::Created(m), _)) if m.is_private));
    assert!(matches!(&out[1], Err(ChatError::Forbidden(_))));
    assert!(matches!(&out[2], Err(ChatError::NotFound(_))));
    assert!(out[3].is_ok());
    let after = &db.chats[0];
    assert_eq!(after.last_seq, 2);
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(after.last_message_at, before.last_message_at);
    assert_eq!(after.admin_id, None, "a note is not taking part");
    assert_eq!(after.status, ChatStatus::Open);
    for e in &db.events {
        assert_eq!(e.visibility.user_id, None);
        assert_eq!(e.visibility.worker_id, Some(WorkerId(3)));
    }
}

#[test]
fn a_customer_cannot_slip_a_private_message_past_the_rule() {
    // Whatever rule a caller hands in, a private message from a customer is refused.
    let mut db = Tables {
        chats: vec![chat(1, 7)],
        ..Tables::default()
    };
    let cmd = WriteCommand::Send {
        new: NewMessage {
            chat_id: ChatId(1),
            sender: Actor::User(UserId(7)),
            sender_name: "U".into(),
            text: "hidden".into(),
            client_id: None,
            private: true,
            attachments: Vec::new(),
        },
        rule: policy::rule(Actor::User(UserId(7)), "U", ChatAction::Message),
        now: t0(),
    };
    let out = run(apply(&mut db, &[cmd])).expect("batch");
    assert!(matches!(&out[0], Err(ChatError::Forbidden(_))));
    assert!(db.messages.is_empty());
}

#[test]
fn need_admin_says_so_to_everyone_and_the_reason_to_the_staff_only() {
    let mut c = chat(1, 7);
    c.worker_id = Some(WorkerId(3));
    c.status = ChatStatus::Open;
    let mut db = Tables {
        chats: vec![c],
        ..Tables::default()
    };
    let cmd = act(
        1,
        Actor::Worker(WorkerId(3)),
        ChatAction::Escalate {
            reason: Some(" warranty question ".into()),
        },
    );
    run(apply(&mut db, &[cmd])).expect("batch");
    let [system, reason] = &db.messages[..] else {
        panic!("two messages: {:?}", db.messages);
    };
    assert_eq!(system.message, "N asked for an admin");
    assert!(!system.is_private);
    assert_eq!(reason.message, "Need admin: warranty question");
    assert!(reason.is_private);
    assert_eq!(reason.sender_type, SenderType::Worker);
    let seen_by_customer: Vec<i64> = db
        .events
        .iter()
        .filter(|e| e.visibility.user_id.is_some())
        .map(|e| e.seq)
        .collect();
    assert_eq!(seen_by_customer, [system.seq, reason.seq + 1]);
}

fn rate(chat: i64, who: Actor, stars: i64, comment: &str) -> WriteCommand {
    WriteCommand::Rate {
        rating: crate::model::NewRating {
            chat_id: ChatId(chat),
            rater: who,
            rater_name: "Umar".into(),
            stars,
            comment: comment.into(),
        },
        now: t0(),
    }
}

#[test]
fn a_closed_chat_is_rated_once_by_its_customer() {
    let mut open = chat(1, 7);
    open.status = ChatStatus::Open;
    let mut closed = chat(2, 7);
    closed.status = ChatStatus::Closed;
    let mut db = Tables {
        chats: vec![open, closed],
        ..Tables::default()
    };
    let out = run(apply(
        &mut db,
        &[
            rate(1, Actor::User(UserId(7)), 5, ""),
            rate(2, Actor::Worker(WorkerId(3)), 5, ""),
            rate(2, Actor::Admin(AdminId(1)), 5, ""),
            rate(2, Actor::User(UserId(8)), 1, ""),
            rate(2, Actor::User(UserId(7)), 4, "Quick and friendly"),
            rate(2, Actor::User(UserId(7)), 1, "changed my mind"),
        ],
    ))
    .expect("batch");
    assert!(
        matches!(&out[0], Err(ChatError::Conflict(_))),
        "open: {:?}",
        out[0]
    );
    assert!(
        matches!(&out[1], Err(ChatError::NotFound(_))),
        "not their chat"
    );
    assert!(matches!(&out[2], Err(ChatError::Forbidden(_))), "staff");
    assert!(
        matches!(&out[3], Err(ChatError::NotFound(_))),
        "another customer"
    );
    let Ok(WriteOutcome::Rated(r)) = &out[4] else {
        panic!("rated: {:?}", out[4]);
    };
    assert_eq!((r.stars, r.comment.as_str()), (4, "Quick and friendly"));
    assert!(matches!(&out[5], Err(ChatError::Conflict(_))), "once");
    assert_eq!(db.ratings.len(), 1);
    // The story says so, to everyone in the chat; the chat stays closed.
    let [line] = &db.messages[..] else {
        panic!("one system line: {:?}", db.messages);
    };
    assert_eq!(line.sender_type, SenderType::System);
    assert_eq!(
        line.message,
        "Umar rated the chat 4 of 5: “Quick and friendly”"
    );
    assert_eq!(db.chats[1].status, ChatStatus::Closed);
    assert_eq!(db.chats[1].last_seq, 1);
    assert_eq!(db.events[0].visibility.user_id, Some(UserId(7)));
}

#[test]
fn automatic_assignment_in_one_batch_never_passes_capacity() {
    use crate::routing::{RoutingMode, RoutingSettings};
    let settings = RoutingSettings {
        mode: RoutingMode::LeastBusy,
        capacity: 2,
        ..RoutingSettings::default()
    };
    let mut busy = chat(9, 8);
    busy.worker_id = Some(WorkerId(3));
    busy.status = ChatStatus::Open;
    let mut db = Tables {
        chats: vec![chat(1, 7), chat(2, 7), chat(3, 7), busy],
        ..Tables::default()
    };
    let give = |c: i64| WriteCommand::AutoAssign {
        chat_id: ChatId(c),
        worker: WorkerId(3),
        worker_name: "Walt".into(),
        settings: settings.clone(),
        taken: false,
        now: t0(),
    };
    let out = run(apply(&mut db, &[give(1), give(2), give(3), give(1)])).expect("batch");
    // Walt had one open chat: one more fits, then he is full.
    assert!(matches!(&out[0], Ok(WriteOutcome::Updated(c)) if c.worker_id == Some(WorkerId(3))));
    assert!(
        matches!(&out[1], Err(ChatError::Conflict(_))),
        "{:?}",
        out[1]
    );
    assert!(matches!(&out[2], Err(ChatError::Conflict(_))));
    assert!(
        matches!(&out[3], Err(ChatError::Conflict(_))),
        "no longer waiting"
    );
    let walts = db
        .chats
        .iter()
        .filter(|c| c.worker_id == Some(WorkerId(3)))
        .count();
    assert_eq!(walts, 2);
    let line = db
        .messages
        .iter()
        .find(|m| m.sender_type == SenderType::System)
        .expect("the story");
    assert_eq!(
        line.message,
        "The chat was assigned to Walt (automatic, least busy)"
    );
}

#[test]
fn files_are_marked_sent_with_their_message_and_only_then() {
    let mut c = chat(1, 7);
    c.worker_id = Some(WorkerId(3));
    c.status = ChatStatus::Open;
    let mut db = Tables {
        chats: vec![c],
        ..Tables::default()
    };
    let file = |id: &str| crate::attachment::AttachmentMeta {
        id: id.into(),
        kind: crate::attachment::AttachmentKind::Image,
        mime: "image/jpeg".into(),
        name: format!("{id}.jpg"),
        size: 1,
        width: None,
        height: None,
        thumb: false,
    };
    let with = |cmd: WriteCommand, ids: &[&str]| match cmd {
        WriteCommand::Send { mut new, rule, now } => {
            new.attachments = ids.iter().map(|i| file(i)).collect();
            WriteCommand::Send { new, rule, now }
        }
        other => other,
    };
    let user = Actor::User(UserId(7));
    let worker = Actor::Worker(WorkerId(3));
    let batch = [
        with(send(1, user, "", Some("u-1")), &["a", "b"]),
        // Another worker does not see the chat: refused, its file stays unsent.
        with(send(1, Actor::Worker(WorkerId(9)), "", None), &["x"]),
        with(note(1, worker, "for the staff"), &["n"]),
    ];
    let out = run(apply(&mut db, &batch)).expect("batch");
    assert!(out[0].is_ok() && out[2].is_ok());
    assert!(out[1].is_err());
    let expected = [("a", false), ("b", false), ("n", true)].map(|(i, p)| (i.to_owned(), p));
    assert_eq!(db.files_sent, expected);
    // A retry of a stored message marks nothing again.
    let out = run(apply(
        &mut db,
        &[with(send(1, user, "", Some("u-1")), &["a", "b"])],
    ))
    .expect("retry");
    assert!(matches!(
        &out[0],
        Ok(WriteOutcome::Sent(SendOutcome::Duplicate(_), _))
    ));
    assert_eq!(db.files_sent, expected);
}
