//! How the shared statements of `chat-store-sql` run here: reads on the reader pool,
//! writes on the pool's writer connection, times as fixed-width text ([`ts`]).

use crate::SqliteStore;
use crate::rows::{Cols, db, ts};
use chat_core::StoreError;
use chat_store_sql::{Arg, Dialect, Sql, SqlTx};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};

type Row = Cols<SqliteRow>;

fn query<'q>(sql: &'static str, args: &[Arg<'_>]) -> Query<'q, Sqlite, SqliteArguments> {
    args.iter().fold(sqlx::query(sql), |q, a| match *a {
        Arg::Int(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Flag(v) => q.bind(v),
        Arg::Time(v) => q.bind(v.map(ts)),
    })
}

fn rows(found: Vec<SqliteRow>) -> Vec<Row> {
    found.into_iter().map(Cols).collect()
}

#[async_trait::async_trait]
impl Sql for SqliteStore {
    const DIALECT: Dialect = Dialect::Sqlite;
    type Row = Row;
    type Tx = Tx;

    async fn read(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        query(sql, args)
            .fetch_all(&self.reader)
            .await
            .map(rows)
            .map_err(db)
    }
    async fn write(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&self.writer).await.map_err(db)?;
        Ok(done.rows_affected())
    }
    async fn write_rows(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        query(sql, args)
            .fetch_all(&self.writer)
            .await
            .map(rows)
            .map_err(db)
    }
    async fn begin(&self) -> Result<Tx, StoreError> {
        self.begin_write().await.map(Tx)
    }
    /// A read transaction on a reader: WAL gives its statements one snapshot.
    async fn snapshot(&self) -> Result<Tx, StoreError> {
        self.reader.begin().await.map(Tx).map_err(db)
    }
}

/// A write transaction of the shared statements (`BEGIN IMMEDIATE` on the writer).
pub struct Tx(sqlx::Transaction<'static, Sqlite>);

#[async_trait::async_trait]
impl SqlTx for Tx {
    type Row = Row;
    async fn rows(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        query(sql, args)
            .fetch_all(&mut *self.0)
            .await
            .map(rows)
            .map_err(db)
    }
    async fn run(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&mut *self.0).await.map_err(db)?;
        Ok(done.rows_affected())
    }
    async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await.map_err(db)
    }
}
