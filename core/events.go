package core

import "time"

// Event is anything the Hub delivers to a user's sessions. The concrete
// types below are the whole set; sessions switch on them.
type Event interface {
	// EventUser is the user the event belongs to; the Hub never hands an
	// event to another user's session.
	EventUser() UserID
}

// MessageEvent announces a message that is already in the store.
type MessageEvent struct {
	Message *Message
	// From is the session that sent an outgoing message, so that session
	// can tell its own echo from a carbon; zero for everything else.
	From SessionID
}

// Show is an availability, ordered from least to most available.
type Show uint8

const (
	ShowOffline Show = iota
	ShowXA           // extended away
	ShowAway
	ShowDND
	ShowAvailable
	ShowChat
)

var showNames = [...]string{"offline", "xa", "away", "dnd", "available", "chat"}

func (s Show) String() string {
	if int(s) < len(showNames) {
		return showNames[s]
	}
	return "unknown"
}

// ParseShow is the inverse of Show.String.
func ParseShow(s string) (Show, bool) {
	for i, n := range showNames {
		if n == s {
			return Show(i), true
		}
	}
	return 0, false
}

// Status is an availability with an optional text.
type Status struct {
	Show Show
	Text string
}

// PresenceEvent is a contact's presence on a network.
type PresenceEvent struct {
	User    UserID
	Network NetworkID
	Contact string // network address
	Status
}

// StatusEvent is the user's own status as applied to the networks: the most
// available status among the user's connected devices.
type StatusEvent struct {
	User UserID
	Status
}

// ChatState is a typing notification state (XEP-0085, IRCv3 +typing).
type ChatState string

const (
	StateActive    ChatState = "active"
	StateComposing ChatState = "composing"
	StatePaused    ChatState = "paused"
	StateInactive  ChatState = "inactive"
	StateGone      ChatState = "gone"
)

// TypingEvent says someone is typing in a conversation. For Direction
// Outgoing it is the user typing on one of their devices.
type TypingEvent struct {
	User      UserID
	Network   NetworkID
	Peer      Peer
	Sender    string
	Direction Direction
	State     ChatState
	From      SessionID
}

// ReadMarker is a read position in a conversation: of one device, or of the
// user (Device "") which every device shows.
type ReadMarker struct {
	User         UserID
	Conversation ConversationID
	Device       string
	Upto         MessageID
	At           time.Time
}

// ReadMarkerEvent announces a read position that is already stored.
type ReadMarkerEvent struct {
	ReadMarker
	From SessionID
}

// PeerReadEvent says a contact read the user's direct conversation with
// them up to a message: a read receipt the network passed on (federation's
// read events). Upto is the user's own id of that message.
type PeerReadEvent struct {
	User    UserID
	Network NetworkID
	Peer    Peer
	Upto    MessageID
}

// MembershipChange is what happened to a room member.
type MembershipChange uint8

const (
	MemberJoined MembershipChange = iota
	MemberLeft
	MemberUpdated // role, nick or host changed
)

// Member is a room occupant.
type Member struct {
	Nick string
	Addr string // network address when known
	Role string // e.g. "owner", "op", "voice", "" (XEP-0045 maps them)
}

// MembershipEvent is a change of a room's occupants, including the user's
// own membership (Self).
type MembershipEvent struct {
	User    UserID
	Network NetworkID
	Room    string
	Change  MembershipChange
	Member  Member
	Self    bool
	// PreviousNick is the member's nick before a nick change.
	PreviousNick string
}

// RoomMembersEvent is the whole occupant list of a room, sent when the
// user joins it: one event, because a big channel has thousands of members
// and one event each would overflow every session's queue.
type RoomMembersEvent struct {
	User    UserID
	Network NetworkID
	Room    string
	Members []Member
}

// TopicEvent is a room's current topic.
type TopicEvent struct {
	User    UserID
	Network NetworkID
	Room    string
	Topic   string
	SetBy   string
	At      time.Time
}

// ConnState is a bridge's connection state.
type ConnState string

const (
	StateConnecting   ConnState = "connecting"
	StateConnected    ConnState = "connected"
	StateDisconnected ConnState = "disconnected" // will retry
	StateFailed       ConnState = "failed"       // will not retry until changed
)

// NetworkStateEvent reports a bridge's connection state and last error.
type NetworkStateEvent struct {
	User    UserID
	Network NetworkID
	State   ConnState
	Err     string
	At      time.Time
}

// SendFailedEvent tells the user's devices that an outgoing message could
// not be delivered to its network and will not be retried.
type SendFailedEvent struct {
	User    UserID
	Message MessageID
	Reason  string
}

// DeliveredEvent tells the user's devices that an outgoing message reached
// the far end of its network: for federation, the recipient's server
// stored it. Bridges that queue messages themselves send it.
type DeliveredEvent struct {
	User    UserID
	Message MessageID
}

func (e MessageEvent) EventUser() UserID      { return e.Message.User }
func (e DeliveredEvent) EventUser() UserID    { return e.User }
func (e PresenceEvent) EventUser() UserID     { return e.User }
func (e StatusEvent) EventUser() UserID       { return e.User }
func (e TypingEvent) EventUser() UserID       { return e.User }
func (e ReadMarkerEvent) EventUser() UserID   { return e.User }
func (e PeerReadEvent) EventUser() UserID     { return e.User }
func (e MembershipEvent) EventUser() UserID   { return e.User }
func (e TopicEvent) EventUser() UserID        { return e.User }
func (e RoomMembersEvent) EventUser() UserID  { return e.User }
func (e NetworkStateEvent) EventUser() UserID { return e.User }
func (e SendFailedEvent) EventUser() UserID   { return e.User }
