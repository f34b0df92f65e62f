package irc

import (
	"context"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

var _ core.RoomJoiner = (*Bridge)(nil)

// JoinRoom joins a channel a device asked for and keeps it among the
// channels every reconnect rejoins. It returns when the server confirmed
// the JOIN or refused it (banned, invite only, bad key), or after
// joinWait; while the network is down it only remembers the channel.
func (b *Bridge) JoinRoom(ctx context.Context, room, key string) error {
	b.mu.Lock()
	if cj, ok := b.joined[room]; !ok || key != "" || cj.key == "" {
		b.joined[room] = channelJoin{name: room, key: key}
	}
	b.mu.Unlock()
	s := b.cur.Load()
	if s == nil {
		return nil // joined with the others once registered
	}
	folded := s.fold(room)
	s.mu.Lock()
	if _, refused := s.joinFailed[folded]; refused {
		// Asked again: forget the last refusal and wait for a new answer.
		delete(s.joinFailed, folded)
		delete(s.joinedc, folded)
	}
	s.mu.Unlock()
	s.joinAll([]channelJoin{{name: room, key: key}})
	return s.waitJoined(ctx, room)
}

// LeaveRoom parts a channel and stops rejoining it.
func (b *Bridge) LeaveRoom(ctx context.Context, room, reason string) error {
	s := b.cur.Load()
	if s == nil {
		b.mu.Lock()
		for name := range b.joined {
			if foldRFC1459(name) == foldRFC1459(room) {
				delete(b.joined, name)
			}
		}
		b.mu.Unlock()
		return nil
	}
	s.unwantChannel(s.fold(room))
	params := []string{room}
	if reason != "" {
		params = append(params, reason)
	}
	return s.c.writeMsg(ircmsg.MakeMessage(nil, "", "PART", params...))
}
