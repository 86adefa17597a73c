-- The durable notification outbox: one row per (kind, recipient, chat, first message).
-- At most one row per (kind, recipient, chat) is pending or sending at a time, so a burst of
-- messages becomes one email; the unique key makes re-planning after a restart harmless.
-- Claims read it with SELECT ... FOR UPDATE SKIP LOCKED in (status, next_attempt_at, id)
-- order: that index is what lets each claimer lock only the rows it takes, so that
-- concurrent claimers get the next rows instead of nothing.
CREATE TABLE IF NOT EXISTS tbl_chat_email_outbox (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind             VARCHAR(16)  NOT NULL DEFAULT 'missed',
    recipient_type   VARCHAR(8)   NOT NULL,
    recipient_id     BIGINT       NOT NULL,
    chat_id          BIGINT       NOT NULL,
    first_message_id BIGINT       NOT NULL,
    last_message_id  BIGINT       NULL,
    status           VARCHAR(16)  NOT NULL DEFAULT 'pending',
    attempts         BIGINT       NOT NULL DEFAULT 0,
    last_error       TEXT         NULL,
    idempotency_key  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    due_at           DATETIME(6)  NOT NULL,
    next_attempt_at  DATETIME(6)  NOT NULL,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    sent_at          DATETIME(6)  NULL,
    UNIQUE KEY uq_chat_email_outbox_first (kind, recipient_type, recipient_id, chat_id, first_message_id),
    KEY idx_chat_email_outbox_due (status, next_attempt_at, id),
    KEY idx_chat_email_outbox_open (recipient_type, recipient_id, chat_id, kind, status),
    CONSTRAINT ck_chat_email_outbox_kind CHECK (kind IN ('missed', 'transcript')),
    CONSTRAINT ck_chat_email_outbox_recipient CHECK (recipient_type IN ('user', 'admin', 'worker', 'guest')),
    CONSTRAINT ck_chat_email_outbox_status CHECK (status IN ('pending', 'sending', 'sent', 'cancelled', 'failed')),
    CONSTRAINT fk_chat_email_outbox_chat FOREIGN KEY (chat_id) REFERENCES tbl_chats (chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- Where each background job has read the event log up to.
CREATE TABLE IF NOT EXISTS tbl_chat_job_cursors (
    name          VARCHAR(64) NOT NULL PRIMARY KEY,
    last_event_id BIGINT      NOT NULL,
    updated_at    DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
