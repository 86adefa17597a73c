-- Attachments: each message keeps its files' metadata (a JSON list, NULL for none), and
-- each upload has a record: who uploaded it for which chat, what it is (decided from its
-- bytes), and the content address (SHA-256) of its bytes and thumbnail in the file storage.
ALTER TABLE tbl_chat_messages ADD COLUMN attachments TEXT;
CREATE TABLE tbl_chat_attachments (
    attachment_id TEXT    PRIMARY KEY,
    chat_id       INTEGER NOT NULL REFERENCES tbl_chats (chat_id),
    uploader_type TEXT    NOT NULL CHECK (uploader_type IN ('user', 'guest', 'admin', 'worker')),
    uploader_id   INTEGER NOT NULL,
    client_id     TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('image', 'pdf', 'audio', 'video')),
    mime          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    sha256        TEXT    NOT NULL,
    thumb_sha256  TEXT,
    sent          INTEGER NOT NULL DEFAULT 0,
    is_private    INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    UNIQUE (uploader_type, uploader_id, client_id)
);
CREATE INDEX ix_chat_attachments_quota ON tbl_chat_attachments (uploader_type, uploader_id, created_at);
CREATE INDEX ix_chat_attachments_chat ON tbl_chat_attachments (chat_id);
CREATE INDEX ix_chat_attachments_unsent ON tbl_chat_attachments (sent, created_at);
CREATE INDEX ix_chat_attachments_sha ON tbl_chat_attachments (sha256);
CREATE INDEX ix_chat_attachments_thumb ON tbl_chat_attachments (thumb_sha256);
