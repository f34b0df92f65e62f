package core

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// User is an account on this Switchboard server: alice of alice@DOMAIN.
type User struct {
	ID      UserID
	Name    string
	Admin   bool
	Created time.Time
	// Retention is how long the user's messages are kept; zero keeps them
	// forever. A conversation's own Retention or KeepForever overrides it.
	Retention time.Duration
}

// NetworkKind names the protocol a network speaks; each kind is served by
// one bridge registered in a Registry.
type NetworkKind string

const (
	KindIRC  NetworkKind = "irc"
	KindXMPP NetworkKind = "xmpp"
	KindFed  NetworkKind = "fed"
)

// Settings are a network's bridge-specific options (address, nick, ...).
// Each bridge documents and validates its own keys.
type Settings map[string]string

// SecretSettingKeys are never shown by listings or logs.
var SecretSettingKeys = map[string]bool{"password": true, "sasl-password": true, "server-password": true}

// Network is one of a user's accounts on a chat network: an IRC network,
// an XMPP account, or the federation of Switchboard servers.
type Network struct {
	ID       NetworkID
	User     UserID
	Name     string // a DNS label: the network's sub-domain on the client port
	Kind     NetworkKind
	Settings Settings
	Enabled  bool
	Created  time.Time
}

// ValidateNetworkName checks that name can serve as a DNS label, since it
// becomes the network's sub-domain (#go@libera.example.org).
func ValidateNetworkName(name string) error {
	if len(name) == 0 || len(name) > 63 {
		return fmt.Errorf("network name %q: must be 1 to 63 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && i != 0 && i != len(name)-1:
		default:
			return fmt.Errorf("network name %q: only lowercase letters, digits and inner hyphens are allowed", name)
		}
	}
	return nil
}

// ValidateUserName checks a user name, the local part of user@DOMAIN.
func ValidateUserName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("user name %q: must be 1 to 64 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i != 0 && i != len(name)-1:
		default:
			return fmt.Errorf("user name %q: only lowercase letters, digits and inner '-', '_' or '.' are allowed", name)
		}
	}
	return nil
}

// ConversationKind tells a one-to-one conversation from a room.
type ConversationKind string

const (
	Direct ConversationKind = "direct"
	Room   ConversationKind = "room"
)

// Peer names a conversation on its network: the remote address of a
// direct conversation or the room's name. Remote is normalized by the
// bridge (IRC case mapping, bare JID) so one peer is one conversation.
type Peer struct {
	Kind   ConversationKind
	Remote string
}

// Conversation is a user's conversation with one peer or in one room on
// one network.
type Conversation struct {
	ID      ConversationID
	User    UserID
	Network NetworkID
	Peer
	Name        string // display name, may be empty
	KeepForever bool
	Retention   time.Duration // zero: the user's retention applies
	Created     time.Time
}

// Direction says whether the user sent a message or received it.
type Direction uint8

const (
	Incoming Direction = iota
	Outgoing
)

func (d Direction) String() string {
	if d == Outgoing {
		return "out"
	}
	return "in"
}

// MessageKind classifies messages, including the room events that belong
// in history next to them.
type MessageKind string

const (
	KindChat   MessageKind = "chat"
	KindAction MessageKind = "action" // /me
	KindNotice MessageKind = "notice"
	KindJoin   MessageKind = "join"
	KindPart   MessageKind = "part"
	KindQuit   MessageKind = "quit"
	KindKick   MessageKind = "kick"
	KindNick   MessageKind = "nick"
	KindTopic  MessageKind = "topic"
	KindMode   MessageKind = "mode"
	KindInvite MessageKind = "invite"
	// KindReaction is the sender's whole set of reactions (XEP-0444) to
	// the message ReplyTo names, one per line of Body; an empty Body
	// withdraws them. A later reaction of the same sender to the same
	// message replaces the earlier.
	KindReaction MessageKind = "reaction"
)

var messageKinds = map[MessageKind]bool{
	KindChat: true, KindAction: true, KindNotice: true, KindJoin: true, KindPart: true,
	KindQuit: true, KindKick: true, KindNick: true, KindTopic: true, KindMode: true, KindInvite: true,
	KindReaction: true,
}

// Limits of one reaction set, as every port and bridge checks them.
const (
	MaxReactions     = 16
	MaxReactionBytes = 64
)

// ValidReaction reports whether r may be one reaction of a set: 1 to
// MaxReactionBytes bytes of UTF-8 without control characters (so one
// line), as every port, bridge and federation peer checks it.
func ValidReaction(r string) bool {
	return r != "" && len(r) <= MaxReactionBytes && utf8.ValidString(r) && !strings.ContainsFunc(r, unicode.IsControl)
}

// Reactions reads a reaction message's set.
func (m *Message) Reactions() []string {
	if m.Body == "" {
		return nil
	}
	return strings.Split(m.Body, "\n")
}

// Valid reports whether k is a kind this version knows.
func (k MessageKind) Valid() bool { return messageKinds[k] }

// Address is a participant on a network: its native address (IRC nick,
// JID, user@domain) and the name to show.
type Address struct {
	Addr string
	Name string
}

// Style is a set of XEP-0393 style flags; IRC formatting maps onto them.
type Style uint8

const (
	Bold Style = 1 << iota
	Italic
	Underline
	Strike
	Monospace
)

// Span styles Body[Start:End], offsets in bytes of the UTF-8 body.
// FG and BG are the text and background colours as "#rrggbb", empty for
// the reader's own; IRC has colours, XMPP clients do not show them.
type Span struct {
	Start, End int
	Style      Style
	FG, BG     string
}

// ValidColour reports whether c is a span colour: "#rrggbb" in lower
// case, or empty for none.
func ValidColour(c string) bool {
	if c == "" {
		return true
	}
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range []byte(c[1:]) {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// MessageRef points at another message: by the network's id, which is what
// bridges see, and by the server id once the store has resolved it.
type MessageRef struct {
	ID       MessageID
	OriginID string
}

// IsZero reports whether the reference points nowhere.
func (r MessageRef) IsZero() bool { return r.ID == 0 && r.OriginID == "" }

// Attachment is a file shared by URL (XEP-0066, IRC links, uploads).
type Attachment struct {
	URL       string
	Name      string
	MediaType string
	Size      int64
}

// Message is one message or room event in a user's conversation.
type Message struct {
	ID           MessageID // assigned by the store
	User         UserID
	Network      NetworkID
	Conversation ConversationID // resolved from Peer by the store
	Peer         Peer
	// OriginID is the network's own id (IRCv3 msgid, XMPP stanza or
	// origin id, federation id). The store keeps one message per
	// conversation and origin id, so replays and backfills add nothing.
	OriginID     string
	Direction    Direction
	Sender       Address
	Time         time.Time // when it was sent, by the network's clock if known
	Kind         MessageKind
	Body         string
	Spans        []Span
	ReplyTo      MessageRef
	CorrectionOf MessageRef
	Attachments  []Attachment
	// NoCopies asks that the user's other devices not be sent a copy of
	// this outgoing message as it goes (XEP-0280 <private/>); they find
	// it in the archive. It is not stored.
	NoCopies bool
}

// Validate checks what the store and every port rely on.
func (m *Message) Validate() error {
	switch {
	case m.User == 0:
		return fmt.Errorf("message: no user")
	case m.Network == 0:
		return fmt.Errorf("message: no network")
	case m.Conversation == 0 && m.Peer.Remote == "":
		return fmt.Errorf("message: no conversation or peer")
	case m.Peer.Kind != "" && m.Peer.Kind != Direct && m.Peer.Kind != Room:
		return fmt.Errorf("message: unknown conversation kind %q", m.Peer.Kind)
	case !m.Kind.Valid():
		return fmt.Errorf("message: unknown kind %q", m.Kind)
	case m.Time.IsZero():
		return fmt.Errorf("message: no time")
	case m.Kind == KindReaction && m.ReplyTo.IsZero():
		return fmt.Errorf("message: a reaction names no message")
	case m.Kind == KindReaction && len(m.Reactions()) > MaxReactions:
		return fmt.Errorf("message: %d reactions, at most %d", len(m.Reactions()), MaxReactions)
	}
	for i, s := range m.Spans {
		if s.Start < 0 || s.End > len(m.Body) || s.Start >= s.End {
			return fmt.Errorf("message: span %d [%d,%d) outside body of %d bytes", i, s.Start, s.End, len(m.Body))
		}
		if !ValidColour(s.FG) || !ValidColour(s.BG) {
			return fmt.Errorf("message: span %d colours %q, %q: want #rrggbb in lower case, or none", i, s.FG, s.BG)
		}
	}
	return nil
}
