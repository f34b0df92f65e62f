-- The users' federation contact lists with the state of both presence
-- subscriptions (docs/federation.md, section 4.2). An entry that is not
-- listed only holds a stranger's unanswered request; their number per
-- user is bounded by the fed bridge.
CREATE TABLE fed_contacts (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	addr TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	groups_json TEXT NOT NULL DEFAULT '[]',
	listed INTEGER NOT NULL DEFAULT 0,
	sub_to INTEGER NOT NULL DEFAULT 0,
	sub_from INTEGER NOT NULL DEFAULT 0,
	ask INTEGER NOT NULL DEFAULT 0,
	pending INTEGER NOT NULL DEFAULT 0,
	pending_text TEXT NOT NULL DEFAULT '',
	preapproved INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, addr)
) WITHOUT ROWID;
