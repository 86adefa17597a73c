//! Typed ids. A `ChatId` cannot be passed where a `UserId` is expected, which is the
//! whole point: the seed's tables reuse small integers for everything.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

typed_id!(
    /// `tbl_chats.chat_id`.
    ChatId
);
typed_id!(
    /// `tbl_chat_messages.message_id`.
    MessageId
);
typed_id!(
    /// `tbl_user.id`: a logged-in customer.
    UserId
);
typed_id!(
    /// `tbl_admin.id`: a support administrator.
    AdminId
);
typed_id!(
    /// `tbl_worker.id`: a technician or support worker.
    WorkerId
);
typed_id!(
    /// `tbl_guest_sessions.guest_id`: an anonymous visitor's session.
    GuestId
);
