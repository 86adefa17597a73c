-- Private notes: messages the staff write for the staff (admins and the chat's worker).
-- A customer's reads leave them out; their events name no customer.
ALTER TABLE tbl_chat_messages ADD COLUMN is_private BOOLEAN NOT NULL DEFAULT FALSE;
