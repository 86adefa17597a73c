-- Which node holds a webhook delivery's lease while it is `sending`: a node that restarts
-- after a crash gives its own unfinished claims back at once (they are due again) instead
-- of leaving the chat's later events waiting until the lease runs out.
ALTER TABLE tbl_chat_webhook_deliveries ADD COLUMN claimed_by TEXT;

-- Quiet hours are read in the account's own time zone, an IANA name ("Europe/Berlin").
ALTER TABLE tbl_chat_preferences ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
