package ngircd

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestNoPenalty: with NoPenalty a client's 300-line burst reaches another
// client at once; ngircd's default would hold it to about three lines a
// second (a minute and a half).
func TestNoPenalty(t *testing.T) {
	s, err := Start(Options{Dir: t.TempDir(), NoPenalty: true})
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	join := func(nick string) (net.Conn, *bufio.Scanner) {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "NICK %s\r\nUSER %s 0 * :%s\r\nJOIN #t\r\n", nick, nick, nick)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " 366 "+nick+" ") {
				return c, sc
			}
		}
		t.Fatalf("%s never joined: %v\n%s", nick, sc.Err(), s.Log())
		return nil, nil
	}
	rc, rd := join("reader")
	defer rc.Close()
	wc, _ := join("writer")
	defer wc.Close()
	const lines = 300
	var burst strings.Builder
	for i := range lines {
		fmt.Fprintf(&burst, "PRIVMSG #t :line %d\r\n", i)
	}
	start := time.Now()
	if _, err := wc.Write([]byte(burst.String())); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < lines && rd.Scan() {
		if strings.Contains(rd.Text(), "PRIVMSG #t :line ") {
			got++
		}
	}
	if took := time.Since(start); got != lines || took > 10*time.Second {
		t.Fatalf("%d of %d lines in %v", got, lines, took)
	}
}
