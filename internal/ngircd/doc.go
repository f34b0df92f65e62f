// Package ngircd runs Debian's ngircd on a loopback port, in the
// foreground, for the tests that need a real IRC server (through
// internal/testpeer) and for the benchmark tool (cmd/swbench). The server
// is killed when Stop is called or the starting process dies.
package ngircd
