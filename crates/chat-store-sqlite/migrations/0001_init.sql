-- Nati Chat, SQLite: the seed's three tables, the accounts they point to, and what the
-- design needs besides (login sessions, read positions, preferences, the event log).
-- Times are UTC text, 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so they sort as they compare.

CREATE TABLE tbl_admin (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    avatar_url    TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE tbl_worker (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    avatar_url    TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE tbl_user (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    avatar_url    TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- An anonymous visitor. session_token holds the SHA-256 of the token, never the token.
CREATE TABLE tbl_guest_sessions (
    guest_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    session_token TEXT    NOT NULL UNIQUE,
    name          TEXT,
    email         TEXT,
    created_at    TEXT    NOT NULL,
    last_seen_at  TEXT    NOT NULL,
    expired_at    TEXT,
    -- The guest asked for the transcript by email when a chat closes.
    wants_transcript INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_guest_sessions_live ON tbl_guest_sessions (last_seen_at) WHERE expired_at IS NULL;

CREATE TABLE tbl_chats (
    chat_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER REFERENCES tbl_user (id),
    guest_id        INTEGER REFERENCES tbl_guest_sessions (guest_id),
    admin_id        INTEGER REFERENCES tbl_admin (id),
    worker_id       INTEGER REFERENCES tbl_worker (id),
    assigned_by     INTEGER REFERENCES tbl_admin (id),
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('open', 'closed', 'pending', 'escalated')),
    topic           TEXT    NOT NULL DEFAULT '',
    -- The chat's event sequence: the seq of its newest stored event.
    last_seq        INTEGER NOT NULL DEFAULT 0,
    -- The customer's id for this start request, so a retried start makes one chat.
    client_id       TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    last_message_at TEXT,
    CHECK ((user_id IS NULL) <> (guest_id IS NULL))
);
CREATE INDEX idx_chats_updated ON tbl_chats (updated_at, chat_id);
CREATE INDEX idx_chats_status  ON tbl_chats (status, updated_at);
CREATE INDEX idx_chats_worker  ON tbl_chats (worker_id, updated_at);
CREATE INDEX idx_chats_user    ON tbl_chats (user_id, updated_at);
CREATE INDEX idx_chats_guest   ON tbl_chats (guest_id, updated_at);
CREATE UNIQUE INDEX uq_chats_user_client  ON tbl_chats (user_id, client_id)  WHERE user_id IS NOT NULL AND client_id IS NOT NULL;
CREATE UNIQUE INDEX uq_chats_guest_client ON tbl_chats (guest_id, client_id) WHERE guest_id IS NOT NULL AND client_id IS NOT NULL;

-- is_read: read by the other side (staff for a customer's message, the customer for a
-- staff message). Who exactly read what is in tbl_chat_read_positions.
CREATE TABLE tbl_chat_messages (
    message_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL REFERENCES tbl_chats (chat_id),
    seq         INTEGER NOT NULL,
    sender_type TEXT    NOT NULL CHECK (sender_type IN ('user', 'admin', 'worker', 'guest', 'system')),
    sender_id   INTEGER,
    sender_name TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    is_read     INTEGER NOT NULL DEFAULT 0,
    client_id   TEXT,
    created_at  TEXT    NOT NULL
);
CREATE INDEX idx_chat_messages_chat ON tbl_chat_messages (chat_id, message_id);
CREATE UNIQUE INDEX uq_chat_messages_client
    ON tbl_chat_messages (chat_id, sender_type, sender_id, client_id) WHERE client_id IS NOT NULL;

-- Login sessions of users, admins and workers; the SHA-256 of the token only.
CREATE TABLE tbl_chat_sessions (
    token_hash TEXT    PRIMARY KEY,
    role       TEXT    NOT NULL CHECK (role IN ('user', 'admin', 'worker')),
    account_id INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
);
CREATE INDEX idx_chat_sessions_account ON tbl_chat_sessions (role, account_id);

-- One read position per reader per chat: drives the bell, the read ticks and email.
CREATE TABLE tbl_chat_read_positions (
    chat_id              INTEGER NOT NULL REFERENCES tbl_chats (chat_id),
    reader_type          TEXT    NOT NULL CHECK (reader_type IN ('user', 'admin', 'worker', 'guest')),
    reader_id            INTEGER NOT NULL,
    last_read_message_id INTEGER NOT NULL,
    updated_at           TEXT    NOT NULL,
    PRIMARY KEY (chat_id, reader_type, reader_id)
);
CREATE INDEX idx_chat_read_positions_reader ON tbl_chat_read_positions (reader_type, reader_id);

CREATE TABLE tbl_chat_preferences (
    role                  TEXT    NOT NULL CHECK (role IN ('user', 'admin', 'worker')),
    account_id            INTEGER NOT NULL,
    email_enabled         INTEGER NOT NULL,
    email_delay_secs      INTEGER NOT NULL,
    admin_scope           TEXT    NOT NULL CHECK (admin_scope IN ('all', 'unassigned', 'escalated', 'none')),
    sound_enabled         INTEGER NOT NULL,
    browser_notifications INTEGER NOT NULL,
    quiet_start_hour      INTEGER,
    quiet_end_hour        INTEGER,
    updated_at            TEXT    NOT NULL,
    PRIMARY KEY (role, account_id)
);

-- Every change to a chat, in commit order: what the realtime hub publishes and what a
-- reconnecting client resumes from.
CREATE TABLE tbl_chat_events (
    event_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id            INTEGER NOT NULL REFERENCES tbl_chats (chat_id),
    seq                INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    payload            TEXT    NOT NULL,
    worker_id          INTEGER,
    previous_worker_id INTEGER,
    user_id            INTEGER,
    guest_id           INTEGER,
    created_at         TEXT    NOT NULL,
    UNIQUE (chat_id, seq)
);
