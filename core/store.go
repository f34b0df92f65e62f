package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is wrapped by a store's error for a user, network,
// conversation or message that does not exist or belongs to another user:
// the two are told apart by no port, so that ids of other users' things
// cannot be probed.
var ErrNotFound = errors.New("not found")

// Write is one message handed to MessageStore.Append.
type Write struct {
	Message *Message
	// Outbound queues the message for its network in the same
	// transaction, so a send survives a crash between store and network.
	Outbound bool
	// Duplicate is set by Append when the conversation already held a
	// message with the same OriginID; Message.ID is then that message's.
	Duplicate bool
}

// MessageStore keeps messages and read positions durably.
type MessageStore interface {
	// Append stores the writes in one transaction, resolving each
	// message's Peer to a Conversation (created on first use) and
	// assigning IDs in order. It returns only when the writes are durable.
	Append(ctx context.Context, writes []Write) error
	// SetReadMarker moves a read position forward; it reports false and
	// changes nothing when the stored position is already at or past it.
	SetReadMarker(ctx context.Context, m ReadMarker) (advanced bool, err error)
}

// OutboundItem is a message waiting to be sent to its network.
type OutboundItem struct {
	ID          int64
	Message     *Message
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// OutboundQueue is the durable queue of messages waiting for their
// network; it survives restarts and keeps each network's order.
type OutboundQueue interface {
	// PendingOutbound lists a network's waiting messages, oldest first.
	PendingOutbound(ctx context.Context, network NetworkID, limit int) ([]OutboundItem, error)
	// CompleteOutbound removes the item and records the id the network
	// gave the message, so the network's echo is recognised as a duplicate.
	CompleteOutbound(ctx context.Context, item int64, originID string) error
	// RetryOutbound records a failed attempt and when to try again.
	RetryOutbound(ctx context.Context, item int64, next time.Time, cause string) error
	// FailOutbound gives up on the item.
	FailOutbound(ctx context.Context, item int64, cause string) error
}

// OutboundBatchCompleter is an optional part of a Store (checked with a
// type assertion) that the Hub uses with BatchSender bridges: many
// CompleteOutbound calls in one transaction.
type OutboundBatchCompleter interface {
	CompleteOutboundBatch(ctx context.Context, items []int64, originIDs []string) error
}

// SavedRoom is a room a device joined on a network, with the key it
// needed, kept so the network's bridge joins it again after a restart.
type SavedRoom struct {
	Room string // as the bridge's ParsePeer files it
	Key  string
}

// RoomMemory keeps the rooms devices joined on each network
// (HubConfig.Rooms). The Hub saves a room when a join is accepted,
// forgets it when a device leaves it, and hands a network's saved rooms
// to its bridge when it builds it.
type RoomMemory interface {
	SavedRooms(ctx context.Context, network NetworkID) ([]SavedRoom, error)
	SaveRoom(ctx context.Context, network NetworkID, r SavedRoom) error
	ForgetRoom(ctx context.Context, network NetworkID, room string) error
}

// AccountStore reads the users and networks the Hub serves.
type AccountStore interface {
	User(ctx context.Context, id UserID) (User, error)
	// EnabledNetworks lists every user's enabled networks.
	EnabledNetworks(ctx context.Context) ([]Network, error)
}

// Store is what the Hub needs from the history store.
type Store interface {
	MessageStore
	OutboundQueue
	AccountStore
}

// Order is the order of a page of messages or search results.
type Order uint8

const (
	NewestFirst Order = iota
	OldestFirst
)

// MaxPageLimit caps every page so no request can ask for the whole history.
const MaxPageLimit = 500

// PageQuery asks for a page of one conversation's messages.
type PageQuery struct {
	User         UserID
	Conversation ConversationID
	Before       MessageID // only ids < Before, if non-zero
	After        MessageID // only ids > After, if non-zero
	Order        Order
	Limit        int // capped at MaxPageLimit; zero means 50
}

// Ranking orders search results.
type Ranking uint8

const (
	ByTime Ranking = iota // newest first
	ByRelevance
)

// SearchQuery is a full-text search over one user's history.
type SearchQuery struct {
	User         UserID
	Text         string // words, "phrases", prefix*, AND/OR/NOT, -word
	Conversation ConversationID
	Network      NetworkID
	Sender       string // sender address or display name, case-insensitive
	Since, Until time.Time
	Ranking      Ranking
	Before       MessageID // for paging ByTime results
	Limit        int
}

// SearchResult is one matching message with a snippet of its body in which
// Highlights mark the matched words (byte offsets into Snippet).
type SearchResult struct {
	Message    *Message
	Snippet    string
	Highlights []Span
}

// QueryError is a search text that the query grammar rejects: the
// user's to fix, so ports answer it as a bad request (HTTP 400, XMPP
// bad-request) with Reason, never as a failure of the server.
type QueryError struct {
	Offset int    // byte offset in the query text of what is wrong
	Reason string // fit to show the user
	Err    error  // the parser's own error, for errors.As
}

// The text keeps the form "search query: REASON at offset N" that ports
// written before this type matched on.
func (e *QueryError) Error() string {
	return fmt.Sprintf("search query: %s at offset %d", e.Reason, e.Offset)
}

func (e *QueryError) Unwrap() error { return e.Err }

// UserPageQuery asks for a page of all of one user's messages, across
// every conversation, in id order: what a device that was away reads to
// catch up.
type UserPageQuery struct {
	User   UserID
	Before MessageID // only ids < Before, if non-zero
	After  MessageID // only ids > After, if non-zero
	Order  Order
	Limit  int // capped at MaxPageLimit; zero means 50
}

// MessageReader is an optional part of a HistoryReader (check with a type
// assertion): single messages by id and catch-up across conversations.
type MessageReader interface {
	// Message returns one of the user's messages; the error wraps
	// ErrNotFound when there is none with that id or it is another user's.
	Message(ctx context.Context, user UserID, id MessageID) (*Message, error)
	// UserMessages returns a page of the user's messages across all
	// conversations. Paging with After from the last id seen neither
	// skips nor repeats a live message, since the store assigns ids in
	// commit order; an imported history takes ids from its own past.
	UserMessages(ctx context.Context, q UserPageQuery) ([]*Message, error)
}

// HistoryReader is the read side of the store that client ports use.
type HistoryReader interface {
	Messages(ctx context.Context, q PageQuery) ([]*Message, error)
	// Search returns a *QueryError for a text the grammar rejects.
	Search(ctx context.Context, q SearchQuery) ([]SearchResult, error)
	Conversations(ctx context.Context, user UserID) ([]Conversation, error)
}
