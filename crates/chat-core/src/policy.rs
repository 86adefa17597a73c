//! Who may see and do what. Every handler asks here; no handler decides by itself.
//!
//! - **See a chat**: an admin sees every chat; a worker the chats assigned to them; a user
//!   their own; a guest the chats of its session. Everyone else gets "not found", so a
//!   chat's existence does not leak.
//! - **Send, mark read**: anyone who sees the chat.
//! - **Private notes**: written and read by the staff who see the chat (admins, its
//!   worker); never by its customer ([`sees_private_notes`]). A note changes nothing else.
//! - **Assign or reassign a worker, list with every filter**: admins only.
//! - **Close ("mark resolved")**: admins, the assigned worker, and the user for their own chat.
//! - **Escalate ("need admin")**: the assigned worker and admins.
//! - **Reopen**: admins and the assigned worker (a customer reopens by writing again).
//! - **Rate**: the customer, once the chat is closed, once per chat ([`may_rate`]).
//! - **Download a file**: its uploader until it is sent; then whoever reads its message —
//!   those who see the chat, and only the staff for a private note's file ([`may_download`]).

use crate::actor::Actor;
use crate::attachment::Attachment;
use crate::error::ChatError;
use crate::ids::WorkerId;
use crate::model::{CannedReply, Chat, ChatChange, ChatScope, PrivateNote};
use crate::status;

/// What an actor wants to do to a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatAction {
    /// Send a message.
    Message,
    /// Write a private note for the staff.
    Note,
    /// Assign (or reassign) a worker; the name goes into the chat's story.
    Assign {
        worker: WorkerId,
        worker_name: String,
    },
    /// Take the worker off the chat (or an admin's hold: back to the queue).
    Unassign,
    /// An admin takes the chat themselves ("Assign to me"): it leaves the queue (and its
    /// worker, if any) and is theirs until they put it back or assign a worker.
    AssignToMe,
    Close,
    /// "Need admin", with an optional reason.
    Escalate {
        reason: Option<String>,
    },
    Reopen,
    /// Mark messages read.
    Read,
}

/// May `actor` see `chat` at all?
pub fn can_view(actor: &Actor, chat: &Chat) -> bool {
    match actor {
        Actor::Admin(_) => true,
        Actor::Worker(w) => chat.worker_id == Some(*w),
        Actor::User(u) => chat.user_id == Some(*u),
        Actor::Guest(g) => chat.guest_id == Some(*g),
    }
}

/// Whether an actor sees private notes: the staff do (admins, and a worker in the chats
/// they see), customers never.
pub fn sees_private_notes(actor: &Actor) -> bool {
    actor.is_staff()
}

/// May `actor` download `file`? Before it is sent in a message only its uploader may (a
/// tray's thumbnail); after, whoever reads that message: those who see `chat` (the file's
/// chat, which the caller loads for a sent file), and for a file in a private note only
/// the staff. Everyone else is told there is no such file.
pub fn may_download(actor: &Actor, file: &Attachment, chat: Option<&Chat>) -> bool {
    if !file.sent {
        return actor.sender_type() == file.uploader_type && actor.raw_id() == file.uploader_id;
    }
    match chat {
        Some(chat) if chat.chat_id == file.chat_id => {
            can_view(actor, chat) && (!file.private || sees_private_notes(actor))
        }
        _ => false,
    }
}

/// May `actor` rate `chat`? Its customer, once it is closed (the once is the store's
/// primary key). Staff are forbidden; anyone else is told there is no such chat.
pub fn may_rate(actor: &Actor, chat: &Chat) -> Result<(), ChatError> {
    if !can_view(actor, chat) {
        return Err(ChatError::NotFound("chat"));
    }
    if !actor.is_customer() {
        return Err(ChatError::forbidden("only the customer rates a chat"));
    }
    if chat.status != crate::ChatStatus::Closed {
        return Err(ChatError::conflict("a chat is rated once it is closed"));
    }
    Ok(())
}

/// The chats an actor may list.
pub fn scope_for(actor: &Actor) -> ChatScope {
    match actor {
        Actor::Admin(_) => ChatScope::All,
        Actor::Worker(w) => ChatScope::Worker(*w),
        Actor::User(u) => ChatScope::User(*u),
        Actor::Guest(g) => ChatScope::Guest(*g),
    }
}

/// Is the actor one of the admins? For admin-only endpoints that are not about one chat
/// (account management, listing workers).
pub fn require_admin(actor: &Actor) -> Result<(), ChatError> {
    match actor {
        Actor::Admin(_) => Ok(()),
        _ => Err(ChatError::forbidden("only admins may do this")),
    }
}

/// Canned replies are the staff's: admins and workers read the team's and their own.
pub fn may_use_canned(actor: &Actor) -> Result<(), ChatError> {
    if actor.is_staff() {
        Ok(())
    } else {
        Err(ChatError::Forbidden(
            "canned replies are for admins and workers".into(),
        ))
    }
}

/// Who may change or delete a canned reply, or add one: team replies are the admins' to
/// keep; a personal one only its owner's. Another staff member's personal reply is not
/// found, rather than forbidden: they cannot see it.
pub fn may_manage_canned(actor: &Actor, reply: &CannedReply) -> Result<(), ChatError> {
    may_use_canned(actor)?;
    match &reply.owner {
        None if matches!(actor, Actor::Admin(_)) => Ok(()),
        None => Err(ChatError::Forbidden(
            "team replies are kept by admins; add a personal one instead".into(),
        )),
        Some(owner) if owner == actor => Ok(()),
        Some(_) => Err(ChatError::NotFound("canned reply")),
    }
}

/// Is `actor` allowed to take `action` on `chat`, by role alone? Not-a-participant is
/// "not found"; a participant without the right is "forbidden".
pub fn authorize(actor: &Actor, chat: &Chat, action: &ChatAction) -> Result<(), ChatError> {
    if !can_view(actor, chat) {
        return Err(ChatError::NotFound("chat"));
    }
    let allowed = match action {
        ChatAction::Message | ChatAction::Read => true,
        ChatAction::Note => sees_private_notes(actor),
        ChatAction::Assign { .. } | ChatAction::Unassign | ChatAction::AssignToMe => {
            matches!(actor, Actor::Admin(_))
        }
        ChatAction::Close => matches!(actor, Actor::Admin(_) | Actor::Worker(_) | Actor::User(_)),
        ChatAction::Escalate { .. } | ChatAction::Reopen => {
            matches!(actor, Actor::Admin(_) | Actor::Worker(_))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(ChatError::forbidden(format!(
            "a {} may not {} this chat",
            actor.role().as_str(),
            action.verb()
        )))
    }
}

impl ChatAction {
    fn verb(&self) -> &'static str {
        match self {
            ChatAction::Message => "write in",
            ChatAction::Note => "write private notes in",
            ChatAction::Assign { .. } => "assign",
            ChatAction::Unassign => "unassign",
            ChatAction::AssignToMe => "take",
            ChatAction::Close => "close",
            ChatAction::Escalate { .. } => "escalate",
            ChatAction::Reopen => "reopen",
            ChatAction::Read => "read",
        }
    }
}

/// [`decide`] for this actor and action, as the owned rule a store asks on the chat as
/// locked inside its transaction.
pub fn rule(actor: Actor, actor_name: &str, action: ChatAction) -> crate::write::Rule {
    let name = actor_name.to_owned();
    Box::new(move |chat: &Chat| decide(&actor, &name, chat, &action))
}

/// The whole rule for an action: may the actor do it, does the state allow it, and what
/// changes (status, assignment, the system message that tells the chat's story).
pub fn decide(
    actor: &Actor,
    actor_name: &str,
    chat: &Chat,
    action: &ChatAction,
) -> Result<ChatChange, ChatError> {
    authorize(actor, chat, action)?;
    let mut change = ChatChange::default();
    // The first admin who acts on a chat becomes its admin (`tbl_chats.admin_id`); reading
    // and private notes are not acting in front of the customer.
    if let (Actor::Admin(a), None) = (actor, chat.admin_id)
        && !matches!(action, ChatAction::Read | ChatAction::Note)
    {
        change.admin_id = Some(*a);
    }
    match action {
        ChatAction::Read | ChatAction::Note => {}
        ChatAction::Message => {
            let next = status::on_message(chat.status, actor)?;
            if let Some(next) = next {
                change.status = Some(next);
                change.note = match (chat.status, next) {
                    (crate::ChatStatus::Closed, _) => {
                        Some(format!("{actor_name} wrote again; the chat is reopened"))
                    }
                    (crate::ChatStatus::Escalated, _) => {
                        Some(format!("Escalation handled by {actor_name}"))
                    }
                    _ => None,
                };
            }
        }
        ChatAction::Assign {
            worker,
            worker_name,
        } => {
            status::on_assign(chat.status)?;
            if chat.worker_id == Some(*worker) {
                return Err(ChatError::conflict(format!(
                    "the chat is already assigned to {worker_name}"
                )));
            }
            let Actor::Admin(admin) = actor else {
                return Err(ChatError::forbidden("only admins may assign"));
            };
            change.worker_id = Some(Some(*worker));
            change.assigned_by = Some(*admin);
            change.note = Some(if chat.worker_id.is_some() {
                format!("{actor_name} reassigned the chat to {worker_name}")
            } else {
                format!("{actor_name} assigned the chat to {worker_name}")
            });
        }
        ChatAction::Unassign => {
            if chat.worker_id.is_none() && chat.assigned_by.is_none() {
                return Err(ChatError::conflict("the chat has no worker"));
            }
            change.worker_id = Some(None);
            change.note = Some(if chat.worker_id.is_some() {
                format!("{actor_name} took the worker off the chat")
            } else {
                format!("{actor_name} put the chat back in the queue")
            });
        }
        ChatAction::AssignToMe => {
            status::on_assign(chat.status)?;
            let Actor::Admin(admin) = actor else {
                return Err(ChatError::forbidden("only admins take chats themselves"));
            };
            if chat.worker_id.is_none() && chat.assigned_by == Some(*admin) {
                return Err(ChatError::conflict("the chat is already yours"));
            }
            // No worker, and the admin as the one who made the assignment: held by them
            // (`routing::is_waiting` leaves it out of the queue).
            change.worker_id = Some(None);
            change.assigned_by = Some(*admin);
            change.admin_id = Some(*admin);
            change.note = Some(format!("{actor_name} took the chat"));
        }
        ChatAction::Close => {
            change.status = Some(status::on_close(chat.status)?);
            change.note = Some(format!("{actor_name} closed the chat"));
        }
        ChatAction::Escalate { reason } => {
            change.status = Some(status::on_escalate(chat.status)?);
            change.note = Some(format!("{actor_name} asked for an admin"));
            // The reason is for the staff: a private note, never shown to the customer.
            change.private_note = reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| PrivateNote {
                    author: *actor,
                    author_name: actor_name.to_owned(),
                    text: format!("Need admin: {r}"),
                });
        }
        ChatAction::Reopen => {
            let from = chat.status;
            change.status = Some(status::on_reopen(from)?);
            change.note = Some(if from == crate::ChatStatus::Escalated {
                format!("{actor_name} handed the chat back")
            } else {
                format!("{actor_name} reopened the chat")
            });
        }
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;
    use crate::status::ChatStatus;
    use time::OffsetDateTime;

    fn chat(
        status: ChatStatus,
        user: Option<i64>,
        guest: Option<i64>,
        worker: Option<i64>,
    ) -> Chat {
        let now = OffsetDateTime::UNIX_EPOCH;
        Chat {
            chat_id: ChatId(1),
            user_id: user.map(UserId),
            guest_id: guest.map(GuestId),
            admin_id: None,
            worker_id: worker.map(WorkerId),
            assigned_by: None,
            status,
            topic: String::new(),
            last_seq: 0,
            created_at: now,
            updated_at: now,
            last_message_at: None,
        }
    }

    #[test]
    fn visibility_follows_the_role() {
        let c = chat(ChatStatus::Open, Some(7), None, Some(3));
        assert!(can_view(&Actor::Admin(AdminId(99)), &c));
        assert!(can_view(&Actor::Worker(WorkerId(3)), &c));
        assert!(!can_view(&Actor::Worker(WorkerId(4)), &c));
        assert!(can_view(&Actor::User(UserId(7)), &c));
        assert!(!can_view(&Actor::User(UserId(8)), &c));
        assert!(!can_view(&Actor::Guest(GuestId(7)), &c));
        let g = chat(ChatStatus::Open, None, Some(5), None);
        assert!(can_view(&Actor::Guest(GuestId(5)), &g));
        assert!(!can_view(&Actor::User(UserId(5)), &g));
    }

    #[test]
    fn non_participants_get_not_found_and_participants_forbidden() {
        let c = chat(ChatStatus::Open, Some(7), None, Some(3));
        let assign = ChatAction::Assign {
            worker: WorkerId(4),
            worker_name: "W".into(),
        };
        assert_eq!(
            decide(&Actor::User(UserId(8)), "x", &c, &ChatAction::Close),
            Err(ChatError::NotFound("chat"))
        );
        assert!(matches!(
            decide(&Actor::User(UserId(7)), "x", &c, &assign),
            Err(ChatError::Forbidden(_))
        ));
        assert!(matches!(
            decide(&Actor::Worker(WorkerId(3)), "x", &c, &assign),
            Err(ChatError::Forbidden(_))
        ));
        assert!(decide(&Actor::Admin(AdminId(1)), "A", &c, &assign).is_ok());
        // Users close their own chat, but may neither escalate nor reopen it.
        assert!(decide(&Actor::User(UserId(7)), "x", &c, &ChatAction::Close).is_ok());
        assert!(matches!(
            decide(
                &Actor::User(UserId(7)),
                "x",
                &c,
                &ChatAction::Escalate { reason: None }
            ),
            Err(ChatError::Forbidden(_))
        ));
        // Guests may not close.
        let g = chat(ChatStatus::Open, None, Some(5), None);
        assert!(matches!(
            decide(&Actor::Guest(GuestId(5)), "x", &g, &ChatAction::Close),
            Err(ChatError::Forbidden(_))
        ));
    }

    #[test]
    fn assignment_tells_the_story_and_records_who() {
        let c = chat(ChatStatus::Pending, Some(7), None, None);
        let change = decide(
            &Actor::Admin(AdminId(2)),
            "Alice",
            &c,
            &ChatAction::Assign {
                worker: WorkerId(3),
                worker_name: "Bob".into(),
            },
        )
        .expect("admin may assign");
        assert_eq!(change.worker_id, Some(Some(WorkerId(3))));
        assert_eq!(change.assigned_by, Some(AdminId(2)));
        assert_eq!(change.admin_id, Some(AdminId(2)));
        assert_eq!(change.status, None);
        assert_eq!(
            change.note.as_deref(),
            Some("Alice assigned the chat to Bob")
        );

        let c = chat(ChatStatus::Open, Some(7), None, Some(3));
        let again = decide(
            &Actor::Admin(AdminId(2)),
            "Alice",
            &c,
            &ChatAction::Assign {
                worker: WorkerId(3),
                worker_name: "Bob".into(),
            },
        );
        assert!(matches!(again, Err(ChatError::Conflict(_))));
    }

    #[test]
    fn staff_answer_opens_and_customer_reopens() {
        let c = chat(ChatStatus::Pending, Some(7), None, Some(3));
        let ch = decide(&Actor::Worker(WorkerId(3)), "W", &c, &ChatAction::Message).expect("ok");
        assert_eq!(ch.status, Some(ChatStatus::Open));
        assert_eq!(ch.note, None);
        let closed = chat(ChatStatus::Closed, Some(7), None, Some(3));
        let ch = decide(&Actor::User(UserId(7)), "U", &closed, &ChatAction::Message).expect("ok");
        assert_eq!(ch.status, Some(ChatStatus::Pending));
        assert!(ch.note.is_some());
        assert!(matches!(
            decide(
                &Actor::Worker(WorkerId(3)),
                "W",
                &closed,
                &ChatAction::Message
            ),
            Err(ChatError::Conflict(_))
        ));
    }

    fn actor_of(kind: u8, id: i64) -> Actor {
        match kind % 4 {
            0 => Actor::Admin(AdminId(id)),
            1 => Actor::Worker(WorkerId(id)),
            2 => Actor::User(UserId(id)),
            _ => Actor::Guest(GuestId(id)),
        }
    }

    proptest::proptest! {
        /// A file is read exactly as its message is: before it is sent only its uploader
        /// may download it; after, those who see its chat, the staff alone for a private
        /// note's file; never through another chat.
        #[test]
        fn files_are_read_as_their_messages_are(
            who in (0u8..4, 1i64..4),
            uploader in (0u8..4, 1i64..4),
            user in proptest::option::of(1i64..4),
            guest in proptest::option::of(1i64..4),
            worker in proptest::option::of(1i64..4),
            sent in proptest::bool::ANY,
            private in proptest::bool::ANY,
            other_chat in proptest::bool::ANY,
        ) {
            let actor = actor_of(who.0, who.1);
            let up = actor_of(uploader.0, uploader.1);
            let c = chat(ChatStatus::Open, user, guest, worker);
            let file = crate::attachment::Attachment {
                meta: crate::attachment::AttachmentMeta {
                    id: "f".into(),
                    kind: crate::attachment::AttachmentKind::Image,
                    mime: "image/jpeg".into(),
                    name: "a.jpg".into(),
                    size: 1,
                    width: None,
                    height: None,
                    thumb: false,
                },
                chat_id: if other_chat { ChatId(2) } else { c.chat_id },
                uploader_type: up.sender_type(),
                uploader_id: up.raw_id(),
                client_id: "c".into(),
                sha256: String::new(),
                thumb_sha256: None,
                sent,
                private,
                created_at: OffsetDateTime::UNIX_EPOCH,
            };
            let may = may_download(&actor, &file, Some(&c));
            if !sent {
                proptest::prop_assert_eq!(may, actor == up);
            } else if other_chat {
                proptest::prop_assert!(!may);
            } else {
                proptest::prop_assert_eq!(may, can_view(&actor, &c) && (!private || actor.is_staff()));
                // A sent file without its chat is nobody's.
                proptest::prop_assert!(!may_download(&actor, &file, None));
            }
        }
    }
}
