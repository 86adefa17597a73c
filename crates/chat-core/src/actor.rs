//! Roles and the acting party.
//!
//! Four roles: `user` (logged-in customer), `guest` (anonymous visitor), `admin` and
//! `worker`. Messages also have a fifth sender type, `system`, for the chat's own story
//! (assignments, status changes).

use crate::ids::{AdminId, GuestId, UserId, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The four roles of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Guest,
    Admin,
    Worker,
}

/// Roles that have an account with a password (everyone but guests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountRole {
    User,
    Admin,
    Worker,
}

impl AccountRole {
    pub const ALL: [AccountRole; 3] = [AccountRole::Admin, AccountRole::Worker, AccountRole::User];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::User => "user",
            AccountRole::Admin => "admin",
            AccountRole::Worker => "worker",
        }
    }

    pub fn role(self) -> Role {
        match self {
            AccountRole::User => Role::User,
            AccountRole::Admin => Role::Admin,
            AccountRole::Worker => Role::Worker,
        }
    }

    /// The actor this account acts as.
    pub fn actor(self, id: i64) -> Actor {
        match self {
            AccountRole::User => Actor::User(UserId(id)),
            AccountRole::Admin => Actor::Admin(AdminId(id)),
            AccountRole::Worker => Actor::Worker(WorkerId(id)),
        }
    }
}

impl fmt::Display for AccountRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for AccountRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(AccountRole::User),
            "admin" => Ok(AccountRole::Admin),
            "worker" => Ok(AccountRole::Worker),
            other => Err(format!(
                "unknown role `{other}` (expected admin, worker or user)"
            )),
        }
    }
}

/// Who wrote a message: the seed's `sender_type`, plus `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SenderType {
    User,
    Guest,
    Admin,
    Worker,
    System,
}

impl SenderType {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::User => "user",
            SenderType::Guest => "guest",
            SenderType::Admin => "admin",
            SenderType::Worker => "worker",
            SenderType::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => SenderType::User,
            "guest" => SenderType::Guest,
            "admin" => SenderType::Admin,
            "worker" => SenderType::Worker,
            "system" => SenderType::System,
            _ => return None,
        })
    }
}

/// The party making a request, after authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    User(UserId),
    Guest(GuestId),
    Admin(AdminId),
    Worker(WorkerId),
}

impl Actor {
    pub fn role(&self) -> Role {
        match self {
            Actor::User(_) => Role::User,
            Actor::Guest(_) => Role::Guest,
            Actor::Admin(_) => Role::Admin,
            Actor::Worker(_) => Role::Worker,
        }
    }

    /// The raw id inside the role's own table.
    pub fn raw_id(&self) -> i64 {
        match self {
            Actor::User(id) => id.0,
            Actor::Guest(id) => id.0,
            Actor::Admin(id) => id.0,
            Actor::Worker(id) => id.0,
        }
    }

    pub fn sender_type(&self) -> SenderType {
        match self {
            Actor::User(_) => SenderType::User,
            Actor::Guest(_) => SenderType::Guest,
            Actor::Admin(_) => SenderType::Admin,
            Actor::Worker(_) => SenderType::Worker,
        }
    }

    /// Customers are the people asking for help: users and guests.
    /// The chat columns a customer fills: `(user_id, guest_id)`; both `None` for staff.
    pub fn customer_columns(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Actor::User(u) => (Some(u.0), None),
            Actor::Guest(g) => (None, Some(g.0)),
            _ => (None, None),
        }
    }

    pub fn is_customer(&self) -> bool {
        matches!(self, Actor::User(_) | Actor::Guest(_))
    }

    /// Staff are the people answering: admins and workers.
    pub fn is_staff(&self) -> bool {
        !self.is_customer()
    }

    /// Rebuild an actor from the `(reader_role, reader_id)` pair stored in tables.
    pub fn from_parts(role: &str, id: i64) -> Option<Actor> {
        Some(match role {
            "user" => Actor::User(UserId(id)),
            "guest" => Actor::Guest(GuestId(id)),
            "admin" => Actor::Admin(AdminId(id)),
            "worker" => Actor::Worker(WorkerId(id)),
            _ => return None,
        })
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Guest => "guest",
            Role::Admin => "admin",
            Role::Worker => "worker",
        }
    }
}
