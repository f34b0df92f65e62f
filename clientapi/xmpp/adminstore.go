package xmpp

import (
	"context"

	"github.com/switchboard/switchboard/core"
)

// What the ad-hoc commands need beyond Store and Hub. The port finds
// these by type assertion, so a store or Hub without them still serves
// everything else; the commands that need them answer
// feature-not-implemented. The tests hold the daemon's implementations
// to them (adhoc_test.go).

// adminStore changes networks and users, as the CLI does.
type adminStore interface {
	CreateNetwork(ctx context.Context, n core.Network) (core.Network, error)
	DeleteNetwork(ctx context.Context, user core.UserID, id core.NetworkID) error
	User(ctx context.Context, id core.UserID) (core.User, error)
	Users(ctx context.Context) ([]core.User, error)
	CreateUser(ctx context.Context, name, password string, admin bool) (core.User, error)
	DeleteUser(ctx context.Context, id core.UserID) error
	SetPassword(ctx context.Context, user core.UserID, password string) error
	CountMessages(ctx context.Context, user core.UserID) (int64, error)
}

// networkSyncer starts and stops bridges after networks changed.
type networkSyncer interface {
	SyncNetworks(ctx context.Context) error
}

// roomJoiner joins a room on a network (core.Hub.JoinRoom).
type roomJoiner interface {
	JoinRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, key string) error
}

func (s *session) adminStore() (adminStore, error) {
	st, ok := s.srv.store.(adminStore)
	if !ok {
		return nil, failure("cancel", "feature-not-implemented", "this server's store cannot change accounts")
	}
	return st, nil
}
