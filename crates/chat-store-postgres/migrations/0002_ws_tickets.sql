-- Single-use, short-lived tickets for opening a WebSocket from a browser (which cannot set
-- an Authorization header). A ticket stands for an existing session: `session_hash` is the
-- SHA-256 of the login or guest token it was issued under; `ticket_hash` the ticket's own.
CREATE TABLE tbl_chat_ws_tickets (
    ticket_hash  TEXT        PRIMARY KEY,
    session_kind TEXT        NOT NULL CHECK (session_kind IN ('session', 'guest')),
    session_hash TEXT        NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_chat_ws_tickets_expiry ON tbl_chat_ws_tickets (expires_at);

-- Replay by audience reads the log by visibility.
CREATE INDEX idx_chat_events_worker   ON tbl_chat_events (worker_id, event_id);
CREATE INDEX idx_chat_events_previous ON tbl_chat_events (previous_worker_id, event_id);
CREATE INDEX idx_chat_events_user     ON tbl_chat_events (user_id, event_id);
CREATE INDEX idx_chat_events_guest    ON tbl_chat_events (guest_id, event_id);
