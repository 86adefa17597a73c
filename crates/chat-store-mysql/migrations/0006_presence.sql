-- Staff presence shared between nodes: which staff have a panel open and not "away", per
-- node. Each node replaces its own rows every few seconds; rows a node stopped refreshing
-- (it went away) are ignored by readers and removed by the next writer. Not history: no
-- foreign keys, nothing else refers to it.
CREATE TABLE IF NOT EXISTS tbl_chat_presence (
    node_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    staff_role VARCHAR(8)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    staff_id   BIGINT      NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (node_id, staff_role, staff_id),
    KEY idx_chat_presence_updated (updated_at),
    CONSTRAINT ck_chat_presence_role CHECK (staff_role IN ('admin', 'worker'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
