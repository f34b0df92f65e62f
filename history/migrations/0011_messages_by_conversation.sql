-- Version 11: messages are stored in conversation order.
--
-- Until now messages was a rowid table keyed by the message id, which
-- sorts by time across all conversations: one conversation's 50 newest
-- messages sat on about 50 different pages, and a page of history read
-- them one by one through messages_conversation. Keyed by
-- (conversation_id, id) the same page is one or two leaves of the table
-- (swbench store at 10M: paging p99 1.3-1.5 ms before; see the README).
--
-- Lookups by id (foreign keys of outbound, reactions, corrections,
-- retention, export and import, catch-up, search's checks) go through
-- messages_id; the search index's content view still finds a row by its
-- negated id through messages_fts_key. Ids do not change, so the search
-- index, keyed by negated ids, stays valid as it is.
--
-- Store.migrate runs this with foreign keys off (dropping the old table
-- would otherwise cascade into outbound) and checks them before it
-- commits.

CREATE TABLE messages_by_conversation (
	id                   INTEGER NOT NULL,
	conversation_id      INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
	user_id              INTEGER NOT NULL,
	network_id           INTEGER NOT NULL,
	origin_id            TEXT,
	direction            INTEGER NOT NULL,
	sender               TEXT NOT NULL,
	sender_name          TEXT NOT NULL,
	sent_at              INTEGER NOT NULL,
	kind                 TEXT NOT NULL,
	body                 TEXT NOT NULL,
	spans                TEXT,
	reply_to_id          INTEGER,
	reply_to_origin      TEXT,
	correction_of_id     INTEGER,
	correction_of_origin TEXT,
	attachments          TEXT,
	PRIMARY KEY (conversation_id, id)
) WITHOUT ROWID;

INSERT INTO messages_by_conversation (id, conversation_id, user_id, network_id, origin_id, direction,
		sender, sender_name, sent_at, kind, body, spans,
		reply_to_id, reply_to_origin, correction_of_id, correction_of_origin, attachments)
	SELECT id, conversation_id, user_id, network_id, origin_id, direction,
		sender, sender_name, sent_at, kind, body, spans,
		reply_to_id, reply_to_origin, correction_of_id, correction_of_origin, attachments
	FROM messages ORDER BY conversation_id, id;

-- The view names messages; renaming a table into its place checks every
-- view. Its triggers and indexes go with the old table.
DROP VIEW messages_fts_content;
DROP TABLE messages;
ALTER TABLE messages_by_conversation RENAME TO messages;

-- The parent key of outbound.message_id (and of any lookup by id).
CREATE UNIQUE INDEX messages_id ON messages(id);
CREATE UNIQUE INDEX messages_origin ON messages(conversation_id, origin_id) WHERE origin_id IS NOT NULL;
CREATE INDEX messages_user ON messages(user_id, id);
CREATE INDEX messages_fts_key ON messages(-id);
-- messages_conversation is gone: the table itself is that order now.

CREATE VIEW messages_fts_content AS
	SELECT -id AS fts_rowid,
	       body,
	       sender || ' ' || sender_name AS sender,
	       'u' || user_id || ' n' || network_id || ' c' || conversation_id AS scope
	FROM messages;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, body, sender, scope) VALUES ('delete',
		-old.id, old.body, old.sender || ' ' || old.sender_name,
		'u' || old.user_id || ' n' || old.network_id || ' c' || old.conversation_id);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF id, body, sender, sender_name, user_id, network_id, conversation_id ON messages BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, body, sender, scope) VALUES ('delete',
		-old.id, old.body, old.sender || ' ' || old.sender_name,
		'u' || old.user_id || ' n' || old.network_id || ' c' || old.conversation_id);
	INSERT INTO messages_fts(rowid, body, sender, scope) VALUES (
		-new.id, new.body, new.sender || ' ' || new.sender_name,
		'u' || new.user_id || ' n' || new.network_id || ' c' || new.conversation_id);
END;

CREATE TRIGGER messages_hours_update AFTER UPDATE OF id, user_id, sent_at ON messages BEGIN
	INSERT INTO message_hours (user_id, hour, min_id, max_id)
		VALUES (new.user_id, new.sent_at / 3600000, new.id, new.id)
		ON CONFLICT (user_id, hour) DO UPDATE SET
			min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id);
END;
