-- no-transaction
-- Sign-in from the host site and server-to-server API keys (issue #9).
--
-- Accounts get `host_subject`: the host site's id for a person the host signs in (null for
-- password accounts). The identity of such an account is (role, host_subject), unique per
-- role table. Email stays unique among PASSWORD accounts only (it is how they sign in); a
-- host-verified account may share its email with a password account or another host
-- account: they are different people, never merged. SQLite cannot drop a column's UNIQUE,
-- so each account table is rebuilt (the documented 12-step way: foreign keys off, new
-- table, copy, drop, rename), which is why this migration manages its own transaction.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE tbl_admin_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    avatar_url    TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    host_subject  TEXT
);
INSERT INTO tbl_admin_new (id, email, name, password_hash, avatar_url, active, created_at, updated_at)
    SELECT id, email, name, password_hash, avatar_url, active, created_at, updated_at FROM tbl_admin;
DROP TABLE tbl_admin;
ALTER TABLE tbl_admin_new RENAME TO tbl_admin;
CREATE UNIQUE INDEX uq_admin_password_email ON tbl_admin (email) WHERE host_subject IS NULL;
CREATE UNIQUE INDEX uq_admin_host_subject ON tbl_admin (host_subject) WHERE host_subject IS NOT NULL;

CREATE TABLE tbl_worker_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    avatar_url    TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    host_subject  TEXT
);
INSERT INTO tbl_worker_new (id, email, name, password_hash, avatar_url, active, created_at, updated_at)
    SELECT id, email, name, password_hash, avatar_url, active, created_at, updated_at FROM tbl_worker;
DROP TABLE tbl_worker;
ALTER TABLE tbl_worker_new RENAME TO tbl_worker;
CREATE UNIQUE INDEX uq_worker_password_email ON tbl_worker (email) WHERE host_subject IS NULL;
CREATE UNIQUE INDEX uq_worker_host_subject ON tbl_worker (host_subject) WHERE host_subject IS NOT NULL;

CREATE TABLE tbl_user_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    avatar_url    TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    host_subject  TEXT
);
INSERT INTO tbl_user_new (id, email, name, password_hash, avatar_url, active, created_at, updated_at)
    SELECT id, email, name, password_hash, avatar_url, active, created_at, updated_at FROM tbl_user;
DROP TABLE tbl_user;
ALTER TABLE tbl_user_new RENAME TO tbl_user;
CREATE UNIQUE INDEX uq_user_password_email ON tbl_user (email) WHERE host_subject IS NULL;
CREATE UNIQUE INDEX uq_user_host_subject ON tbl_user (host_subject) WHERE host_subject IS NOT NULL;

-- Host token ids (`jti`) already used, kept until the token would have expired: a token
-- is good for one sign-in only.
CREATE TABLE tbl_chat_host_token_ids (
    jti        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_chat_host_token_ids_expiry ON tbl_chat_host_token_ids (expires_at);

-- Server-to-server API keys: only the SHA-256 of the key is kept.
CREATE TABLE tbl_chat_api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    -- space-separated: unread:read chats:read accounts:write
    scopes     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

COMMIT;
PRAGMA foreign_keys = ON;
