package core

import (
	"context"
	"time"
)

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

// HistoryReader is the read side of the store that client ports use.
type HistoryReader interface {
	Messages(ctx context.Context, q PageQuery) ([]*Message, error)
	Search(ctx context.Context, q SearchQuery) ([]SearchResult, error)
	Conversations(ctx context.Context, user UserID) ([]Conversation, error)
}
