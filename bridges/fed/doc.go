// Package fed is the bridge to other Switchboard servers: native
// federation, where every server is authoritative for its domain and its
// users are user@domain, like e-mail.
//
// One Service serves the whole daemon: it knows the local users' fed
// bridges (one per user, a network of kind "fed"), delivers messages
// between users of the same domain in-process, and (see docs/federation.md)
// speaks the signed HTTPS protocol to other domains. Each user's Bridge
// only turns core messages into federation events and back; the Service
// decides whether an event stays local or goes to a peer.
//
// Besides messages, direct conversations carry corrections and replies
// (by event id, refs.go), typing (ephemeral.go: never queued), read
// positions and received reactions. Peers are found through the static
// map, a DNS SRV record (srv.go) or https://DOMAIN; signing keys rotate
// through the key directory (keys.go).
//
// Group rooms, #name@domain, are hosted by one server, their home, with
// members of any domain (rooms.go, docs/federation.md section 4.3): the
// home orders, archives and fans out a room's events, one copy per member
// server, and every server hands them only to its users that joined.
package fed
