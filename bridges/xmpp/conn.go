package xmpp

import (
	"errors"
	"net"
	"sync/atomic"
)

// maxStanzaBytes bounds what the server may send between two stanza
// boundaries the bridge sees (see boundedConn). Go's XML decoder holds a
// whole text node in memory, so without it one endless <body/> from a
// hostile or broken server would take all the memory there is. Prosody's
// and ejabberd's own c2s limits are well under it.
const maxStanzaBytes = 1 << 20

var errStanzaTooBig = errors.New("the server sent a stanza over 1 MiB; dropping the connection")

// boundedConn counts the bytes read since the last stanza boundary and
// fails the read that goes past maxStanzaBytes, which ends the stream
// (and the supervisor reconnects). It sits beneath TLS, so it counts
// what arrives on the wire. The session marks a boundary when a stanza's
// handling starts and ends and when an answer to its own request
// arrives; its keepalive ping makes one at least every pingInterval,
// so whitespace keepalives of an idle stream never add up to the limit.
type boundedConn struct {
	net.Conn
	n atomic.Int64
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.n.Load() > maxStanzaBytes {
		return 0, errStanzaTooBig
	}
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// boundary starts a new count.
func (c *boundedConn) boundary() {
	if c != nil {
		c.n.Store(0)
	}
}
