-- Attachments: each message keeps its files' metadata (a JSON list, NULL for none), and
-- each upload has a record: who uploaded it for which chat, what it is (decided from its
-- bytes), and the content address (SHA-256) of its bytes and thumbnail in the file storage.
-- The bytes themselves can live here too, in 256 KiB chunks, so that every node serves
-- every file without a shared disk.
ALTER TABLE tbl_chat_messages ADD COLUMN attachments TEXT;
CREATE TABLE tbl_chat_attachments (
    attachment_id TEXT        PRIMARY KEY,
    chat_id       BIGINT      NOT NULL REFERENCES tbl_chats (chat_id),
    uploader_type TEXT        NOT NULL CHECK (uploader_type IN ('user', 'guest', 'admin', 'worker')),
    uploader_id   BIGINT      NOT NULL,
    client_id     TEXT        NOT NULL,
    kind          TEXT        NOT NULL CHECK (kind IN ('image', 'pdf', 'audio', 'video')),
    mime          TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    size          BIGINT      NOT NULL,
    width         BIGINT,
    height        BIGINT,
    sha256        TEXT        NOT NULL,
    thumb_sha256  TEXT,
    sent          BOOLEAN     NOT NULL DEFAULT FALSE,
    is_private    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (uploader_type, uploader_id, client_id)
);
CREATE INDEX ix_chat_attachments_quota ON tbl_chat_attachments (uploader_type, uploader_id, created_at);
CREATE INDEX ix_chat_attachments_chat ON tbl_chat_attachments (chat_id);
CREATE INDEX ix_chat_attachments_unsent ON tbl_chat_attachments (sent, created_at);
CREATE INDEX ix_chat_attachments_sha ON tbl_chat_attachments (sha256);
CREATE INDEX ix_chat_attachments_thumb ON tbl_chat_attachments (thumb_sha256);
CREATE TABLE tbl_chat_blob_chunks (
    blob_key TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    bytes    BYTEA   NOT NULL,
    PRIMARY KEY (blob_key, n)
);
