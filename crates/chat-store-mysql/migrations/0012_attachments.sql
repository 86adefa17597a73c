-- Attachments: each message keeps its files' metadata (a JSON list, NULL for none), and
-- each upload has a record: who uploaded it for which chat, what it is (decided from its
-- bytes), and the content address (SHA-256) of its bytes and thumbnail in the file storage.
-- The bytes themselves can live here too, in 256 KiB chunks, so that every node serves
-- every file without a shared disk.
ALTER TABLE tbl_chat_messages ADD COLUMN attachments TEXT NULL;
CREATE TABLE IF NOT EXISTS tbl_chat_attachments (
    attachment_id VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    chat_id       BIGINT       NOT NULL,
    uploader_type VARCHAR(8)   NOT NULL,
    uploader_id   BIGINT       NOT NULL,
    client_id     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    kind          VARCHAR(8)   NOT NULL,
    mime          VARCHAR(64)  NOT NULL,
    name          VARCHAR(255) NOT NULL,
    size          BIGINT       NOT NULL,
    width         BIGINT       NULL,
    height        BIGINT       NULL,
    sha256        CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    thumb_sha256  CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NULL,
    sent          BOOLEAN      NOT NULL DEFAULT FALSE,
    is_private    BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at    DATETIME(6)  NOT NULL,
    UNIQUE KEY uq_chat_attachments_client (uploader_type, uploader_id, client_id),
    KEY ix_chat_attachments_quota (uploader_type, uploader_id, created_at),
    KEY ix_chat_attachments_chat (chat_id),
    KEY ix_chat_attachments_unsent (sent, created_at),
    KEY ix_chat_attachments_sha (sha256),
    KEY ix_chat_attachments_thumb (thumb_sha256),
    CONSTRAINT ck_chat_attachments_uploader CHECK (uploader_type IN ('user', 'guest', 'admin', 'worker')),
    CONSTRAINT ck_chat_attachments_kind CHECK (kind IN ('image', 'pdf', 'audio', 'video')),
    CONSTRAINT fk_chat_attachments_chat FOREIGN KEY (chat_id) REFERENCES tbl_chats (chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
CREATE TABLE IF NOT EXISTS tbl_chat_blob_chunks (
    blob_key CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    n        INT          NOT NULL,
    bytes    MEDIUMBLOB   NOT NULL,
    PRIMARY KEY (blob_key, n)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
