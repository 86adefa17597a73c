//! The SQL that the SQLite and PostgreSQL stores share, written once.
//!
//! Both databases take the same text for most statements: `$1` placeholders, `RETURNING`,
//! `ON CONFLICT`. What differs is how values travel (SQLite keeps times as fixed-width text,
//! PostgreSQL as `timestamptz`) and which connection runs a statement (SQLite reads on a
//! reader pool, writes on its one writer). Each store answers those two questions once by
//! implementing [`Sql`] and [`SqlTx`]; the queries of each family (accounts, host identity,
//! outbox, webhooks, chat reads) live in one module here, and a store takes a family's
//! `impl` with one macro call ([`account_store!`], ...). Where the two dialects really
//! differ (row locks, `SKIP LOCKED`), a query asks [`Sql::DIALECT`].

/// The same statement against each role's own table.
macro_rules! per_role {
    ($role:expr, $head:literal, $tail:literal) => {
        match $role {
            AccountRole::User => concat!($head, "tbl_user", $tail),
            AccountRole::Admin => concat!($head, "tbl_admin", $tail),
            AccountRole::Worker => concat!($head, "tbl_worker", $tail),
        }
    };
}

pub mod accounts;
pub mod attachments;
pub mod canned;
pub mod chats;
pub mod host;
pub mod outbox;
pub mod reports;
pub mod routing;
pub mod webhooks;

/// What the `impl` macros name, in scope inside them.
pub mod prelude {
    pub use chat_core::model::*;
    pub use chat_core::webhook::{Delivery, DeliveryCount, DeliveryOutcome, NewDelivery};
    pub use chat_core::{AccountRole, ChatId, GuestId, MessageId, StoreError};
    pub use time::OffsetDateTime;
}

pub use async_trait;
pub use chat_core;
pub use time;

use chat_core::StoreError;
use chat_core::rows::Columns;
use time::OffsetDateTime;

/// Which database a statement runs on, for the few statements whose text differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// A value bound to a `$n` placeholder.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Flag(Option<bool>),
    Time(Option<OffsetDateTime>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<i32> for Arg<'_> {
    fn from(v: i32) -> Self {
        Arg::Int(Some(v.into()))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<Option<i32>> for Arg<'_> {
    fn from(v: Option<i32>) -> Self {
        Arg::Int(v.map(i64::from))
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Flag(Some(v))
    }
}
impl From<OffsetDateTime> for Arg<'_> {
    fn from(v: OffsetDateTime) -> Self {
        Arg::Time(Some(v))
    }
}
impl From<Option<OffsetDateTime>> for Arg<'_> {
    fn from(v: Option<OffsetDateTime>) -> Self {
        Arg::Time(v)
    }
}

/// The values of a statement's placeholders, in order: `args![id, name, now]`.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::Arg::from($a)),*]
    };
}

/// A store that runs shared statements. Reads may go to another connection than writes
/// (SQLite's reader pool); a write sees every write committed before it.
#[async_trait::async_trait]
pub trait Sql: Send + Sync {
    const DIALECT: Dialect;
    /// One result row.
    type Row: Columns + Send + Sync;
    /// A write transaction.
    type Tx: SqlTx<Row = Self::Row>;
    /// The rows of a read.
    async fn read(&self, sql: &'static str, args: &[Arg<'_>])
    -> Result<Vec<Self::Row>, StoreError>;
    /// Run a write; how many rows it changed.
    async fn write(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// The rows a write returns (`RETURNING`).
    async fn write_rows(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Self::Row>, StoreError>;
    /// Begin a write transaction (SQLite: `BEGIN IMMEDIATE`, the write lock at once).
    async fn begin(&self) -> Result<Self::Tx, StoreError>;
    /// Begin a read-only transaction whose statements all see one snapshot.
    async fn snapshot(&self) -> Result<Self::Tx, StoreError>;

    /// The first row of a read, if any.
    async fn read_one(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Self::Row>, StoreError> {
        Ok(self.read(sql, args).await?.into_iter().next())
    }
    /// The first row a write returns, if any.
    async fn write_one(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<Self::Row>, StoreError> {
        Ok(self.write_rows(sql, args).await?.into_iter().next())
    }
}

/// A write transaction: rolled back when dropped without [`SqlTx::commit`].
#[async_trait::async_trait]
pub trait SqlTx: Send {
    type Row: Columns + Send + Sync;
    async fn rows(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Self::Row>, StoreError>;
    async fn run(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    async fn commit(self) -> Result<(), StoreError>;
}

/// `impl $trait for $store`: each method calls the function of the same name in
/// `$module`, passing the store. The families' macros ([`account_store!`], ...) list the
/// methods.
#[doc(hidden)]
#[macro_export]
macro_rules! forward {
    ($store:ty, $trait:ident, $module:ident; $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        const _: () = {
            use $crate::prelude::*;
            #[$crate::async_trait::async_trait]
            impl $crate::chat_core::store::$trait for $store {
                $(async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    $crate::$module::$name(self, $($arg),*).await
                })*
            }
        };
    };
}

/// Whether a driver error kept in `e` is a unique-key violation.
pub fn unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Backend { source, .. } => source
            .downcast_ref::<sqlx::Error>()
            .is_some_and(|e| matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())),
        _ => false,
    }
}

/// Integers of a one-column result.
pub fn ints<R: Columns>(rows: &[R], col: &str) -> Result<Vec<i64>, StoreError> {
    rows.iter().map(|r| r.int(col)).collect()
}
