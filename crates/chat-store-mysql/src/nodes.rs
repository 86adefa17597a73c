//! Several servers on one database: staff presence shared between nodes. (Events need
//! nothing here: each node's hub polls the event log, see docs/mariadb.md.)

use crate::MysqlStore;
use crate::rows::db;
use chat_core::{Actor, StoreError};
use time::OffsetDateTime;

#[async_trait::async_trait]
impl chat_core::store::NodeStore for MysqlStore {
    fn pool_stats(&self) -> Vec<chat_core::store::PoolStats> {
        vec![chat_core::store::PoolStats {
            name: "main",
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }]
    }

    async fn publish_presence(
        &self,
        node: &str,
        online: &[Actor],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM tbl_chat_presence WHERE node_id = ? OR updated_at < ?")
            .bind(node)
            .bind(now - chat_core::store::PRESENCE_KEEP)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for a in online.iter().filter(|a| a.is_staff()) {
            sqlx::query(
                "INSERT IGNORE INTO tbl_chat_presence (node_id, staff_role, staff_id, updated_at) \
             VALUES (?, ?, ?, ?)",
            )
            .bind(node)
            .bind(a.sender_type().as_str())
            .bind(a.raw_id())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn presence_elsewhere(
        &self,
        node: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Actor>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT DISTINCT CAST(staff_role AS CHAR(8)), staff_id FROM tbl_chat_presence \
         WHERE node_id <> ? AND updated_at >= ?",
        )
        .bind(node)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .filter_map(|(r, i)| Actor::from_parts(&r, i))
            .collect())
    }
}
