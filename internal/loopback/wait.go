package loopback

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrExited is returned by WaitListening when the server exited first.
var ErrExited = errors.New("the server exited before it listened")

// WaitListening returns once addr accepts a TCP connection, or an error
// when exited is closed first or timeout passes.
func WaitListening(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return ErrExited
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listened on %s within %v: %w", addr, timeout, err)
		}
	}
}
