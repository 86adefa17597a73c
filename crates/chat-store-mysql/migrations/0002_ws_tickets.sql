-- Single-use, short-lived tickets for opening a WebSocket from a browser (which cannot set
-- an Authorization header). A ticket stands for an existing session: `session_hash` is the
-- SHA-256 of the login or guest token it was issued under; `ticket_hash` the ticket's own.
-- (SQLite's 0002 also adds the event-log visibility indexes; here they are part of
-- tbl_chat_events in 0001, so that every table is created by one statement.)
CREATE TABLE IF NOT EXISTS tbl_chat_ws_tickets (
    ticket_hash  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    session_kind VARCHAR(8)   NOT NULL,
    session_hash VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    expires_at   DATETIME(6)  NOT NULL,
    KEY idx_chat_ws_tickets_expiry (expires_at),
    CONSTRAINT ck_chat_ws_tickets_kind CHECK (session_kind IN ('session', 'guest'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
