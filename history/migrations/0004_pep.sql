-- Personal eventing (XEP-0163) nodes of a user's own account, with their
-- configuration, and their items; and private XML storage (XEP-0049).
-- The XMPP clients keep their settings here: bookmarks, avatar, nick.
CREATE TABLE pep_nodes (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	node TEXT NOT NULL,
	persist_items INTEGER NOT NULL,
	access_model TEXT NOT NULL,
	max_items INTEGER NOT NULL, -- 0: as many as the store allows
	PRIMARY KEY (user_id, node)
) WITHOUT ROWID;

CREATE TABLE pep_items (
	user_id INTEGER NOT NULL,
	node TEXT NOT NULL,
	item_id TEXT NOT NULL,
	payload TEXT NOT NULL, -- the item's payload element, serialized
	published_at INTEGER NOT NULL, -- ms since the epoch
	seq INTEGER NOT NULL, -- publish order within the node; a republished id moves last
	PRIMARY KEY (user_id, node, item_id),
	FOREIGN KEY (user_id, node) REFERENCES pep_nodes (user_id, node) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX pep_items_seq ON pep_items (user_id, node, seq);

CREATE TABLE private_xml (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	element TEXT NOT NULL, -- "{namespace}local" of the stored element
	payload TEXT NOT NULL,
	PRIMARY KEY (user_id, element)
) WITHOUT ROWID;
