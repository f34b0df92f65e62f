// Package loopback holds what programs that run servers and many clients
// on one machine need, for tests and the benchmark tool alike: free
// loopback ports to write into a server's configuration, and a raised
// open-file limit for thousands of sockets.
package loopback
