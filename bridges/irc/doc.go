// Package irc is the IRC bridge: it keeps one of a user's IRC networks
// connected around the clock on github.com/ergochat/irc-go, and translates
// between IRC lines and core events.
//
// It owns the connection (TLS, certificate pinning, CAP negotiation, SASL,
// nick fallback and regain), the supervisor that classifies every failure
// and reconnects with backoff, the flood limit on what the user sends,
// channel membership, the CHATHISTORY gap fill after a reconnect (paced
// by the server's answers rather than the flood limit), and the
// mapping of IRC formatting codes to and from core spans. It knows nothing
// of the store or of client ports: everything goes through core.Inbound.
package irc
