-- The webhook outbox: one row per (endpoint, event). The unique key makes re-planning
-- after a restart, or on a second node, harmless. Rows of one endpoint and chat are
-- delivered in (ord, id) order, ord following the event log: a row is claimed only when no
-- earlier row of the same endpoint and chat is still to be sent, that is pending or sending
-- and either already tried or due. A row that is not due yet and was never tried (a
-- message.missed waiting for its moment) holds nothing back.
-- Claims find candidates in (status, next_attempt_at, id) order through that index, then
-- lock them by id with FOR UPDATE SKIP LOCKED, so that concurrent claimers get the next
-- rows instead of waiting or nothing.
CREATE TABLE IF NOT EXISTS tbl_chat_webhook_deliveries (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    endpoint         VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    event_type       VARCHAR(32)  NOT NULL,
    event_key        VARCHAR(160) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    webhook_id       VARCHAR(64)  NOT NULL,
    chat_id          BIGINT       NULL,
    ord              BIGINT       NOT NULL DEFAULT 0,
    body             LONGTEXT     NOT NULL,
    status           VARCHAR(16)  NOT NULL DEFAULT 'pending',
    attempts         BIGINT       NOT NULL DEFAULT 0,
    last_status_code BIGINT       NULL,
    last_error       TEXT         NULL,
    due_at           DATETIME(6)  NOT NULL,
    next_attempt_at  DATETIME(6)  NOT NULL,
    expires_at       DATETIME(6)  NOT NULL,
    delivered_at     DATETIME(6)  NULL,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    UNIQUE KEY uq_chat_webhook_event (endpoint, event_key),
    KEY idx_chat_webhook_due (status, next_attempt_at, id),
    KEY idx_chat_webhook_order (endpoint, chat_id, status, ord),
    CONSTRAINT ck_chat_webhook_status CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'cancelled'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- The webhook planner starts at the event log's end as it is now: webhooks are for what
-- happens from here on, never for old history.
INSERT IGNORE INTO tbl_chat_job_cursors (name, last_event_id, updated_at)
SELECT 'webhook_planner', COALESCE(MAX(event_id), 0), UTC_TIMESTAMP(6) FROM tbl_chat_events;
