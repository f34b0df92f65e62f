// Package testpeer holds what the tests that start real peers (IRC
// servers, Prosody, XMPP clients) share: free loopback ports for their
// temporary configurations. Test code only.
package testpeer
