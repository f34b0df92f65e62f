package xmpp

import (
	"errors"
	"net"
	"testing"
	"time"
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

// TestIgnoreDeadlines: before login a deadline in the past fails the
// write (the login's timeout works); after it, such a deadline, as
// mellium's racing disarm sets, is ignored.
func TestIgnoreDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		buf := make([]byte, 16)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	c := &boundedConn{Conn: a}
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("a deadline in the past did not fail the write before login")
	}
	c.SetWriteDeadline(time.Time{})
	c.ignoreDeadlines()
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	c.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("writing after login with a stale deadline: %v", err)
	}
}
