-- Version 1: users, networks, conversations, messages with full-text
-- search, read markers and the outbound queue. Times are Unix milliseconds.

CREATE TABLE users (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	admin        INTEGER NOT NULL DEFAULT 0,
	retention_ms INTEGER NOT NULL DEFAULT 0, -- 0: keep forever
	created_at   INTEGER NOT NULL
);

-- Salted SCRAM keys, one row per mechanism; no password is ever stored.
CREATE TABLE credentials (
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	mechanism  TEXT NOT NULL,
	salt       BLOB NOT NULL,
	iterations INTEGER NOT NULL,
	stored_key BLOB NOT NULL,
	server_key BLOB NOT NULL,
	PRIMARY KEY (user_id, mechanism)
) WITHOUT ROWID;

CREATE TABLE networks (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	settings   TEXT NOT NULL DEFAULT '{}', -- JSON object of strings
	enabled    INTEGER NOT NULL DEFAULT 1,
	created_at INTEGER NOT NULL,
	UNIQUE (user_id, name)
);

CREATE TABLE conversations (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	network_id   INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
	kind         TEXT NOT NULL,
	remote       TEXT NOT NULL,
	name         TEXT NOT NULL DEFAULT '',
	keep_forever INTEGER NOT NULL DEFAULT 0,
	retention_ms INTEGER NOT NULL DEFAULT 0, -- 0: the user's retention
	created_at   INTEGER NOT NULL,
	UNIQUE (network_id, remote)
);
CREATE INDEX conversations_user ON conversations(user_id);

-- id is core.MessageID: archive time in ms << 16 | sequence.
-- user_id and network_id repeat the conversation's so that search filters
-- and isolation checks need no join.
CREATE TABLE messages (
	id                   INTEGER PRIMARY KEY,
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
	attachments          TEXT
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE UNIQUE INDEX messages_origin ON messages(conversation_id, origin_id) WHERE origin_id IS NOT NULL;

-- The full-text index holds, beside the body and the sender, a "scope"
-- column of tokens u<user> n<network> c<conversation>. A search ANDs its
-- words with one scope token, and FTS5 walks both posting lists in rowid
-- (= time) order, so "newest 50 matches in this conversation" stops after
-- 50 hits instead of visiting every message that has the word.
CREATE VIEW messages_fts_content AS
	SELECT id,
	       body,
	       sender || ' ' || sender_name AS sender,
	       'u' || user_id || ' n' || network_id || ' c' || conversation_id AS scope
	FROM messages;

CREATE VIRTUAL TABLE messages_fts USING fts5(
	body, sender, scope,
	content = 'messages_fts_content',
	content_rowid = 'id',
	tokenize = 'unicode61 remove_diacritics 2'
);



-- Merge segments in larger steps: many small group commits each add a
-- segment, and merging them four at a time (the default) cost a sixth of
-- bulk ingest here. No prefix index: it tripled the tokens written per
-- message, and prefix queries stay fast without it (see swbench store).
INSERT INTO messages_fts(messages_fts, rank) VALUES ('automerge', 8);
-- Store.MergeIndex, run when the daemon is idle, merges any level with two
-- segments, which keeps about one segment per level for searches to read.
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);
-- Leaves of about one SQLite page instead of FTS5's 1000 bytes: a long
-- posting list is read in a quarter of the blobs. Measured with swbench
-- store: bulk ingest at 10M +8%; search latency the same within run-to-run
-- noise. 4040 bytes keeps the leaf row within one 4096-byte page.
INSERT INTO messages_fts(messages_fts, rank) VALUES ('pgsz', 4040);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
	INSERT INTO messages_fts(rowid, body, sender, scope) VALUES (
		new.id, new.body, new.sender || ' ' || new.sender_name,
		'u' || new.user_id || ' n' || new.network_id || ' c' || new.conversation_id);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, body, sender, scope) VALUES ('delete',
		old.id, old.body, old.sender || ' ' || old.sender_name,
		'u' || old.user_id || ' n' || old.network_id || ' c' || old.conversation_id);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, sender, sender_name, user_id, network_id, conversation_id ON messages BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, body, sender, scope) VALUES ('delete',
		old.id, old.body, old.sender || ' ' || old.sender_name,
		'u' || old.user_id || ' n' || old.network_id || ' c' || old.conversation_id);
	INSERT INTO messages_fts(rowid, body, sender, scope) VALUES (
		new.id, new.body, new.sender || ' ' || new.sender_name,
		'u' || new.user_id || ' n' || new.network_id || ' c' || new.conversation_id);
END;

-- Read positions: device '' is the user's own, shown on every device.
CREATE TABLE read_markers (
	conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
	device          TEXT NOT NULL,
	message_id      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	PRIMARY KEY (conversation_id, device)
) WITHOUT ROWID;

-- Messages from devices waiting for their network, in order per network.
CREATE TABLE outbound (
	id              INTEGER PRIMARY KEY,
	network_id      INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
	message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	failed          INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL
);
CREATE INDEX outbound_pending ON outbound(network_id, id) WHERE failed = 0;
CREATE INDEX outbound_message ON outbound(message_id);
