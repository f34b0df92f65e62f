// Package loopback holds what programs that run servers and many clients
// on one machine need, for tests and the benchmark tool alike: free
// loopback ports to write into a server's configuration, waiting for a
// server to listen, a raised open-file limit for thousands of sockets, the
// tail of a server's console log, and the machine's CPU use, which other
// work on a shared machine adds to any figure.
package loopback
