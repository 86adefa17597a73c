//! Row mapping. Private to this crate.

use chat_core::StoreError;
use chat_core::model::*;
use chat_core::rows::{self, Columns};
use sqlx::Row;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::types::Json;
use time::OffsetDateTime;

/// A driver error, keeping it as the source. Serialization failures, deadlocks, lock
/// timeouts and a pool that timed out are worth a retry.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001" | "40P01" | "55P03"))
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    };
    StoreError::backend(e, retryable)
}

/// Whether `e` is a unique-key violation.
pub(crate) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
    row: &'r PgRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(db)
}

/// A row as `chat_core::rows` reads it: integers of any width, JSONB payloads.
pub struct Cols<R>(pub(crate) R);

impl<R: std::borrow::Borrow<PgRow>> Columns for Cols<R> {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.0.borrow().try_get::<Option<i64>, _>(col) {
            Err(sqlx::Error::ColumnDecode { .. }) => {
                Ok(get::<Option<i32>>(self.0.borrow(), col)?.map(i64::from))
            }
            other => other.map_err(db),
        }
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get(self.0.borrow(), col)
    }
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError> {
        get(self.0.borrow(), col)
    }
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        get(self.0.borrow(), col)
    }
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        get::<Json<serde_json::Value>>(self.0.borrow(), col).map(|Json(v)| v)
    }
}

pub(crate) fn chat(row: &PgRow) -> Result<Chat, StoreError> {
    rows::chat(&Cols(row))
}

pub(crate) fn message(row: &PgRow) -> Result<Message, StoreError> {
    rows::message(&Cols(row))
}
