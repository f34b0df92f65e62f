// Package xmpp is Switchboard's XMPP client port (c2s): ordinary XMPP
// clients log in to it and use every bridged network through it.
//
// It owns the stream (STARTTLS or direct TLS, SASL SCRAM with channel
// binding, resource binding), the login limits, and the translation
// between stanzas and core events: roster and presence derived from the
// user's networks, messages with their archive ids, carbons to every other
// device, and service discovery per address. It reads history and
// credentials through small interfaces and sends through the Hub; it never
// imports the store or a bridge. Stanzas are parsed into a small element
// tree and written from one (element.go): mellium's session layer does not
// serve clients, so its jid package is used for addresses and the server
// logic is written here.
package xmpp
