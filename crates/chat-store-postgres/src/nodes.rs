//! Several servers on one database: `NOTIFY` after local commits, `LISTEN` for the others'.

use crate::PgStore;
use crate::rows::db;
use chat_core::{Actor, StoreError};
use sqlx::postgres::PgListener;
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// The channel that carries "events were committed" between nodes.
pub const EVENTS_CHANNEL: &str = "nati_chat_events";

/// This store's identity among the nodes, and its listening connection (made on first use).
pub(crate) struct Node {
    id: String,
    listener: Mutex<Option<PgListener>>,
}

impl Node {
    pub(crate) fn new() -> Node {
        Node {
            id: format!("{:016x}", crate::random_u64()),
            listener: Mutex::new(None),
        }
    }

    /// Drop the listener unless a caller is waiting on it.
    pub(crate) fn drop_idle_listener(&self) {
        if let Ok(mut l) = self.listener.try_lock() {
            *l = None;
        }
    }
}

#[async_trait::async_trait]
impl chat_core::store::NodeStore for PgStore {
    fn pool_stats(&self) -> Vec<chat_core::store::PoolStats> {
        vec![chat_core::store::PoolStats {
            name: "main",
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }]
    }

    async fn announce_events(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(&self.node.id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Resolves when another node announced events, when listening (re)started (anything may
    /// have been committed meanwhile), or with an error (the caller retries).
    async fn remote_events(&self) -> Result<(), StoreError> {
        let mut guard = self.node.listener.lock().await;
        let Some(listener) = guard.as_mut() else {
            let mut listener = PgListener::connect_with(&self.pool).await.map_err(db)?;
            listener.listen(EVENTS_CHANNEL).await.map_err(db)?;
            *guard = Some(listener);
            return Ok(());
        };
        loop {
            match listener.try_recv().await {
                // Our own announcement: this node's hub already knows.
                Ok(Some(n)) if n.payload() == self.node.id => continue,
                Ok(Some(_)) => return Ok(()),
                // The connection was lost and is being remade: notifications may be lost.
                Ok(None) => return Ok(()),
                Err(e) => {
                    *guard = None;
                    return Err(db(e));
                }
            }
        }
    }

    async fn publish_presence(
        &self,
        node: &str,
        online: &[Actor],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM tbl_chat_presence WHERE node_id = $1 OR updated_at < $2")
            .bind(node)
            .bind(now - chat_core::store::PRESENCE_KEEP)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let (roles, ids): (Vec<&str>, Vec<i64>) = online
            .iter()
            .filter(|a| a.is_staff())
            .map(|a| (a.sender_type().as_str(), a.raw_id()))
            .unzip();
        if !roles.is_empty() {
            sqlx::query(
                "INSERT INTO tbl_chat_presence (node_id, staff_role, staff_id, updated_at) \
             SELECT $1, r, i, $4 FROM UNNEST($2::TEXT[], $3::BIGINT[]) AS t (r, i) \
             ON CONFLICT DO NOTHING",
            )
            .bind(node)
            .bind(&roles)
            .bind(&ids)
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
            "SELECT DISTINCT staff_role, staff_id FROM tbl_chat_presence \
         WHERE node_id <> $1 AND updated_at >= $2",
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
