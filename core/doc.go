// Package core owns Switchboard's normalized model (users, networks,
// conversations, messages, presence and the other events), the Hub that
// routes events between bridges, the store and client sessions, and the
// interfaces those parts implement.
//
// core imports nothing but the standard library and no other package of
// this module: bridges, stores and client ports plug in through the
// interfaces declared here, and only cmd/ wires concrete types together.
//
// Concurrency: each user's events are handled by one dispatcher goroutine
// owned by the Hub (see hub_user.go). It stores, fans out and routes in
// the order events arrived, so every device of a user sees one order.
package core
