// Command switchboard is the Switchboard daemon and its admin CLI. It is
// the one place that wires concrete types together: configuration, the
// history store, the hub, the bridges and the client listeners.
//
// Admin commands open the same database as a running daemon; SQLite
// serialises their writes, and the daemon notices changed networks within
// a few seconds (see watchNetworks).
package main
