//! Background jobs. Their state lives in the database, so a restart loses nothing: the
//! guest-expiry sweep finds the same idle guests after a restart.
pub mod attachments;
pub mod email;
pub mod expiry;
pub mod router;
pub mod webhooks;
