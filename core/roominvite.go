package core

import (
	"context"
	"errors"
	"fmt"
)

// RoomInviter is implemented by bridges whose rooms take invitations: a
// member asks the room to tell another user they are welcome, as an
// XEP-0045 mediated invitation does.
type RoomInviter interface {
	// InviteToRoom invites invitee (an address on the network) into
	// room, with reason as the invitation's text.
	InviteToRoom(ctx context.Context, room, invitee, reason string) error
}

// ErrCannotInvite is wrapped by InviteToRoom's error when the network's
// bridge has no way to invite.
var ErrCannotInvite = errors.New("this network's bridge cannot invite to rooms")

// InviteToRoom asks the bridge of one of user's running networks to invite
// invitee into room.
func (h *Hub) InviteToRoom(ctx context.Context, user UserID, network NetworkID, room, invitee, reason string) error {
	r, err := h.userRunner(user, network)
	if err != nil {
		return err
	}
	inv, ok := r.bridge.(RoomInviter)
	if !ok {
		return fmt.Errorf("network %q: %w", r.network.Name, ErrCannotInvite)
	}
	if err := inv.InviteToRoom(ctx, room, invitee, reason); err != nil {
		return fmt.Errorf("inviting %s to %s on %q: %w", invitee, room, r.network.Name, err)
	}
	return nil
}
