-- Version 6: the full-text index gets prefix indexes of two and three
-- characters, and message_hours bounds the ids of each user's messages
-- sent in each hour, so that a search within a time window walks only the
-- index entries of that window.
--
-- Prefixes: without a prefix index FTS5 answers "the*" by merging the
-- posting lists of every word that starts with "the" into one list in
-- memory before it hands out the first row, however small the LIMIT: at
-- 1M messages 100 ms for "the*", 220 ms for "th*" (the HTTP search
-- benchmark's p99 for three-letter prefixes was 132 ms). With the prefix
-- index such a prefix is one posting list walked newest first like a word:
-- 0.4 and 2 ms. The cost, measured on the same 1M messages (sqlite3,
-- merged index): the index's data grows from 63 to 146 MB (the database
-- from 305 to about 390 MB) and building it takes a fifth more CPU. A
-- prefix of one character (190 MB and twice the CPU for '1 2 3') and of
-- four or more (few words share one) are left without.
--
-- Hours: a search's since/until filter the message's own time (sent_at),
-- which is not the time in its id (the archive time; a delayed or
-- relayed message has an older sent_at, and a live message may carry any
-- time its network gave it), so a window cannot be turned into an id range
-- from the ids alone. An index on (user_id, sent_at) would give the range
-- after reading every entry of the window (4 ms for one busy day at 1M,
-- and growing with the window), and costs an index entry per message.
-- This table holds, per user and hour of sent_at, the smallest and largest
-- id sent in it: a window's id range is the min and max over its hours,
-- one short read whatever its length. Deleting messages leaves the range
-- wider than needed, never narrower. The appender maintains it per commit
-- (see history/appender.go).

CREATE TABLE message_hours (
	user_id INTEGER NOT NULL,
	hour    INTEGER NOT NULL, -- sent_at / 3600000, truncated as SQLite and Go divide
	min_id  INTEGER NOT NULL,
	max_id  INTEGER NOT NULL,
	PRIMARY KEY (user_id, hour)
) WITHOUT ROWID;

INSERT INTO message_hours (user_id, hour, min_id, max_id)
	SELECT user_id, sent_at / 3600000, min(id), max(id)
	FROM messages GROUP BY user_id, sent_at / 3600000;

DROP TABLE messages_fts;

-- As in version 5 (content view, negated ids, columns), with prefixes.
-- Dropping it leaves version 5's delete and update triggers on messages
-- in place; they name the index and apply to the new one unchanged.
CREATE VIRTUAL TABLE messages_fts USING fts5(
	body, sender, scope,
	content = 'messages_fts_content',
	content_rowid = 'fts_rowid',
	tokenize = 'unicode61 remove_diacritics 2',
	prefix = '2 3'
);

INSERT INTO messages_fts(messages_fts, rank) VALUES ('automerge', 8);
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);

-- Newest first, so that FTS5 receives ascending rowids (see version 5).
INSERT INTO messages_fts(rowid, body, sender, scope)
	SELECT -id, body, sender || ' ' || sender_name,
	       'u' || user_id || ' n' || network_id || ' c' || conversation_id
	FROM messages ORDER BY id DESC;

-- An update that moves a message to another user or time (none does
-- today) widens the new hour's range, as an insert would.
CREATE TRIGGER messages_hours_update AFTER UPDATE OF id, user_id, sent_at ON messages BEGIN
	INSERT INTO message_hours (user_id, hour, min_id, max_id)
		VALUES (new.user_id, new.sent_at / 3600000, new.id, new.id)
		ON CONFLICT (user_id, hour) DO UPDATE SET
			min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id);
END;
