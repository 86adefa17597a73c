//! Row mapping. Private to this crate.
//!
//! Times are `DATETIME(6)` columns holding UTC; sqlx decodes them as `OffsetDateTime` at
//! UTC and encodes any `OffsetDateTime` converted to UTC, whatever the session time zone.
//! Integer columns pointing at the host's tables may be unsigned (`INT UNSIGNED`), which
//! sqlx decodes only as unsigned: [`int`] takes either.

use chat_core::model::*;
use chat_core::rows::{self, Columns};
use chat_core::{AccountRole, StoreError};
use sqlx::Row;
use sqlx::mysql::MySqlRow;
use time::OffsetDateTime;

/// A driver error, keeping it as the source. Deadlocks (1213), lock wait timeouts (1205)
/// and a pool that timed out are worth a retry.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001" | "HY000"))
                && (d.message().contains("Deadlock") || d.message().contains("Lock wait timeout"))
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    };
    StoreError::backend(e, retryable)
}

/// A unique key refused the row.
pub(crate) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// An insert a unique key may refuse: whether it added its row. InnoDB undoes only the
/// refused statement, so the transaction goes on.
pub(crate) fn added_unless_duplicate(
    done: Result<sqlx::mysql::MySqlQueryResult, sqlx::Error>,
) -> Result<bool, sqlx::Error> {
    match done {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// LIMIT takes no negative number here; SQLite reads one as "no limit", and so do we.
pub(crate) fn limit(n: i64) -> i64 {
    if n < 0 { i64::MAX } else { n }
}

fn get<'r, T: sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>>(
    row: &'r MySqlRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(db)
}

/// An integer column, signed or unsigned, of any width.
pub(crate) fn opt_int(row: &MySqlRow, col: &str) -> Result<Option<i64>, StoreError> {
    match row.try_get::<Option<i64>, _>(col) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnDecode { .. }) => get::<Option<u64>>(row, col)?
            .map(|u| {
                i64::try_from(u).map_err(|_| StoreError::Database(format!("{col}: {u} too large")))
            })
            .transpose(),
        Err(e) => Err(db(e)),
    }
}

pub(crate) fn int(row: &MySqlRow, col: &str) -> Result<i64, StoreError> {
    opt_int(row, col)?.ok_or_else(|| StoreError::Database(format!("{col} is NULL")))
}

pub(crate) fn time_col(row: &MySqlRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    get(row, col)
}

/// A row as `chat_core::rows` reads it: integers signed or unsigned, flags as `BOOLEAN`
/// or as the integer a computed column gives.
pub(crate) struct Cols<'r>(pub(crate) &'r MySqlRow);

impl Columns for Cols<'_> {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        opt_int(self.0, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get(self.0, col)
    }
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError> {
        match self.0.try_get::<Option<bool>, _>(col) {
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(opt_int(self.0, col)?.map(|v| v != 0)),
            other => other.map_err(db),
        }
    }
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        get(self.0, col)
    }
}

pub(crate) fn account(row: &MySqlRow, role: AccountRole) -> Result<Account, StoreError> {
    rows::account(&Cols(row), role)
}

pub(crate) fn guest(row: &MySqlRow) -> Result<Guest, StoreError> {
    rows::guest(&Cols(row))
}

pub(crate) fn chat(row: &MySqlRow) -> Result<Chat, StoreError> {
    rows::chat(&Cols(row))
}

pub(crate) fn summary(row: &MySqlRow) -> Result<ChatSummary, StoreError> {
    rows::summary(&Cols(row))
}

pub(crate) fn message(row: &MySqlRow) -> Result<Message, StoreError> {
    rows::message(&Cols(row))
}

pub(crate) fn preferences(row: &MySqlRow) -> Result<Preferences, StoreError> {
    rows::preferences(&Cols(row))
}

pub(crate) fn event(row: &MySqlRow) -> Result<StoredEvent, StoreError> {
    rows::event(&Cols(row))
}
