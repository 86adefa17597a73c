-- A customer's events are found through their chats (tbl_chats by user or guest, then the
-- events' (chat_id, seq) key, whose entries carry the event id), not through indexes of
-- their own: a chat's customer never changes, so both give the same rows. Each of these
-- indexes cost every stored message one more scattered leaf page (4 KiB of WAL, then a
-- checkpoint copy); workers' indexes stay, since a chat's worker does change.
DROP INDEX IF EXISTS idx_chat_events_user;
DROP INDEX IF EXISTS idx_chat_events_guest;
