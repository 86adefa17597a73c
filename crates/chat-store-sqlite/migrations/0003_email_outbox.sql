-- The durable notification outbox: one row per (kind, recipient, chat, first message).
-- At most one row per (kind, recipient, chat) is pending or sending at a time, so a burst of
-- messages becomes one email; the unique key makes re-planning after a restart harmless.
CREATE TABLE tbl_chat_email_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL DEFAULT 'missed' CHECK (kind IN ('missed', 'transcript')),
    recipient_type   TEXT    NOT NULL CHECK (recipient_type IN ('user', 'admin', 'worker', 'guest')),
    recipient_id     INTEGER NOT NULL,
    chat_id          INTEGER NOT NULL REFERENCES tbl_chats (chat_id),
    first_message_id INTEGER NOT NULL,
    last_message_id  INTEGER,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'cancelled', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    idempotency_key  TEXT,
    due_at           TEXT    NOT NULL,
    next_attempt_at  TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    sent_at          TEXT,
    UNIQUE (kind, recipient_type, recipient_id, chat_id, first_message_id)
);
-- The claim query sorts by what it filters on.
CREATE INDEX idx_chat_email_outbox_due ON tbl_chat_email_outbox (status, next_attempt_at, id);
CREATE INDEX idx_chat_email_outbox_open ON tbl_chat_email_outbox (recipient_type, recipient_id, chat_id, kind, status);

-- Where each background job has read the event log up to.
CREATE TABLE tbl_chat_job_cursors (
    name          TEXT    PRIMARY KEY,
    last_event_id INTEGER NOT NULL,
    updated_at    TEXT    NOT NULL
);
