// Package xmpp is the XMPP bridge: it keeps one of a user's existing XMPP
// accounts online around the clock as a client, on mellium.im/xmpp, and
// translates between stanzas and core events.
//
// It owns the connection (SRV lookup or a configured host, STARTTLS or
// direct TLS, certificate pinning, SASL SCRAM with channel binding where
// offered, resource binding), the supervisor that classifies failures and
// reconnects with backoff and jitter (a refused login is permanent), the
// roster, contacts' presence and the user's own, 1:1 messages both ways,
// message carbons (XEP-0280) so what the user's other clients send and
// receive lands in history too, and the archive gap fill (XEP-0313) after
// every (re)connect. It imports core and mellium, never history,
// clientapi or another bridge: everything goes through core.Inbound.
//
// One message, one network id: the store keeps a message once per
// conversation and network id, and the bridge gives every copy of a
// message it can see (live, carbon, archive) the same one; see
// stanzaMessage.networkID.
//
// The roster goes both ways (roster.go): the whole list reaches the Hub
// as a core.ContactsEvent on every connect and each server push as a
// core.ContactEvent, so devices list contacts no message was exchanged
// with; the Hub's contact methods (core.ContactManager) become roster
// sets and removes on the server, whose pushes then reach every device.
// Presence subscription requests and answers pass as
// core.SubscriptionEvents and presence stanzas. Each roster item also
// reaches devices as an offline core.PresenceEvent until the contact's
// presence arrives.
//
// Group chats (XEP-0045, muc.go) are rooms on every device: the rooms in
// the account's bookmarks (bookmarks.go: XEP-0402, and the XEP-0048
// private storage form) with autojoin are joined on every connect, and
// devices join and leave rooms through core.RoomJoiner. Occupants, their
// roles (affiliation and role mapped to the IRC bridge's owner, admin,
// op and voice), the subject and messages become the same core events
// the IRC bridge emits, so the client port shows both alike; the user's
// status goes to every room the account is in. A room is joined asking
// for no history; its own archive (MAM on the room's address) fills the
// gap after every (re)join, and every copy of a room
// message gets one network id (roomMessageID): the room's stanza-id, or
// for the account's own messages the origin-id Send returned, so the
// room's echo of a sent message is recognised and stored once. A nick
// taken is retried with a suffix, a room password comes from the join
// or the bookmark, a refusal is a permanent error with the reason, and
// a self-ping (XEP-0410) every few minutes finds a silent drop and joins
// again. An occupant's private messages are a direct conversation with
// its full address (room@service/nick), and an invitation (mediated or
// XEP-0249) a KindInvite message in the inviter's, whose body names the
// room, as the IRC bridge stores one; parsePeer tells rooms from
// contacts by the rooms the bridges have seen (bookmarks, joins, stored
// room conversations) and, for a room not seen yet, by its service's
// conventional domain (conference., muc., ...).
//
// In rooms, as in 1:1 chats and through the same parsing and bounds,
// replies (XEP-0461), reactions (XEP-0444) and links (XEP-0066) go both
// ways, live and from the room's archive. Both name a message by the
// room's stanza-id; the account's own messages, stored by origin-id,
// are translated through the ids the room's echo told (roomids.go).
// A room's correction (XEP-0308) names the original by its sender's own
// id: it is resolved only for a message seen live from an occupant still
// under the same nick, and otherwise stored as the plain new text; the
// account's own corrections go out naming the origin-id.
//
// Bad input: a stanza that does not parse is logged and dropped, an iq
// the bridge does not serve gets service-unavailable, carbons and archive
// results not from the account itself are ignored, and one stanza is
// bounded at 1 MiB on the wire (boundedConn), bodies at 64 KiB, and the
// contacts and resources remembered for presence by count, the rooms of
// an account (256) and the occupants listed per room (5,000) too.
//
// Stream management (XEP-0198, sm.go) runs on the upstream link, done
// around mellium, which has none: stanzas are counted and unacknowledged
// ones kept (bounded) from copies of the stream's bytes, and a lost
// connection resumes the stream, so what the dead link swallowed either
// way is delivered once. When the server refuses to resume, a fresh
// session sends the lost stream's unacknowledged messages again and the
// archive gap fill brings what came in.
//
// With 1:1 messages go, both ways (receipts.go): chat states (XEP-0085)
// as core.TypingEvents, corrections (XEP-0308) and replies (XEP-0461) as
// Message.CorrectionOf and ReplyTo, out-of-band links (XEP-0066) as
// attachments; a contact's receipt request (XEP-0184) is answered once
// the message is stored, and outgoing messages ask for receipts; the
// addressee's receipt becomes the message's core.DeliveredEvent, which
// devices show as delivered (a chat marker on the XMPP port, an SSE
// event on the HTTP API).
//
// Not done yet: chat states in group chats, and corrections of rooms'
// archived messages and of messages from before the session (kept as
// plain text). Of group chats:
// a room a device joins is not written to the bookmarks, an invitation's
// password is not kept for the join, and a room without an archive gets
// no gap fill (its own history on join is not asked for).
package xmpp
