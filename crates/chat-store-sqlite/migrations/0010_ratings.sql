-- Satisfaction ratings: a closed chat's customer gives 1-5 stars and an optional comment,
-- once per chat (the primary key).
CREATE TABLE tbl_chat_ratings (
    chat_id    INTEGER PRIMARY KEY REFERENCES tbl_chats (chat_id),
    rater_type TEXT    NOT NULL CHECK (rater_type IN ('user', 'guest')),
    rater_id   INTEGER NOT NULL,
    stars      INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment    TEXT    NOT NULL DEFAULT '',
    created_at TEXT    NOT NULL
);
