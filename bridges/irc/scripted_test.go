package irc

// scriptedServer is a small IRC server written for these tests. It exists
// for what no IRC server in Debian offers: CHATHISTORY (Ergo, which has
// it, is neither in Debian bookworm nor on the module proxy here), and a
// line source fast enough to measure the bridge's ingest. Everything it
// can, the tests check against ngircd and InspIRCd as well.

import (
	"bufio"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

type scriptedServer struct {
	t  testing.TB
	ln net.Listener

	mu      sync.Mutex
	clients map[*scriptedClient]bool
	// history is every channel and private message, in order, as
	// CHATHISTORY serves it.
	history []histLine
	seq     int
	maxHist int
	// replayAll makes AFTER ignore its starting point, as a sloppy
	// server might: the bridge must not store anything twice.
	replayAll bool
	joins     chan string // "nick #chan" per JOIN, for tests to wait on
}

type histLine struct {
	target string // channel, or the recipient's nick
	from   string
	text   string
	at     time.Time
	msgid  string
}

type scriptedClient struct {
	s    *scriptedServer
	conn net.Conn
	w    *bufio.Writer
	wmu  sync.Mutex
	nick string
	caps map[string]bool
	// negotiating holds registration from CAP LS to CAP END, as real
	// servers do.
	negotiating, userSent bool
	// welcomed is read by tests under the server's lock and written by
	// the client's goroutine without it.
	welcomed atomic.Bool
}

func startScripted(t testing.TB) *scriptedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedServer{t: t, ln: ln, clients: make(map[*scriptedClient]bool), maxHist: 100, joins: make(chan string, 1024)}
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.clients {
			c.conn.Close()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *scriptedServer) Addr() string { return s.ln.Addr().String() }

func (s *scriptedServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		sc := &scriptedClient{s: s, conn: c, w: bufio.NewWriterSize(c, 64<<10), caps: map[string]bool{}}
		s.mu.Lock()
		s.clients[sc] = true
		s.mu.Unlock()
		go sc.run()
	}
}

// record adds a message to the history as if someone had sent it while
// the bridge was away.
func (s *scriptedServer) record(target, from, text string) histLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	h := histLine{target: target, from: from, text: text, at: time.Now().UTC(), msgid: "m" + strconv.Itoa(s.seq)}
	// Distinct times, a millisecond apart, as a busy server would give.
	if n := len(s.history); n > 0 && !h.at.After(s.history[n-1].at) {
		h.at = s.history[n-1].at.Add(time.Millisecond)
	}
	s.history = append(s.history, h)
	return h
}

// broadcast sends a line to every registered client but the sender.
func (s *scriptedServer) broadcast(from *scriptedClient, h histLine) {
	s.mu.Lock()
	var to []*scriptedClient
	for c := range s.clients {
		if c.nick != "" && (c != from || c.caps["echo-message"]) {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	for _, c := range to {
		if !strings.HasPrefix(h.target, "#") && !strings.EqualFold(c.nick, h.target) && c != from {
			continue
		}
		c.sendHist(h, "")
		c.flush()
	}
}

func (c *scriptedClient) send(line string) {
	c.wmu.Lock()
	c.w.WriteString(line + "\r\n")
	c.wmu.Unlock()
}

func (c *scriptedClient) flush() {
	c.wmu.Lock()
	c.w.Flush()
	c.wmu.Unlock()
}

func (c *scriptedClient) sendHist(h histLine, batch string) {
	tags := ""
	if c.caps["message-tags"] || c.caps["server-time"] {
		tags = "@time=" + h.at.Format("2006-01-02T15:04:05.000Z") + ";msgid=" + h.msgid
		if batch != "" {
			tags += ";batch=" + batch
		}
		tags += " "
	}
	c.send(fmt.Sprintf("%s:%s!u@h PRIVMSG %s :%s", tags, h.from, h.target, h.text))
}

func (c *scriptedClient) run() {
	defer func() {
		c.conn.Close()
		c.s.mu.Lock()
		delete(c.s.clients, c)
		c.s.mu.Unlock()
	}()
	r := bufio.NewReader(c.conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		m, err := ircmsg.ParseLine(strings.TrimRight(line, "\r\n"))
		if err != nil {
			continue
		}
		c.handle(m)
		c.flush()
	}
}

func (c *scriptedClient) handle(m ircmsg.Message) {
	s := c.s
	switch m.Command {
	case "CAP":
		switch m.Params[0] {
		case "LS":
			c.negotiating = true
			c.send(":scripted CAP * LS :server-time message-tags echo-message batch draft/chathistory")
		case "END":
			c.negotiating = false
			c.welcome()
		case "REQ":
			for _, cp := range strings.Fields(m.Params[1]) {
				c.caps[cp] = true
			}
			c.send(":scripted CAP * ACK :" + m.Params[1])
		}
	case "NICK":
		c.nick = m.Params[0]
	case "USER":
		c.userSent = true
		c.welcome()
	case "PING":
		c.send(":scripted PONG scripted :" + m.Params[0])
	case "JOIN":
		for _, ch := range strings.Split(m.Params[0], ",") {
			// Real servers tag the JOIN with server-time too, which
			// moves the bridge's newest-line time past the gap.
			tags := ""
			if c.caps["server-time"] {
				tags = "@time=" + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " "
			}
			c.send(tags + ":" + c.nick + "!u@h JOIN " + ch)
			c.send(":scripted 353 " + c.nick + " = " + ch + " :" + c.nick)
			c.send(":scripted 366 " + c.nick + " " + ch + " :End of /NAMES list.")
			s.joins <- c.nick + " " + ch
		}
	case "PRIVMSG":
		h := s.record(m.Params[0], c.nick, m.Params[1])
		s.broadcast(c, h)
	case "CHATHISTORY":
		c.chathistory(m.Params)
	}
}

func (c *scriptedClient) welcome() {
	if c.negotiating || !c.userSent || c.welcomed.Load() {
		return
	}
	c.welcomed.Store(true)
	c.send(":scripted 001 " + c.nick + " :Welcome")
	c.send(":scripted 005 " + c.nick + " CHANTYPES=# CASEMAPPING=ascii CHATHISTORY=" + strconv.Itoa(c.s.maxHist) + " :are supported")
	c.send(":scripted 422 " + c.nick + " :No MOTD")
}

// chathistory serves AFTER, LATEST and TARGETS, in pages of maxHist.
func (c *scriptedClient) chathistory(p []string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p) < 4 {
		return
	}
	limit, _ := strconv.Atoi(p[len(p)-1])
	limit = min(limit, s.maxHist)
	visible := func(h histLine, target string) bool {
		if strings.HasPrefix(target, "#") {
			return strings.EqualFold(h.target, target)
		}
		return (strings.EqualFold(h.from, target) && strings.EqualFold(h.target, c.nick)) ||
			(strings.EqualFold(h.from, c.nick) && strings.EqualFold(h.target, target))
	}
	switch p[0] {
	case "TARGETS":
		from, _ := time.Parse(time.RFC3339Nano, strings.TrimPrefix(p[1], "timestamp="))
		last := map[string]time.Time{}
		for _, h := range s.history {
			if !h.at.After(from) {
				continue
			}
			switch {
			case strings.HasPrefix(h.target, "#"):
				last[h.target] = h.at
			case strings.EqualFold(h.target, c.nick):
				last[h.from] = h.at
			}
		}
		names := make([]string, 0, len(last))
		for n := range last {
			names = append(names, n)
		}
		sort.Strings(names)
		c.send(":scripted BATCH +t draft/chathistory-targets")
		for _, n := range names {
			c.send("@batch=t :scripted CHATHISTORY TARGETS " + n + " " + last[n].Format("2006-01-02T15:04:05.000Z"))
		}
		c.send(":scripted BATCH -t")
	case "AFTER", "LATEST":
		target := p[1]
		var lines []histLine
		for _, h := range s.history {
			if visible(h, target) {
				lines = append(lines, h)
			}
		}
		if p[0] == "AFTER" {
			start := len(lines)
			key, val, _ := strings.Cut(p[2], "=")
			for i, h := range lines {
				if (key == "msgid" && h.msgid == val) || (key == "timestamp" && h.at.Format("2006-01-02T15:04:05.000Z") == val) {
					start = i + 1
					break
				}
				if key == "timestamp" {
					if t, err := time.Parse(time.RFC3339Nano, val); err == nil && h.at.After(t) {
						start = i
						break
					}
				}
			}
			if s.replayAll {
				start = 0
			}
			lines = lines[start:]
			if len(lines) > limit {
				lines = lines[:limit]
			}
		} else if len(lines) > limit {
			lines = lines[len(lines)-limit:]
		}
		id := "h" + strconv.Itoa(s.seq)
		c.send(":scripted BATCH +" + id + " chathistory " + target)
		for _, h := range lines {
			c.sendHist(h, id)
		}
		c.send(":scripted BATCH -" + id)
	}
}
