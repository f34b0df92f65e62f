package irc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

var _ core.RoomJoiner = (*Bridge)(nil)

// JoinRoom joins a channel a device asked for and keeps it among the
// channels every reconnect rejoins. It returns when the server confirmed
// the JOIN or refused it (banned, invite only, bad key), or after
// joinWait; while the network is down it only remembers the channel.
func (b *Bridge) JoinRoom(ctx context.Context, room, key string) error {
	if err := checkChannelName(room); err != nil {
		return core.Permanent(err)
	}
	if strings.ContainsAny(key, " ,\r\n\x00") {
		return core.Permanent(errors.New("a channel key cannot hold spaces, commas or line breaks"))
	}
	b.mu.Lock()
	cj, wanted := b.joined[room]
	if !wanted || key != "" || cj.key == "" {
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
	err := s.waitJoined(ctx, room)
	if err != nil && !wanted && core.IsPermanent(err) {
		// Refused (banned, invite only, bad key): a channel a device
		// asked for is not retried on every reconnect.
		s.unwantChannel(folded)
	}
	return err
}

// wantSavedRooms adds the channels devices joined before the daemon
// restarted to those every registration joins. A channel of the
// settings keeps its settings' key.
func (b *Bridge) wantSavedRooms() {
	configured := make(map[string]bool, len(b.joined))
	for name := range b.joined {
		configured[foldRFC1459(name)] = true
	}
	for _, r := range b.env.Rooms {
		if err := checkChannelName(r.Room); err != nil {
			b.log.Warn("a saved room is not a channel name; not joined", "room", r.Room, "err", err)
			continue
		}
		if !configured[foldRFC1459(r.Room)] {
			b.joined[r.Room] = channelJoin{name: r.Room, key: r.Key}
		}
	}
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

// checkChannelName refuses what would make JOIN mean something else: a
// comma joins several channels, "0" parts every channel on many
// servers, and spaces or control characters end the parameter or the
// line.
func checkChannelName(room string) error {
	switch {
	case room == "" || room == "0":
		return fmt.Errorf("%q is not a channel name", room)
	case strings.ContainsAny(room, " ,\a"):
		return fmt.Errorf("a channel name cannot hold spaces, commas or ^G: %q", room)
	}
	for _, r := range room {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("a channel name cannot hold control characters: %q", room)
		}
	}
	return nil
}
