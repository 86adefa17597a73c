-- Satisfaction ratings: a closed chat's customer gives 1-5 stars and an optional comment,
-- once per chat (the primary key).
CREATE TABLE IF NOT EXISTS tbl_chat_ratings (
    chat_id    BIGINT      NOT NULL PRIMARY KEY,
    rater_type VARCHAR(8)  NOT NULL,
    rater_id   BIGINT      NOT NULL,
    stars      SMALLINT    NOT NULL,
    comment    TEXT        NOT NULL,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT ck_chat_ratings_rater CHECK (rater_type IN ('user', 'guest')),
    CONSTRAINT ck_chat_ratings_stars CHECK (stars BETWEEN 1 AND 5),
    CONSTRAINT fk_chat_ratings_chat FOREIGN KEY (chat_id) REFERENCES tbl_chats (chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={{COLLATION}};
