-- The webhook outbox: one row per (endpoint, event). The unique key makes re-planning
-- after a restart, or on a second node, harmless. Rows of one endpoint and chat are
-- delivered in (ord, id) order, ord following the event log: a row is claimed only when no
-- earlier row of the same endpoint and chat is still to be sent, that is pending or sending
-- and either already tried or due. A row that is not due yet and was never tried (a
-- message.missed waiting for its moment) holds nothing back.
CREATE TABLE tbl_chat_webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    event_key        TEXT    NOT NULL,
    webhook_id       TEXT    NOT NULL,
    chat_id          INTEGER,
    ord              INTEGER NOT NULL DEFAULT 0,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    due_at           TEXT    NOT NULL,
    next_attempt_at  TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    delivered_at     TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    UNIQUE (endpoint, event_key)
);
-- The claim sorts by what it filters on.
CREATE INDEX idx_chat_webhook_due ON tbl_chat_webhook_deliveries (status, next_attempt_at, id);
-- "Is an earlier row of this endpoint and chat still undelivered?"
CREATE INDEX idx_chat_webhook_order ON tbl_chat_webhook_deliveries (endpoint, chat_id, status, ord);

-- The webhook planner starts at the event log's end as it is now: webhooks are for what
-- happens from here on, never for old history.
INSERT OR IGNORE INTO tbl_chat_job_cursors (name, last_event_id, updated_at)
SELECT 'webhook_planner', COALESCE(MAX(event_id), 0), strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM tbl_chat_events;
