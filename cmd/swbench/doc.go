// Command swbench measures Switchboard. Every performance figure the
// project quotes comes from one of its scenarios, each of which prints a
// table with the machine's core count and Go version and writes JSON.
//
// Scenario "store" drives the history store directly: durable ingest with
// the full-text index on, search latency by query type and scope, and
// paging latency, on a generated history of realistic chat text.
package main
