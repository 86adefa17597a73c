-- Nati Chat, MariaDB 10.6+ / MySQL 8: the same tables, columns, constraints and indexes as
-- the SQLite migration of the same number (crates/chat-store-sqlite/migrations), in
-- MariaDB's types. Keep them in step.
--
-- This file is a template, rendered before it runs (see src/schema.rs): placeholders in
-- double braces become the collation (own mode: utf8mb4_unicode_ci; host mode: the host
-- tables' own), the exact type of the key a column points to, and the referenced table and
-- key column; lines between "-- @own" or "-- @host" and "-- @end" stay only in that mode.
-- Every statement is idempotent (IF NOT EXISTS), so a migration that failed halfway can be
-- run again once its row is removed from _nati_chat_migrations (docs/mariadb.md).
-- Times are DATETIME(6) holding UTC, always written by the chat (no NOW() defaults).
-- Indexes and foreign keys are declared inside CREATE TABLE: each table is one statement.
-- @own

CREATE TABLE IF NOT EXISTS tbl_admin (
    id            BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email         VARCHAR(255)  NOT NULL,
    name          VARCHAR(255)  NOT NULL,
    password_hash VARCHAR(255)  NOT NULL,
    avatar_url    VARCHAR(2048) NULL,
    active        BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    UNIQUE KEY uq_admin_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

CREATE TABLE IF NOT EXISTS tbl_worker (
    id            BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email         VARCHAR(255)  NOT NULL,
    name          VARCHAR(255)  NOT NULL,
    password_hash VARCHAR(255)  NOT NULL,
    avatar_url    VARCHAR(2048) NULL,
    active        BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    UNIQUE KEY uq_worker_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

CREATE TABLE IF NOT EXISTS tbl_user (
    id            BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email         VARCHAR(255)  NOT NULL,
    name          VARCHAR(255)  NOT NULL,
    password_hash VARCHAR(255)  NOT NULL,
    avatar_url    VARCHAR(2048) NULL,
    active        BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    UNIQUE KEY uq_user_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
-- @end
-- @host

-- Host mode: the people are the host's rows in tbl_admin, tbl_worker and tbl_user, which the
-- chat never alters. What the chat needs about a person lives here, one table per role, keyed
-- by the host's id. password_hash stays empty for people the host signs in. A profile goes
-- with its host row (ON DELETE CASCADE); chats, which are history, hold their rows (RESTRICT).
CREATE TABLE IF NOT EXISTS tbl_chat_admin_accounts (
    host_id       {{ADMIN_ID}}  NOT NULL PRIMARY KEY,
    email         VARCHAR(255)  NOT NULL,
    name          VARCHAR(255)  NOT NULL,
    password_hash VARCHAR(255)  NOT NULL DEFAULT '',
    avatar_url    VARCHAR(2048) NULL,
    active        BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    UNIQUE KEY uq_chat_admin_accounts_email (email),
    CONSTRAINT fk_chat_admin_accounts_host FOREIGN KEY (host_id) REFERENCES {{ADMIN_REF}} ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

CREATE TABLE IF NOT EXISTS tbl_chat_worker_accounts (
    host_id       {{WORKER_ID}} NOT NULL PRIMARY KEY,
    email         VARCHAR(255)  NOT NULL,
    name          VARCHAR(255)  NOT NULL,
    password_hash VARCHAR(255)  NOT NULL DEFAULT '',
    avatar_url    VARCHAR(2048) NULL,
    active        BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    UNIQUE KEY uq_chat_worker_accounts_email (email),
    CONSTRAINT fk_chat_worker_accounts_host FOREIGN KEY (host_id) REFERENCES {{WORKER_REF}} ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

CREATE TABLE IF NOT EXISTS tbl_chat_user_accounts (
    host_id       {{USER_ID}}   NOT NULL PRIMARY KEY,
    email         VARCHAR(255)  NOT NULL,
    name          VARCHAR(255)  NOT NULL,
    password_hash VARCHAR(255)  NOT NULL DEFAULT '',
    avatar_url    VARCHAR(2048) NULL,
    active        BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    UNIQUE KEY uq_chat_user_accounts_email (email),
    CONSTRAINT fk_chat_user_accounts_host FOREIGN KEY (host_id) REFERENCES {{USER_REF}} ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
-- @end

-- An anonymous visitor. session_token holds the SHA-256 of the token, never the token.
CREATE TABLE IF NOT EXISTS tbl_guest_sessions (
    guest_id      BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    session_token VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    name          VARCHAR(255) NULL,
    email         VARCHAR(255) NULL,
    created_at    DATETIME(6)  NOT NULL,
    last_seen_at  DATETIME(6)  NOT NULL,
    expired_at    DATETIME(6)  NULL,
    -- The guest asked for the transcript by email when a chat closes.
    wants_transcript BOOLEAN   NOT NULL DEFAULT FALSE,
    UNIQUE KEY uq_guest_sessions_token (session_token),
    KEY idx_guest_sessions_live (expired_at, last_seen_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- A NULL in a unique key never conflicts, which gives the partial unique indexes of the
-- SQLite schema: one chat per (customer, client_id) when a client id is given.
CREATE TABLE IF NOT EXISTS tbl_chats (
    chat_id         BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         {{USER_ID}}   NULL,
    guest_id        BIGINT        NULL,
    admin_id        {{ADMIN_ID}}  NULL,
    worker_id       {{WORKER_ID}} NULL,
    assigned_by     {{ADMIN_ID}}  NULL,
    status          VARCHAR(16)   NOT NULL DEFAULT 'pending',
    topic           VARCHAR(255)  NOT NULL DEFAULT '',
    -- The chat's event sequence: the seq of its newest stored event.
    last_seq        BIGINT        NOT NULL DEFAULT 0,
    -- The customer's id for this start request, so a retried start makes one chat.
    client_id       VARCHAR(128)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    created_at      DATETIME(6)   NOT NULL,
    updated_at      DATETIME(6)   NOT NULL,
    last_message_at DATETIME(6)   NULL,
    KEY idx_chats_updated (updated_at, chat_id),
    KEY idx_chats_status (status, updated_at),
    KEY idx_chats_worker (worker_id, updated_at),
    KEY idx_chats_user (user_id, updated_at),
    KEY idx_chats_guest (guest_id, updated_at),
    KEY idx_chats_admin (admin_id),
    KEY idx_chats_assigned_by (assigned_by),
    UNIQUE KEY uq_chats_user_client (user_id, client_id),
    UNIQUE KEY uq_chats_guest_client (guest_id, client_id),
    CONSTRAINT ck_chats_status CHECK (status IN ('open', 'closed', 'pending', 'escalated')),
    CONSTRAINT ck_chats_customer CHECK ((user_id IS NULL) <> (guest_id IS NULL)),
    CONSTRAINT fk_chats_user FOREIGN KEY (user_id) REFERENCES {{USER_REF}},
    CONSTRAINT fk_chats_guest FOREIGN KEY (guest_id) REFERENCES tbl_guest_sessions (guest_id),
    CONSTRAINT fk_chats_admin FOREIGN KEY (admin_id) REFERENCES {{ADMIN_REF}},
    CONSTRAINT fk_chats_worker FOREIGN KEY (worker_id) REFERENCES {{WORKER_REF}},
    CONSTRAINT fk_chats_assigned_by FOREIGN KEY (assigned_by) REFERENCES {{ADMIN_REF}}
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- is_read: read by the other side (staff for a customer's message, the customer for a
-- staff message). Who exactly read what is in tbl_chat_read_positions.
CREATE TABLE IF NOT EXISTS tbl_chat_messages (
    message_id  BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    chat_id     BIGINT       NOT NULL,
    seq         BIGINT       NOT NULL,
    sender_type VARCHAR(8)   NOT NULL,
    sender_id   BIGINT       NULL,
    sender_name VARCHAR(255) NOT NULL,
    message     MEDIUMTEXT   NOT NULL,
    is_read     BOOLEAN      NOT NULL DEFAULT FALSE,
    client_id   VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    created_at  DATETIME(6)  NOT NULL,
    KEY idx_chat_messages_chat (chat_id, message_id),
    UNIQUE KEY uq_chat_messages_client (chat_id, sender_type, sender_id, client_id),
    CONSTRAINT ck_chat_messages_sender CHECK (sender_type IN ('user', 'admin', 'worker', 'guest', 'system')),
    CONSTRAINT fk_chat_messages_chat FOREIGN KEY (chat_id) REFERENCES tbl_chats (chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- Login sessions of users, admins and workers; the SHA-256 of the token only.
CREATE TABLE IF NOT EXISTS tbl_chat_sessions (
    token_hash VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    role       VARCHAR(8)   NOT NULL,
    account_id BIGINT       NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    expires_at DATETIME(6)  NOT NULL,
    KEY idx_chat_sessions_account (role, account_id),
    CONSTRAINT ck_chat_sessions_role CHECK (role IN ('user', 'admin', 'worker'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- One read position per reader per chat: drives the bell, the read ticks and email.
CREATE TABLE IF NOT EXISTS tbl_chat_read_positions (
    chat_id              BIGINT      NOT NULL,
    reader_type          VARCHAR(8)  NOT NULL,
    reader_id            BIGINT      NOT NULL,
    last_read_message_id BIGINT      NOT NULL,
    updated_at           DATETIME(6) NOT NULL,
    PRIMARY KEY (chat_id, reader_type, reader_id),
    KEY idx_chat_read_positions_reader (reader_type, reader_id),
    CONSTRAINT ck_chat_read_positions_reader CHECK (reader_type IN ('user', 'admin', 'worker', 'guest')),
    CONSTRAINT fk_chat_read_positions_chat FOREIGN KEY (chat_id) REFERENCES tbl_chats (chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

CREATE TABLE IF NOT EXISTS tbl_chat_preferences (
    role                  VARCHAR(8)  NOT NULL,
    account_id            BIGINT      NOT NULL,
    email_enabled         BOOLEAN     NOT NULL,
    email_delay_secs      BIGINT      NOT NULL,
    admin_scope           VARCHAR(16) NOT NULL,
    sound_enabled         BOOLEAN     NOT NULL,
    browser_notifications BOOLEAN     NOT NULL,
    quiet_start_hour      INT         NULL,
    quiet_end_hour        INT         NULL,
    updated_at            DATETIME(6) NOT NULL,
    PRIMARY KEY (role, account_id),
    CONSTRAINT ck_chat_preferences_role CHECK (role IN ('user', 'admin', 'worker')),
    CONSTRAINT ck_chat_preferences_scope CHECK (admin_scope IN ('all', 'unassigned', 'escalated', 'none'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- Every change to a chat, in commit order: what the realtime hub publishes and what a
-- reconnecting client resumes from. The visibility indexes (SQLite's 0002) are declared
-- here, in the one CREATE TABLE.
CREATE TABLE IF NOT EXISTS tbl_chat_events (
    event_id           BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    chat_id            BIGINT      NOT NULL,
    seq                BIGINT      NOT NULL,
    kind               VARCHAR(32) NOT NULL,
    payload            LONGTEXT    NOT NULL,
    worker_id          BIGINT      NULL,
    previous_worker_id BIGINT      NULL,
    user_id            BIGINT      NULL,
    guest_id           BIGINT      NULL,
    created_at         DATETIME(6) NOT NULL,
    UNIQUE KEY uq_chat_events_seq (chat_id, seq),
    KEY idx_chat_events_worker (worker_id, event_id),
    KEY idx_chat_events_previous (previous_worker_id, event_id),
    KEY idx_chat_events_user (user_id, event_id),
    KEY idx_chat_events_guest (guest_id, event_id),
    CONSTRAINT fk_chat_events_chat FOREIGN KEY (chat_id) REFERENCES tbl_chats (chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- One row, locked (SELECT ... FOR UPDATE) first by every transaction that writes events.
-- AUTO_INCREMENT hands out event ids at INSERT time, before commit; with this lock the
-- writers take turns, so event ids become visible in the order they were given, and a
-- node polling "events after N" never steps past an id that commits later.
CREATE TABLE IF NOT EXISTS tbl_chat_event_lock (
    id   TINYINT      NOT NULL PRIMARY KEY,
    note VARCHAR(100) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

INSERT INTO tbl_chat_event_lock (id, note) VALUES (1, 'serialises event writers; keep this one row')
    ON DUPLICATE KEY UPDATE id = id;
