// Package selfsigned owns the daemon's fallback TLS identity: a self-signed
// ECDSA certificate generated on first start, kept on disk and reused on every
// later start, so XMPP clients that pinned it keep trusting it.
//
// It uses only the standard library and must not import any other package of
// the project.
package selfsigned
