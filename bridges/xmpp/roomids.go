package xmpp

// The ids messages in a room go by. The store knows another occupant's
// message by the room's stanza-id, and the account's own by its
// origin-id (roomMessageID); replies and reactions in a room name a
// message by the room's stanza-id, and a correction names it by the id
// its sender gave it. The bridge remembers what it needs to translate
// between them for recent messages, per room and for the session's
// life, within bounds a hostile room or occupant cannot stretch.

import "slices"

// maxOwnIDs bounds the account's messages per room whose two ids the
// bridge remembers, and maxOwnIDLength the ids it remembers at all.
const (
	maxOwnIDs      = 256
	maxOwnIDLength = 64
)

// roomIDs pairs the two ids of the account's own messages in a room.
// The bridge stores them by their origin-id, which Send returned; the
// room and its occupants name them by the room's stanza-id, which is
// what a reply or a reaction in a room points at (XEP-0461 and XEP-0444
// in group chats). Only recent messages are remembered, and only for
// the session's life: the echo of a send, the account's messages from
// its other clients, and the archived copies the gap fill reads.
type roomIDs struct {
	originOf map[string]string // by stanza-id
	stanzaOf map[string]string // by origin-id
	order    []string          // stanza-ids, oldest first
}

func (p *roomIDs) add(stanzaID, originID string) {
	if stanzaID == "" || originID == "" || len(stanzaID) > maxOwnIDLength || len(originID) > maxOwnIDLength {
		return
	}
	if _, ok := p.originOf[stanzaID]; ok {
		return
	}
	if p.originOf == nil {
		p.originOf, p.stanzaOf = make(map[string]string), make(map[string]string)
	}
	if len(p.order) == maxOwnIDs {
		oldest := p.order[0]
		if origin := p.originOf[oldest]; p.stanzaOf[origin] == oldest {
			delete(p.stanzaOf, origin)
		}
		delete(p.originOf, oldest)
		p.order = p.order[1:]
	}
	p.originOf[stanzaID], p.stanzaOf[originID] = originID, stanzaID
	p.order = append(p.order, stanzaID)
}

// maxSenderIDs bounds the messages per room whose senders' own ids the
// bridge remembers, and maxNickLength the nicks it remembers them for.
const (
	maxSenderIDs  = 256
	maxNickLength = 128
)

// senderIDs resolves a correction in a room (XEP-0308), which names the
// original by the id its sender gave it, to the id the original is
// stored by. It knows only messages seen live from an occupant still in
// the room under the same nick: a nick is all that tells occupants
// apart, and it passes to someone else once its holder leaves, so a
// newcomer must not correct what the nick's last holder wrote. A
// correction it cannot resolve stays the plain new text it is.
type senderIDs struct {
	stored map[senderID]string
	order  []senderID // oldest first
}

type senderID struct{ nick, id string }

// add remembers that nick's message, known to its sender by ids (its
// stanza id and origin-id), is stored by storedID. A correction is
// added with its original's storedID, so a correction of it corrects
// the original.
func (p *senderIDs) add(nick, storedID string, ids ...string) {
	if nick == "" || storedID == "" || len(nick) > maxNickLength || len(storedID) > maxRefLength {
		return
	}
	for _, id := range ids {
		k := senderID{nick, id}
		if _, known := p.stored[k]; known || id == "" || len(id) > maxOwnIDLength {
			continue // an id used twice keeps naming the first
		}
		if p.stored == nil {
			p.stored = make(map[senderID]string)
		}
		if len(p.order) == maxSenderIDs {
			delete(p.stored, p.order[0])
			p.order = p.order[1:]
		}
		p.stored[k] = storedID
		p.order = append(p.order, k)
	}
}

// lookup is the stored id of nick's message its sender calls id.
func (p *senderIDs) lookup(nick, id string) (string, bool) {
	stored, ok := p.stored[senderID{nick, id}]
	return stored, ok
}

// forget drops what nick wrote: its holder left or took another nick.
func (p *senderIDs) forget(nick string) {
	p.order = slices.DeleteFunc(p.order, func(k senderID) bool {
		if k.nick == nick {
			delete(p.stored, k)
			return true
		}
		return false
	})
}
