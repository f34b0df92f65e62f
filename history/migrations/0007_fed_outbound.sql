-- The durable per-peer outbound queue of federation events
-- (docs/federation.md, section 5). Delivered events are deleted; failed
-- ones stay, marked, so the failure can be shown.
CREATE TABLE fed_outbound (
	id INTEGER PRIMARY KEY,
	peer TEXT NOT NULL,
	event_id TEXT NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	message_id INTEGER NOT NULL,
	payload BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	failed INTEGER NOT NULL DEFAULT 0,
	UNIQUE (peer, event_id)
);
CREATE INDEX fed_outbound_pending ON fed_outbound (peer, failed, id);
