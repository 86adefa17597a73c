-- Sign-in from the host site and server-to-server API keys (issue #9); the same rules as
-- the SQLite migration of the same number. A template like the others (src/schema.rs).
--
-- Own mode: accounts get `host_subject`, the host site's id for a person the host signs in
-- (null for password accounts), unique per role table: the identity is (role, host id).
-- Email stays unique among PASSWORD accounts only (MariaDB has no partial index: the unique
-- key is on a stored column that holds the email of password accounts and NULL otherwise).
-- Host mode: the account id already is the host's id; `host_verified` marks profiles the
-- host signed in, and the same rule applies to their email.
-- MariaDB DDL is not transactional: each ALTER is one statement, all or nothing. Unlike the
-- CREATE TABLEs, an ALTER cannot be written to be re-run on both MariaDB and MySQL 8; if this
-- migration fails halfway, `migrate --print-sql` shows the statements, and the ones already
-- done are skipped by hand before its row is removed (docs/mariadb.md).
-- @own
ALTER TABLE tbl_admin ADD COLUMN host_subject VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
ALTER TABLE tbl_admin ADD COLUMN password_email VARCHAR(255) AS (IF(host_subject IS NULL, email, NULL)) STORED,
    DROP INDEX uq_admin_email, ADD UNIQUE KEY uq_admin_password_email (password_email),
    ADD UNIQUE KEY uq_admin_host_subject (host_subject);
ALTER TABLE tbl_worker ADD COLUMN host_subject VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
ALTER TABLE tbl_worker ADD COLUMN password_email VARCHAR(255) AS (IF(host_subject IS NULL, email, NULL)) STORED,
    DROP INDEX uq_worker_email, ADD UNIQUE KEY uq_worker_password_email (password_email),
    ADD UNIQUE KEY uq_worker_host_subject (host_subject);
ALTER TABLE tbl_user ADD COLUMN host_subject VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
ALTER TABLE tbl_user ADD COLUMN password_email VARCHAR(255) AS (IF(host_subject IS NULL, email, NULL)) STORED,
    DROP INDEX uq_user_email, ADD UNIQUE KEY uq_user_password_email (password_email),
    ADD UNIQUE KEY uq_user_host_subject (host_subject);
-- @end
-- @host
ALTER TABLE tbl_chat_admin_accounts ADD COLUMN host_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tbl_chat_admin_accounts ADD COLUMN password_email VARCHAR(255) AS (IF(host_verified, NULL, email)) STORED,
    DROP INDEX uq_chat_admin_accounts_email, ADD UNIQUE KEY uq_chat_admin_accounts_password_email (password_email);
ALTER TABLE tbl_chat_worker_accounts ADD COLUMN host_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tbl_chat_worker_accounts ADD COLUMN password_email VARCHAR(255) AS (IF(host_verified, NULL, email)) STORED,
    DROP INDEX uq_chat_worker_accounts_email, ADD UNIQUE KEY uq_chat_worker_accounts_password_email (password_email);
ALTER TABLE tbl_chat_user_accounts ADD COLUMN host_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tbl_chat_user_accounts ADD COLUMN password_email VARCHAR(255) AS (IF(host_verified, NULL, email)) STORED,
    DROP INDEX uq_chat_user_accounts_email, ADD UNIQUE KEY uq_chat_user_accounts_password_email (password_email);
-- @end

-- Host token ids (`jti`) already used, kept until the token would have expired.
CREATE TABLE IF NOT EXISTS tbl_chat_host_token_ids (
    jti        VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    expires_at DATETIME(6)  NOT NULL,
    KEY idx_chat_host_token_ids_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};

-- Server-to-server API keys: only the SHA-256 of the key is kept.
CREATE TABLE IF NOT EXISTS tbl_chat_api_keys (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(255) NOT NULL,
    key_hash   CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    prefix     VARCHAR(32)  NOT NULL,
    -- space-separated: unread:read chats:read accounts:write
    scopes     VARCHAR(255) NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    revoked_at DATETIME(6)  NULL,
    UNIQUE KEY uq_chat_api_keys_hash (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
