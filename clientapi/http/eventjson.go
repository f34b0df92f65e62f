package httpapi

import (
	"time"

	"github.com/switchboard/switchboard/core"
)

// The SSE payloads, one per event name.

type presenceEventJSON struct {
	Network int64  `json:"network"`
	Contact string `json:"contact"`
	Show    string `json:"show"`
	Text    string `json:"text,omitempty"`
}

type contactEventJSON struct {
	Network int64       `json:"network"`
	Contact contactJSON `json:"contact"`
	Removed bool        `json:"removed,omitempty"`
}

type subscriptionEventJSON struct {
	Network int64  `json:"network"`
	Contact string `json:"contact"`
	// Kind is subscribe (the contact asks to see the user's presence),
	// subscribed (it allowed the user's request), unsubscribed (it
	// refused or revoked it) or unsubscribe (it stopped following).
	Kind string `json:"kind"`
	Text string `json:"text,omitempty"`
}

type statusEventJSON struct {
	Show string `json:"show"`
	Text string `json:"text,omitempty"`
}

type typingEventJSON struct {
	Network   int64    `json:"network"`
	Peer      peerJSON `json:"peer"`
	Sender    string   `json:"sender,omitempty"`
	Direction string   `json:"direction"`
	State     string   `json:"state"`
}

type peerReadEventJSON struct {
	Network int64    `json:"network"`
	Peer    peerJSON `json:"peer"`
	Upto    string   `json:"upto"`
}

type readEventJSON struct {
	Conversation int64     `json:"conversation"`
	Upto         string    `json:"upto"`
	Device       string    `json:"device,omitempty"`
	At           time.Time `json:"at"`
}

type networkEventJSON struct {
	Network int64 `json:"network"`
	stateJSON
}

type memberJSON struct {
	Nick string `json:"nick"`
	Addr string `json:"addr,omitempty"`
	Role string `json:"role,omitempty"`
}

type membershipEventJSON struct {
	Network int64      `json:"network"`
	Room    string     `json:"room"`
	Change  string     `json:"change"`
	Member  memberJSON `json:"member"`
	Self    bool       `json:"self"`
}

type membersEventJSON struct {
	Network int64        `json:"network"`
	Room    string       `json:"room"`
	Members []memberJSON `json:"members"`
}

type topicEventJSON struct {
	Network int64     `json:"network"`
	Room    string    `json:"room"`
	Topic   string    `json:"topic"`
	SetBy   string    `json:"set_by,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

type deliveredEventJSON struct {
	Message string `json:"message"`
}

type sendFailedEventJSON struct {
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

var membershipChanges = map[core.MembershipChange]string{
	core.MemberJoined: "joined", core.MemberLeft: "left", core.MemberUpdated: "updated",
}

// eventJSON names an event and gives its payload; "" for an event the API
// does not carry.
func eventJSON(e core.Event) (string, any) {
	switch e := e.(type) {
	case core.MessageEvent:
		if !e.Message.CorrectionOf.IsZero() {
			return "edit", toMessageJSON(e.Message)
		}
		return "message", toMessageJSON(e.Message)
	case core.PresenceEvent:
		return "presence", presenceEventJSON{int64(e.Network), e.Contact, e.Show.String(), e.Text}
	case core.ContactsEvent:
		cl := contactListJSON{Network: int64(e.Network), Contacts: make([]contactJSON, 0, len(e.Contacts)), Pending: []string{}}
		for _, c := range e.Contacts {
			cl.Contacts = append(cl.Contacts, toContactJSON(c))
		}
		return "contacts", cl
	case core.ContactEvent:
		return "contact", contactEventJSON{int64(e.Network), toContactJSON(e.Contact), e.Removed}
	case core.SubscriptionEvent:
		return "subscription", subscriptionEventJSON{int64(e.Network), e.Contact, string(e.Kind), e.Text}
	case core.StatusEvent:
		return "status", statusEventJSON{e.Show.String(), e.Text}
	case core.TypingEvent:
		return "typing", typingEventJSON{int64(e.Network), peerJSON{e.Peer.Kind, e.Peer.Remote}, e.Sender, e.Direction.String(), string(e.State)}
	case core.ReadMarkerEvent:
		return "read", readEventJSON{int64(e.Conversation), idString(e.Upto), e.Device, e.At.UTC()}
	case core.PeerReadEvent:
		return "peer_read", peerReadEventJSON{int64(e.Network), peerJSON{e.Peer.Kind, e.Peer.Remote}, idString(e.Upto)}
	case core.NetworkStateEvent:
		return "network", networkEventJSON{int64(e.Network), stateJSON{e.State, e.Err, e.At.UTC()}}
	case core.MembershipEvent:
		return "membership", membershipEventJSON{int64(e.Network), e.Room, membershipChanges[e.Change],
			memberJSON(e.Member), e.Self}
	case core.RoomMembersEvent:
		ms := make([]memberJSON, len(e.Members))
		for i, m := range e.Members {
			ms[i] = memberJSON(m)
		}
		return "members", membersEventJSON{int64(e.Network), e.Room, ms}
	case core.TopicEvent:
		return "topic", topicEventJSON{int64(e.Network), e.Room, e.Topic, e.SetBy, e.At.UTC()}
	case core.SendFailedEvent:
		return "send_failed", sendFailedEventJSON{idString(e.Message), e.Reason}
	case core.DeliveredEvent:
		return "delivered", deliveredEventJSON{idString(e.Message)}
	}
	return "", nil
}
