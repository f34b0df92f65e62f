-- Federated rooms (docs/federation.md, section 4.3). A room hosted here
-- has a row in fed_rooms, its members (users of any domain) in
-- fed_room_members and its recent events in fed_room_archive, for history
-- paging. fed_room_joined records which local users are in which room,
-- wherever it is hosted: a home delivers its events only to them.
CREATE TABLE fed_rooms (
	id INTEGER PRIMARY KEY,
	address TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fed_room_members (
	room_id INTEGER NOT NULL REFERENCES fed_rooms(id) ON DELETE CASCADE,
	member TEXT NOT NULL,
	affiliation TEXT NOT NULL,
	joined_at INTEGER NOT NULL,
	PRIMARY KEY (room_id, member)
);
CREATE TABLE fed_room_archive (
	room_id INTEGER NOT NULL REFERENCES fed_rooms(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,
	event_id TEXT NOT NULL,
	payload BLOB NOT NULL,
	PRIMARY KEY (room_id, seq),
	UNIQUE (room_id, event_id)
);
CREATE TABLE fed_room_joined (
	room TEXT NOT NULL,
	user_name TEXT NOT NULL,
	PRIMARY KEY (room, user_name)
);
CREATE INDEX fed_room_joined_by_user ON fed_room_joined (user_name, room);
