package testpeer

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartNgircd: the server it starts registers a client (001) on the
// address it returned.
func TestStartNgircd(t *testing.T) {
	addr := StartNgircd(t)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("NICK probe\r\nUSER probe 0 * :probe\r\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[1] == "001" && f[2] == "probe" {
			return
		}
	}
	t.Fatalf("no 001 for probe from ngircd on %s: %v", addr, sc.Err())
}
