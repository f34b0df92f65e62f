package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// ircLoad is the load client: a plain IRC client on ngircd, in the channel
// the bridged user joined, posting lines into it. It answers PING and lets
// a caller wait for a line.
type ircLoad struct {
	conn net.Conn
	wmu  sync.Mutex
	w    *bufio.Writer
	mu   sync.Mutex
	wait map[string]chan struct{} // substring → closed when a line holds it
	done chan struct{}
}

func dialIRCLoad(addr, nick, channel string) (*ircLoad, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	l := &ircLoad{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), wait: map[string]chan struct{}{}, done: make(chan struct{})}
	joined := l.expect(" 366 " + nick + " " + channel)
	go l.read()
	if err := l.send("NICK "+nick, "USER "+nick+" 0 * :"+nick, "JOIN "+channel); err != nil {
		conn.Close()
		return nil, err
	}
	if err := l.await(joined, 15*time.Second, "joining "+channel); err != nil {
		conn.Close()
		return nil, err
	}
	return l, nil
}

func (l *ircLoad) read() {
	defer close(l.done)
	sc := bufio.NewScanner(l.conn)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "PING "); ok {
			l.send("PONG " + rest)
			continue
		}
		l.mu.Lock()
		for s, ch := range l.wait {
			if strings.Contains(line, s) {
				close(ch)
				delete(l.wait, s)
			}
		}
		l.mu.Unlock()
	}
}

// expect registers interest in a line holding s, before the line can come.
func (l *ircLoad) expect(s string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	l.wait[s] = ch
	return ch
}

func (l *ircLoad) await(ch chan struct{}, timeout time.Duration, what string) error {
	select {
	case <-ch:
		return nil
	case <-l.done:
		return fmt.Errorf("IRC load client: the connection ended %s", what)
	case <-time.After(timeout):
		return fmt.Errorf("IRC load client: nothing after %v %s", timeout, what)
	}
}

// send writes lines and flushes them.
func (l *ircLoad) send(lines ...string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, s := range lines {
		l.w.WriteString(s)
		l.w.WriteString("\r\n")
	}
	return l.w.Flush()
}

func (l *ircLoad) close() {
	l.send("QUIT :done")
	l.conn.Close()
	<-l.done
}
