-- Version 5: the full-text index is keyed by the negated message id, and
-- an index on (user_id, id) serves catch-up across conversations.
--
-- Why negated: a search is "the newest 50 matches", and FTS5 walks its
-- posting lists backwards far more slowly than forwards (each leaf page
-- entered backwards is first scanned forwards to find its entries). With
-- rowid = -id, newest first is FTS5's forward order. Measured on the same
-- 1M-message history, an AND of a conversation token and two words ran in
-- 2.3 ms forwards against 5.2 ms backwards (swbench store has the figures
-- at 10M).
--
-- Rebuilding the index reads every message once, newest first, so that
-- FTS5 receives rowids in ascending order (a smaller rowid than the last
-- one forces it to write out a segment per row). Upgrading the 10M-message
-- history of swbench store took 153 s on 2 cores shared with other work
-- (the two indexes 9 s and 5 s, the full-text index 101 s, the rest
-- dropping the old one), during which the daemon does not start; Store.
-- MergeIndex then merged the new index in 31 s, in the background.

CREATE INDEX messages_user ON messages(user_id, id);

-- Lets the index's content view below find a message by its negated id,
-- which snippet() and the 'delete' of an update need.
CREATE INDEX messages_fts_key ON messages(-id);

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
DROP VIEW messages_fts_content;

-- Columns as in version 1: body, sender (address and display name) and
-- scope, the tokens u<user> n<network> c<conversation> that a search ANDs
-- with its words.
CREATE VIEW messages_fts_content AS
	SELECT -id AS fts_rowid,
	       body,
	       sender || ' ' || sender_name AS sender,
	       'u' || user_id || ' n' || network_id || ' c' || conversation_id AS scope
	FROM messages;

CREATE VIRTUAL TABLE messages_fts USING fts5(
	body, sender, scope,
	content = 'messages_fts_content',
	content_rowid = 'fts_rowid',
	tokenize = 'unicode61 remove_diacritics 2'
);

-- As in version 1: merge level-0 segments eight at a time during ingest,
-- and let Store.MergeIndex merge any level holding two when idle.
INSERT INTO messages_fts(messages_fts, rank) VALUES ('automerge', 8);
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);

INSERT INTO messages_fts(rowid, body, sender, scope)
	SELECT -id, body, sender || ' ' || sender_name,
	       'u' || user_id || ' n' || network_id || ' c' || conversation_id
	FROM messages ORDER BY id DESC;

-- No insert trigger: the appender indexes each group commit itself, newest
-- message first, for the same reason as the rebuild above. Deletes and
-- edits are rare and stay with triggers.
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
