-- Canned replies: the team's (owner_type 'team', owner_id 0; admins keep them) and each
-- staff member's own. A shortcut is unique per owner (shortcuts are ASCII: a-z 0-9 - _).
CREATE TABLE IF NOT EXISTS tbl_chat_canned_replies (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner_type VARCHAR(8)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner_id   BIGINT      NOT NULL,
    shortcut   VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    body       TEXT        NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_chat_canned_replies (owner_type, owner_id, shortcut),
    CONSTRAINT ck_chat_canned_replies_owner CHECK (owner_type IN ('team', 'admin', 'worker'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
