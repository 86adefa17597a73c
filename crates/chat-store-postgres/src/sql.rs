//! How the shared statements of `chat-store-sql` run here: every one on the pool.

use crate::PgStore;
use crate::rows::{Cols, db};
use chat_core::StoreError;
use chat_store_sql::{Arg, Dialect, Sql, SqlTx};
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::Query;

type Row = Cols<PgRow>;

fn query<'q>(sql: &'static str, args: &[Arg<'_>]) -> Query<'q, Postgres, PgArguments> {
    args.iter().fold(sqlx::query(sql), |q, a| match *a {
        Arg::Int(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Flag(v) => q.bind(v),
        Arg::Time(v) => q.bind(v),
    })
}

fn rows(found: Vec<PgRow>) -> Vec<Row> {
    found.into_iter().map(Cols).collect()
}

#[async_trait::async_trait]
impl Sql for PgStore {
    const DIALECT: Dialect = Dialect::Postgres;
    type Row = Row;
    type Tx = Tx;

    async fn read(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        query(sql, args)
            .fetch_all(&self.pool)
            .await
            .map(rows)
            .map_err(db)
    }
    async fn write(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&self.pool).await.map_err(db)?;
        Ok(done.rows_affected())
    }
    async fn write_rows(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        self.read(sql, args).await
    }
    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        self.pool.begin().await.map(Tx).map_err(db)
    }
    async fn snapshot(&self) -> Result<Self::Tx, StoreError> {
        let sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        self.pool.begin_with(sql).await.map(Tx).map_err(db)
    }
}

/// A write transaction of the shared statements.
pub struct Tx(sqlx::Transaction<'static, Postgres>);

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
