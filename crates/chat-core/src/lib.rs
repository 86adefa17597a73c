//! Nati Chat's domain core.
//!
//! Everything a newcomer looks for by name lives here, free of HTTP and SQL:
//! - [`ids`]: typed ids (`ChatId`, `UserId`, ...), never a bare `i64` across layers;
//! - [`actor`]: the four roles and who is acting;
//! - [`status`]: the chat status machine and every allowed transition;
//! - [`policy`]: who may see and do what, in one module;
//! - [`routing`]: the queue and automatic assignment (modes, capacity, who is available);
//! - [`reports`]: the admins' reports (per day and worker: response and resolution times);
//! - [`validate`]: the rules for message text, names, emails and passwords;
//! - [`model`]: the records the store hands back;
//! - [`store`]: the one storage trait every backend implements, and its error;
//! - [`write`]: the write path's rules (sequence, events, system messages) as a plan a store
//!   executes, and the node's batching writer;
//! - [`secret`]: session tokens and password hashes;
//! - [`hosttoken`]: the rule for the host site's sign-in token (HS256 JWT);
//! - [`webhook`]: which events become webhooks, their payloads, signing and retries;
//! - [`conformance`]: the story every store implementation must pass.
#![forbid(unsafe_code)]

pub mod actor;
pub mod attachment;
pub mod conformance;
pub mod conformance_concurrency;
pub mod conformance_webhooks;
pub mod error;
pub mod hosttoken;
pub mod ids;
pub mod model;
pub mod notify;
pub mod policy;
pub mod reports;
pub mod routing;
pub mod rows;
pub mod secret;
pub mod status;
pub mod store;
pub mod validate;
pub mod webhook;
pub mod write;

pub use actor::{AccountRole, Actor, Role, SenderType};
pub use error::ChatError;
pub use ids::{AdminId, ChatId, GuestId, MessageId, UserId, WorkerId};
pub use status::ChatStatus;
pub use store::{
    AccountStore, CannedReplyStore, ChatReads, HostStore, JobStore, NodeStore, ReportStore,
    RoutingStore, Store, StoreError, WebhookStore,
};

/// `use chat_core::prelude::*;` brings the store traits into scope: calling a method of
/// `dyn Store` that one of the narrow traits declares needs that trait in scope.
pub mod prelude {
    pub use crate::store::{
        AccountStore, AttachmentStore, BlobStore, CannedReplyStore, ChatReads, HostStore, JobStore,
        NodeStore, ReportStore, RoutingStore, Store, WebhookStore,
    };
}
