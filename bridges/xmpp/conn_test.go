package xmpp

import (
	"errors"
	"net"
	"testing"
)

// TestBoundedConn: reads past the bound fail until a stanza boundary
// starts a new count.
func TestBoundedConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &boundedConn{Conn: a}
	chunk := make([]byte, 64<<10)
	go func() {
		for {
			if _, err := b.Write(chunk); err != nil {
				return
			}
		}
	}()
	read := func(n int) error {
		buf := make([]byte, len(chunk))
		for got := 0; got < n; {
			k, err := c.Read(buf)
			if err != nil {
				return err
			}
			got += k
		}
		return nil
	}
	if err := read(maxStanzaBytes); err != nil {
		t.Fatalf("reading up to the bound: %v", err)
	}
	c.boundary()
	if err := read(maxStanzaBytes); err != nil {
		t.Fatalf("reading after a boundary: %v", err)
	}
	if err := read(2 * len(chunk)); !errors.Is(err, errStanzaTooBig) {
		t.Fatalf("reading past the bound: %v, want errStanzaTooBig", err)
	}
}
