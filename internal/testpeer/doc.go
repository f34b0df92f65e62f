// Package testpeer holds what the tests that start real peers (IRC
// servers, Prosody, XMPP clients) share: free loopback ports for their
// temporary configurations (see internal/loopback), and a plain ngircd (see
// internal/ngircd) for tests in packages that
// cannot reach the fuller IRC harness of bridges/irc; and RaiseFileLimit
// for benchmarks that hold thousands of sockets. Test code only.
package testpeer
