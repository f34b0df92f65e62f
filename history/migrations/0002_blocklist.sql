-- Addresses a user blocked from their XMPP clients (XEP-0191): nothing
-- from them reaches the user's devices, and nothing is sent to them.
CREATE TABLE blocklist (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	address TEXT NOT NULL,
	PRIMARY KEY (user_id, address)
) WITHOUT ROWID;
