-- Canned replies: the team's (owner_type 'team', owner_id 0; admins keep them) and each
-- staff member's own. A shortcut is unique per owner.
CREATE TABLE tbl_chat_canned_replies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_type TEXT    NOT NULL CHECK (owner_type IN ('team', 'admin', 'worker')),
    owner_id   INTEGER NOT NULL,
    shortcut   TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    UNIQUE (owner_type, owner_id, shortcut)
);
