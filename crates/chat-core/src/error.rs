//! The domain's refusals. Each maps to exactly one HTTP status at the edge.

use thiserror::Error;

/// Why the domain refused a request. The text is safe to show to the client.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChatError {
    /// Unknown id, or an id the actor may not see (the two look the same on purpose,
    /// so that a chat's existence does not leak to non-participants).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The actor is known and may see the thing, but this role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request is well formed but the current state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// A field's value breaks a rule (length, format, range).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl ChatError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ChatError::Invalid {
            field,
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ChatError::Forbidden(message.into())
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        ChatError::Conflict(message.into())
    }
}
