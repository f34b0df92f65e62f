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
// Bad input: a stanza that does not parse is logged and dropped, an iq
// the bridge does not serve gets service-unavailable, carbons and archive
// results not from the account itself are ignored, and one stanza is
// bounded at 1 MiB on the wire (boundedConn), bodies at 64 KiB, and the
// contacts and resources remembered for presence by count.
//
// Stream management (XEP-0198, sm.go) runs on the upstream link, done
// around mellium, which has none: stanzas are counted and unacknowledged
// ones kept (bounded) from copies of the stream's bytes, and a lost
// connection resumes the stream, so what the dead link swallowed either
// way is delivered once. When the server refuses to resume, a fresh
// session sends the lost stream's unacknowledged messages again and the
// archive gap fill brings what came in.
//
// Not done yet: group chats (XEP-0045), receipts, chat states,
// corrections, replies and file links.
package xmpp
