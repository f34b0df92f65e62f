// Package bridges holds one subpackage per network protocol (irc, xmpp,
// fed). Each keeps one of a user's networks connected and translates
// between its protocol and core events, implementing core.Bridge; it
// imports core and its protocol library, never history, clientapi or
// another bridge. A new protocol is a new folder here and one Register
// line in cmd/switchboard/bridges.go.
package bridges
