package testpeer

import (
	"bufio"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartProsody proves the harness: the server answers a stream
// header on the direct TLS port with its self-signed certificate, and
// does so again after a Stop and Start.
func TestStartProsody(t *testing.T) {
	p := StartProsody(t, map[string]string{"alice": "pw"})
	hello := func() {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
			net.JoinHostPort("127.0.0.1", strconv.Itoa(p.TLSPort)), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Write([]byte(`<?xml version='1.0'?><stream:stream to='` + p.Domain +
			`' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		var got strings.Builder
		r := bufio.NewReader(conn)
		for !strings.Contains(got.String(), "stream:features") {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("reading the stream header: %v (got %q)", err, got.String())
			}
			got.Write(buf[:n])
		}
		if !strings.Contains(got.String(), "SCRAM-SHA-1") {
			t.Fatalf("features offer no SCRAM: %q", got.String())
		}
	}
	hello()
	p.Stop()
	p.Start()
	hello()
}
