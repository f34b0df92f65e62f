package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
)

// Bridge keeps one of a user's networks connected and translates between
// the network's protocol and core events.
type Bridge interface {
	// Run keeps the network connected, reconnecting as needed, until ctx
	// ends. It returns early only for a failure retrying cannot mend (bad
	// credentials, a ban), as a Permanent error.
	Run(ctx context.Context) error
	// Send writes an outgoing message to the network and returns the id
	// the network gave it, if any. ErrNotConnected and other temporary
	// errors make the Hub retry later; a Permanent error drops the message
	// and tells the user's devices.
	Send(ctx context.Context, m *Message) (originID string, err error)
	// SetStatus applies the user's own status (IRC AWAY, XMPP presence).
	SetStatus(ctx context.Context, s Status) error
}

// BatchSender is implemented by bridges that take several queued messages
// in one call (fed queues them for their peers in one transaction). The
// Hub hands it runs of messages that are due, in queue order.
type BatchSender interface {
	// SendBatch sends msgs in order and returns one network id per
	// message. An error stands for the whole batch: the Hub then sends
	// the messages one at a time with Send, which sorts out which one
	// failed, so a bridge must tolerate sending a message again.
	SendBatch(ctx context.Context, msgs []*Message) (originIDs []string, err error)
}

// TypingSender is implemented by bridges whose network carries typing
// notifications.
type TypingSender interface {
	SendTyping(ctx context.Context, e TypingEvent) error
}

// RoomReactor is implemented by bridges whose rooms carry reactions
// (XEP-0444 in an XMPP group chat). The Hub refuses a reaction in a room
// of any other network before storing it (ErrCannotReact), rather than
// store one that can only fail on its way out.
type RoomReactor interface {
	ReactsInRooms()
}

// ErrCannotReact is wrapped by Send's error for a reaction in a room of a
// network whose bridge is no RoomReactor.
var ErrCannotReact = errors.New("this network's rooms carry no reactions")

// ReadMarkerSender is implemented by bridges whose network carries read
// receipts: the Hub hands them the user's read positions (Device "") as
// they advance, in whatever conversation; a bridge ignores the others'.
type ReadMarkerSender interface {
	SendReadMarker(ctx context.Context, m ReadMarker) error
}

// Inbound is how a bridge hands events to the Hub. It is bound to one user
// and network: the Hub stamps both on every event, so a bridge cannot speak
// for anyone else.
type Inbound interface {
	// Receive stores the messages among events, then fans all events out
	// in order. When it returns nil the messages are durable.
	Receive(ctx context.Context, events ...Event) error
}

// DuplicateReporter is implemented by the Hub's Inbound: Receive that also
// reports, per event, whether it was a message its conversation already
// held under the same OriginID, which the store dropped.
type DuplicateReporter interface {
	ReceiveReporting(ctx context.Context, events ...Event) (duplicate []bool, err error)
}

// BridgeEnv is what a bridge is built with.
type BridgeEnv struct {
	User    User
	Network Network
	Inbound Inbound
	// History reads the user's stored messages, so a bridge can ask its
	// network only for what arrived after the newest one; nil when the
	// Hub was built without one.
	History HistoryReader
	// Rooms are the rooms devices joined on this network before (see
	// RoomMemory); a RoomJoiner joins them as it joins the rooms of its
	// settings, and keeps them as if JoinRoom had been called.
	Rooms []SavedRoom
	Log   *slog.Logger
}

// BridgeKind registers one network protocol.
type BridgeKind struct {
	Kind NetworkKind
	New  func(BridgeEnv) (Bridge, error)
	// ValidateSettings refuses settings the bridge cannot use, naming the
	// key; it lets the CLI and client ports reject a bad network early.
	ValidateSettings func(Settings) error
	// ParsePeer reads a name typed on a device (a nick, a channel) as the
	// bridge files conversations: its kind, and the remote normalized
	// (case-folded), so the name finds the same conversation the network's
	// messages are in. Nil: a direct conversation with the name as given.
	ParsePeer func(remote string) Peer
}

// Registry maps network kinds to their bridges. A new network protocol is
// one folder under bridges/ and one Register call in cmd/.
type Registry struct {
	kinds map[NetworkKind]BridgeKind
}

// Register adds a kind; registering a kind twice is a programming error.
func (r *Registry) Register(k BridgeKind) {
	if r.kinds == nil {
		r.kinds = make(map[NetworkKind]BridgeKind)
	}
	if _, dup := r.kinds[k.Kind]; dup {
		panic(fmt.Sprintf("core: bridge kind %q registered twice", k.Kind))
	}
	r.kinds[k.Kind] = k
}

// Lookup returns the registration of kind.
func (r *Registry) Lookup(kind NetworkKind) (BridgeKind, bool) {
	k, ok := r.kinds[kind]
	return k, ok
}

// Kinds lists the registered kinds in name order.
func (r *Registry) Kinds() []NetworkKind {
	out := make([]NetworkKind, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ErrNotConnected is returned by Bridge.Send while the network is down; the
// message stays queued and is sent after the bridge reconnects.
var ErrNotConnected = errors.New("network not connected")

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot mend.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
