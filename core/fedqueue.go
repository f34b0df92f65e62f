package core

import (
	"context"
	"time"
)

// FedQueued is a federation event waiting for its peer server
// (docs/federation.md, section 5). The store keeps it opaque: Payload is
// the event as the fed bridge will send it.
type FedQueued struct {
	ID      int64
	Peer    string // the receiving domain
	EventID string
	// User and Message are the sender and the stored message, to tell the
	// sender's devices when the event fails.
	User        UserID
	Message     MessageID
	Payload     []byte
	Created     time.Time
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// FedQueue is the durable per-peer outbound queue of federation events.
type FedQueue interface {
	// EnqueueFed adds the events in one transaction, each unless its
	// peer's queue already holds (or failed) one with the same EventID;
	// it returns how many it added.
	EnqueueFed(ctx context.Context, qs []FedQueued) (added int, err error)
	// PendingFed lists a peer's waiting events, oldest first.
	PendingFed(ctx context.Context, peer string, limit int) ([]FedQueued, error)
	// FedPeersPending lists the peers with waiting events.
	FedPeersPending(ctx context.Context) ([]string, error)
	// CompleteFed removes delivered events.
	CompleteFed(ctx context.Context, ids []int64) error
	// RetryFed records a failed attempt of the events and when to retry.
	RetryFed(ctx context.Context, ids []int64, next time.Time, cause string) error
	// FailFed gives up on the events; they stay, marked failed.
	FailFed(ctx context.Context, ids []int64, cause string) error
	// CountFed counts user's waiting (not failed) events for peer, which
	// the fed bridge bounds.
	CountFed(ctx context.Context, peer string, user UserID) (int, error)
	// PurgeFailedFed deletes failed events created before before, payload
	// and all; it returns how many.
	PurgeFailedFed(ctx context.Context, before time.Time) (int, error)
}
