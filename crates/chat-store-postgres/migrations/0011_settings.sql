-- Settings admins change at run time, one JSON value per name (`routing`: the queue's mode
-- and capacity).
CREATE TABLE tbl_chat_settings (
    name       TEXT        PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
