-- Which node holds a webhook delivery's lease while it is `sending`: a node that restarts
-- after a crash gives its own unfinished claims back at once (they are due again) instead
-- of leaving the chat's later events waiting until the lease runs out.
-- Each ALTER is all or nothing; run again after it was applied by hand, the migration
-- runner skips a column that already exists (src/schema.rs, `already_done`).
ALTER TABLE tbl_chat_webhook_deliveries ADD COLUMN claimed_by VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;

-- Quiet hours are read in the account's own time zone, an IANA name ("Europe/Berlin").
ALTER TABLE tbl_chat_preferences ADD COLUMN time_zone VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'UTC';
