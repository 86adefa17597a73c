//! The chat status machine: `pending`, `open`, `escalated`, `closed`.
//!
//! | from \ action         | customer message | staff message            | escalate  | close  | reopen | assign |
//! |-----------------------|------------------|--------------------------|-----------|--------|--------|--------|
//! | `pending`             | pending          | open                     | escalated | closed | 409    | pending|
//! | `open`                | open             | open                     | escalated | closed | 409    | open   |
//! | `escalated`           | escalated        | admin: open, worker: esc.| 409       | closed | open   | same   |
//! | `closed`              | pending (reopens)| 409 (reopen first)       | 409       | 409    | open   | 409    |
//!
//! - A new chat starts `pending`: the customer is waiting for staff.
//! - The first staff answer makes it `open`.
//! - A worker's "need admin" (or an admin) makes it `escalated`; an admin's answer or an
//!   admin's reopen hands it back as `open`.
//! - Closing ("mark resolved") is final until a customer writes again (the chat comes back
//!   as `pending`, so staff see a customer waiting) or staff reopen it.
//! - A guest session that expires closes its chats.
//!
//! *Who* may take each action is [`crate::policy`]'s business; this module only says
//! whether the state allows it and what comes next.

use crate::actor::Actor;
use crate::error::ChatError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatStatus {
    /// Waiting for a staff answer.
    Pending,
    /// In conversation.
    Open,
    /// A worker asked for an admin ("need admin"), or an admin flagged it.
    Escalated,
    /// Resolved.
    Closed,
}

impl ChatStatus {
    pub const ALL: [ChatStatus; 4] = [
        ChatStatus::Pending,
        ChatStatus::Open,
        ChatStatus::Escalated,
        ChatStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChatStatus::Pending => "pending",
            ChatStatus::Open => "open",
            ChatStatus::Escalated => "escalated",
            ChatStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for ChatStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChatStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(ChatStatus::Pending),
            "open" => Ok(ChatStatus::Open),
            "escalated" => Ok(ChatStatus::Escalated),
            "closed" => Ok(ChatStatus::Closed),
            other => Err(format!("unknown status `{other}`")),
        }
    }
}

/// The status after `actor` sends a message into a chat in `from`.
/// `Ok(None)` means unchanged.
pub fn on_message(from: ChatStatus, actor: &Actor) -> Result<Option<ChatStatus>, ChatError> {
    use ChatStatus::*;
    match (from, actor) {
        (Closed, a) if a.is_customer() => Ok(Some(Pending)),
        (Closed, _) => Err(ChatError::conflict(
            "the chat is closed; reopen it before answering",
        )),
        (Pending, a) if a.is_staff() => Ok(Some(Open)),
        (Escalated, Actor::Admin(_)) => Ok(Some(Open)),
        _ => Ok(None),
    }
}

/// The status after an escalation ("need admin").
pub fn on_escalate(from: ChatStatus) -> Result<ChatStatus, ChatError> {
    match from {
        ChatStatus::Pending | ChatStatus::Open => Ok(ChatStatus::Escalated),
        ChatStatus::Escalated => Err(ChatError::conflict("the chat is already escalated")),
        ChatStatus::Closed => Err(ChatError::conflict("a closed chat cannot be escalated")),
    }
}

/// The status after closing ("mark resolved").
pub fn on_close(from: ChatStatus) -> Result<ChatStatus, ChatError> {
    match from {
        ChatStatus::Closed => Err(ChatError::conflict("the chat is already closed")),
        _ => Ok(ChatStatus::Closed),
    }
}

/// The status after staff reopen a chat (a closed one, or an escalation handed back).
pub fn on_reopen(from: ChatStatus) -> Result<ChatStatus, ChatError> {
    match from {
        ChatStatus::Closed | ChatStatus::Escalated => Ok(ChatStatus::Open),
        ChatStatus::Pending | ChatStatus::Open => {
            Err(ChatError::conflict(format!("the chat is already {from}")))
        }
    }
}

/// Assigning a worker keeps the status, but not on a closed chat.
pub fn on_assign(from: ChatStatus) -> Result<(), ChatError> {
    match from {
        ChatStatus::Closed => Err(ChatError::conflict(
            "a closed chat cannot be assigned; reopen it first",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;

    const USER: Actor = Actor::User(UserId(1));
    const GUEST: Actor = Actor::Guest(GuestId(1));
    const ADMIN: Actor = Actor::Admin(AdminId(1));
    const WORKER: Actor = Actor::Worker(WorkerId(1));

    #[test]
    fn messages_move_the_chat() {
        use ChatStatus::*;
        assert_eq!(on_message(Pending, &USER), Ok(None));
        assert_eq!(on_message(Pending, &WORKER), Ok(Some(Open)));
        assert_eq!(on_message(Pending, &ADMIN), Ok(Some(Open)));
        assert_eq!(on_message(Open, &GUEST), Ok(None));
        assert_eq!(on_message(Escalated, &WORKER), Ok(None));
        assert_eq!(on_message(Escalated, &ADMIN), Ok(Some(Open)));
        assert_eq!(on_message(Closed, &USER), Ok(Some(Pending)));
        assert_eq!(on_message(Closed, &GUEST), Ok(Some(Pending)));
        assert!(on_message(Closed, &WORKER).is_err());
        assert!(on_message(Closed, &ADMIN).is_err());
    }

    #[test]
    fn every_transition_is_either_allowed_or_refused_as_documented() {
        use ChatStatus::*;
        for s in ChatStatus::ALL {
            assert_eq!(on_escalate(s).is_ok(), matches!(s, Pending | Open));
            assert_eq!(on_close(s).is_ok(), s != Closed);
            assert_eq!(on_reopen(s).is_ok(), matches!(s, Closed | Escalated));
            assert_eq!(on_assign(s).is_ok(), s != Closed);
        }
        assert_eq!(on_reopen(Closed), Ok(Open));
        assert_eq!(on_escalate(Open), Ok(Escalated));
    }

    #[test]
    fn status_names_round_trip() {
        for s in ChatStatus::ALL {
            assert_eq!(s.as_str().parse::<ChatStatus>(), Ok(s));
        }
        assert!("archived".parse::<ChatStatus>().is_err());
    }
}
