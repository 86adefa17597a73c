-- Settings admins change at run time, one JSON value per name (`routing`: the queue's mode
-- and capacity).
CREATE TABLE IF NOT EXISTS tbl_chat_settings (
    name       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
