-- The HTTP API: bearer tokens and idempotent sends. Only new tables, so
-- this step is independent of any other step numbered next to it.

-- Tokens are kept as the SHA-256 of the secret: a leaked database does not
-- let anyone in. The secret has 256 random bits, so no salt is needed.
CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	hash         BLOB NOT NULL UNIQUE,
	name         TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE INDEX api_tokens_expiry ON api_tokens(expires_at);

-- Idempotency-Key records: a retried send returns the first message.
CREATE TABLE idempotency (
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	fingerprint BLOB NOT NULL,
	message_id  INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency(created_at);
