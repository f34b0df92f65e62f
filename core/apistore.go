package core

import (
	"context"
	"time"
)

// AccessToken is a bearer token of the HTTP API, as the store keeps it: the
// SHA-256 of the secret, never the secret itself.
type AccessToken struct {
	ID       int64
	User     UserID
	Hash     []byte // SHA-256 of the secret the client holds
	Name     string // the client's label for it, e.g. "laptop"
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time // zero until first used; updated coarsely
}

// TokenStore keeps the HTTP API's tokens. Every method but TokenByHash is
// scoped to one user, so no caller can reach another user's tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, t AccessToken) (AccessToken, error)
	// TokenByHash returns the token with hash whatever its user; it is
	// how a request is authenticated. Expired tokens are returned too:
	// the caller decides.
	TokenByHash(ctx context.Context, hash []byte) (AccessToken, error)
	Tokens(ctx context.Context, user UserID) ([]AccessToken, error)
	DeleteToken(ctx context.Context, user UserID, id int64) error
	TouchToken(ctx context.Context, id int64, at time.Time) error
	// PruneTokens deletes tokens that expired before t.
	PruneTokens(ctx context.Context, t time.Time) (int64, error)
}

// IdempotencyRecord remembers the outcome of a request made with an
// Idempotency-Key, so that a retry gets the first answer back instead of
// acting twice.
type IdempotencyRecord struct {
	User        UserID
	Key         string
	Fingerprint []byte    // hash of what was asked: a reused key with another request is refused
	Message     MessageID // the message the request stored
	Created     time.Time
}

// IdempotencyStore keeps IdempotencyRecords per user.
type IdempotencyStore interface {
	// Idempotency returns the user's record for key, or an error the
	// store calls not found.
	Idempotency(ctx context.Context, user UserID, key string) (IdempotencyRecord, error)
	// PutIdempotency stores r unless the user already has one for its
	// key; either way it returns the record now stored.
	PutIdempotency(ctx context.Context, r IdempotencyRecord) (IdempotencyRecord, error)
	// PruneIdempotency deletes records created before t.
	PruneIdempotency(ctx context.Context, t time.Time) (int64, error)
}

// ConversationSummary is a conversation as a conversation list shows it:
// its newest message and how much of it is unread.
type ConversationSummary struct {
	Conversation
	Last *Message // nil for a conversation without messages
	// ReadUpto is the user's read position (the device-independent one).
	ReadUpto MessageID
	// Unread counts the incoming chat, action and notice messages after
	// ReadUpto, up to MaxUnreadCount.
	Unread int
}

// MaxUnreadCount caps ConversationSummary.Unread: counting a million
// unread messages costs a scan and no list shows more than "999+".
const MaxUnreadCount = 1000
