// Package xmppload is a lean XMPP client for load tools (cmd/swbench): a
// device that connects over TCP, negotiates STARTTLS, logs in with
// SCRAM-SHA-256, binds a resource, goes online, joins rooms, queries the
// archive (XEP-0313, paged with XEP-0059) and reads its stream raw. It
// speaks the protocol as a real client does, but holds little memory and
// does no PBKDF2 after its first login (the scram.Client caches the keys),
// so thousands of devices fit beside the server on one machine and the
// server's work dominates what is measured.
package xmppload
