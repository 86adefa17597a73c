-- Staff presence shared between nodes: which staff have a panel open and not "away", per
-- node. Each node replaces its own rows every few seconds; rows a node stopped refreshing
-- (it went away) are ignored by readers and removed by the next writer. Not history: no
-- foreign keys, nothing else refers to it.
CREATE TABLE tbl_chat_presence (
    node_id     TEXT        NOT NULL,
    staff_role  TEXT        NOT NULL CHECK (staff_role IN ('admin', 'worker')),
    staff_id    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (node_id, staff_role, staff_id)
);
CREATE INDEX idx_chat_presence_updated ON tbl_chat_presence (updated_at);
