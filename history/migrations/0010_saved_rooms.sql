-- Rooms a device joined on a network (an IRC channel, an XMPP group
-- chat), kept so the network's bridge joins them again after the daemon
-- restarts, as it does after a reconnect. Rooms in a network's settings
-- are not listed here; leaving a room from a device removes its row.
CREATE TABLE saved_rooms (
	network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
	room       TEXT NOT NULL,
	room_key   TEXT NOT NULL DEFAULT '',
	joined_at  INTEGER NOT NULL,
	PRIMARY KEY (network_id, room)
) WITHOUT ROWID;
