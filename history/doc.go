// Package history is Switchboard's store: users and their SCRAM keys,
// networks, conversations, messages with a full-text index, read markers
// and the outbound queue, in one SQLite database (go-sqlite3 built with the
// sqlite_fts5 tag, WAL mode).
//
// It implements core.Store and core.HistoryReader and imports only core
// and its own subpackages. Writes of messages go through one goroutine that
// commits concurrent appends together (group commit): every caller returns
// after its messages are durable, and one fsync serves them all.
//
// Messages are stored in conversation order (a WITHOUT ROWID table keyed
// by conversation and message id, since migration 11), so a page of one
// conversation's history is one range of the table; lookups by message id
// go through the unique index messages_id, and the full-text index is
// keyed by the negated id (newest first is its forward walk).
//
// The database may be opened by several processes at once (the daemon and
// the admin CLI); SQLite serialises their writes, and the appender notices
// another process's commits through PRAGMA data_version.
package history
