package xmpp

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

type scanned struct {
	local string
	raw   string
}

func scanAll(chunks []string, capture bool) []scanned {
	s := xmlScanner{capture: capture}
	var out []scanned
	for _, c := range chunks {
		s.feed([]byte(c), func(local string, raw []byte) { out = append(out, scanned{local, string(raw)}) })
	}
	return out
}

// TestScannerFindsTopLevelElements: stanzas and nonzas beneath the stream
// are found with their bytes, however the stream is cut into reads:
// quoted '>' and '/', nested and self-closing elements, a stream restart
// after STARTTLS and the stream's end.
func TestScannerFindsTopLevelElements(t *testing.T) {
	stream := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x'>` +
		`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>` +
		`<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='y'>` +
		`<enabled xmlns='urn:xmpp:sm:3' id='a>b' resume='true'/>` + "\n " +
		`<message to="bob@x/&gt;" id='m1'><body>a &lt; b > c / d</body><x xmlns='y'><y/></x></message>` +
		`<iq type='result' id='i1'/>` +
		`<presence from='c@d'><show>away</show></presence>` +
		`<r xmlns='urn:xmpp:sm:3'/>` +
		`</stream:stream>`
	want := []scanned{
		{"features", `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>`},
		{"enabled", `<enabled xmlns='urn:xmpp:sm:3' id='a>b' resume='true'/>`},
		{"message", `<message to="bob@x/&gt;" id='m1'><body>a &lt; b > c / d</body><x xmlns='y'><y/></x></message>`},
		{"iq", `<iq type='result' id='i1'/>`},
		{"presence", `<presence from='c@d'><show>away</show></presence>`},
		{"r", `<r xmlns='urn:xmpp:sm:3'/>`},
	}
	for _, size := range []int{1, 2, 3, 7, 64, len(stream)} {
		var chunks []string
		for i := 0; i < len(stream); i += size {
			chunks = append(chunks, stream[i:min(i+size, len(stream))])
		}
		if got := scanAll(chunks, true); !slices.Equal(got, want) {
			t.Errorf("reads of %d bytes: got %q\nwant %q", size, got, want)
		}
		got := scanAll(chunks, false)
		if len(got) != len(want) || got[2].local != "message" || got[2].raw != "" {
			t.Errorf("without capture, reads of %d bytes: %q", size, got)
		}
	}
}

// TestTapCountsAndQueues: the taps count stanzas from <enable/> and
// <enabled/> on, nonzas never; acks drop what they acknowledge, a bad h
// cannot drop more than is queued, and the queue stays bounded.
func TestTapCountsAndQueues(t *testing.T) {
	m := &streamMgmt{}
	in, out := &smTap{m: m}, &smTap{m: m, out: true}
	out.scan.capture = true
	io.WriteString(in, "<stream:stream xmlns:stream='s'><iq id='before'/>")
	io.WriteString(out, "<stream:stream xmlns:stream='s'><iq id='bind'/><enable xmlns='urn:xmpp:sm:3'/><message id='1'/><r/><presence/>")
	io.WriteString(in, "<enabled xmlns='urn:xmpp:sm:3'/><message/><a h='1'/><iq/>")
	if m.inH != 2 || m.outH != 2 || len(m.unacked) != 2 || string(m.unacked[0]) != "<message id='1'/>" {
		t.Fatalf("inH %d outH %d unacked %q", m.inH, m.outH, m.unacked)
	}
	m.ack(1)
	if len(m.unacked) != 1 || string(m.unacked[0]) != "<presence/>" || m.acked != 1 {
		t.Fatalf("after h=1: %q acked %d", m.unacked, m.acked)
	}
	m.ack(40) // more than was ever sent
	if len(m.unacked) != 0 {
		t.Fatalf("after a bad h: %q", m.unacked)
	}
	m.id = "resumable"
	for range smMaxUnacked + 10 {
		io.WriteString(out, "<message><body>x</body></message>")
	}
	if len(m.unacked) != smMaxUnacked || m.id != "" || int(m.outH-m.acked) != len(m.unacked) {
		t.Errorf("queue %d (max %d), id %q, outH %d acked %d", len(m.unacked), smMaxUnacked, m.id, m.outH, m.acked)
	}
}

// TestAckCountsOnlyWhatCameBeforeTheRequest: an <a/> answers the count of
// stanzas before its <r/> in the stream, not those read ahead of their
// handling, which a resumed stream must get again if they were not
// stored.
func TestAckCountsOnlyWhatCameBeforeTheRequest(t *testing.T) {
	m := &streamMgmt{}
	in := &smTap{m: m}
	io.WriteString(in, "<stream:stream xmlns:stream='s'><enabled xmlns='urn:xmpp:sm:3'/><message/><message/>"+
		"<r xmlns='urn:xmpp:sm:3'/><message/><message/><r xmlns='urn:xmpp:sm:3'/><message/>")
	if m.inH != 5 {
		t.Fatalf("read %d stanzas, want 5", m.inH)
	}
	if h := m.answerR(); h != 2 {
		t.Errorf("the first <r/> answered h=%d, want the 2 stanzas before it", h)
	}
	if h := m.answerR(); h != 4 {
		t.Errorf("the second <r/> answered h=%d, want 4", h)
	}
	if h := m.answerR(); h != 4 {
		t.Errorf("an <r/> the tap did not keep answered h=%d; want the last count answered, 4", h)
	}
	if h := m.received(); h != 5 {
		t.Errorf("a resumption after Serve ended names h=%d, want all 5", h)
	}
}

func TestGroupchatIsNotSentAgain(t *testing.T) {
	for raw, want := range map[string]bool{
		`<message xmlns="jabber:client" type="groupchat" to="r@m"><body>type="chat"</body></message>`: true,
		`<message type='groupchat'/>`:                                  true,
		`<message type="chat"><body>type="groupchat"</body></message>`: false,
	} {
		if got := isMessage([]byte(raw)) && isGroupchat([]byte(raw)); got != want {
			t.Errorf("%s: groupchat %v, want %v", raw, got, want)
		}
	}
}

// FuzzScanner: any bytes in any chunking give the same elements, never a
// panic, and with capture every element's bytes are a well-formed
// element of the name reported.
func FuzzScanner(f *testing.F) {
	f.Add("<stream:stream><message a='>'><b/></message><iq/></stream:stream>", 3)
	f.Add("<a><b></a></b><c/>", 1)
	f.Add("<?x?><!-- c --><stream:stream><x/>", 2)
	f.Fuzz(func(t *testing.T, s string, size int) {
		if size <= 0 || size > len(s)+1 {
			size = len(s) + 1
		}
		var chunks []string
		for i := 0; i < len(s); i += size {
			chunks = append(chunks, s[i:min(i+size, len(s))])
		}
		whole := scanAll([]string{s}, true)
		if got := scanAll(chunks, true); !slices.Equal(got, whole) {
			t.Fatalf("chunked %q, whole %q", got, whole)
		}
		if !strings.Contains(s, "<stream:stream") || strings.ContainsAny(s, "&]") {
			return
		}
		for _, e := range whole {
			d := xml.NewDecoder(strings.NewReader(e.raw))
			d.Strict = true
			tok, err := d.Token()
			if err != nil {
				continue // the scanner does not validate, only splits
			}
			// Names that are not names (":", "a:") the decoder reads its
			// own way; only real ones are compared.
			if st, ok := tok.(xml.StartElement); ok && e.local != "" && !strings.Contains(st.Name.Local, ":") && st.Name.Local != e.local {
				t.Fatalf("element %q reported as %q", e.raw, e.local)
			}
		}
	})
}

// cutProxy forwards TCP to a server; freeze makes it swallow what passes
// both ways, cut drops every connection as a dead link would.
type cutProxy struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.frozen.Store(false)
}

// TestProsodyResumesAfterCut: the link to the server goes dead while
// messages pass both ways, then drops. The bridge resumes the stream
// (XEP-0198): bob's messages the dead link swallowed arrive, the user's
// message it swallowed reaches bob, each exactly once, and none of it
// came from the archive.
func TestProsodyResumesAfterCut(t *testing.T) {
	old := backoffUnit
	backoffUnit = 50 * time.Millisecond
	t.Cleanup(func() { backoffUnit = old })

	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+p.Domain, "bob@"+p.Domain
	proxy := startCutProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)))
	enabled, resumed := counterValue(t, metricSMEnabled), counterValue(t, metricSMResumed)
	s := newStack(t, core.Settings{keyJID: alice, keyPassword: "pw", keyAddr: proxy.ln.Addr().String(), keyFingerprint: pin(t, p)})
	s.waitState(20*time.Second, core.StateConnected)
	if counterValue(t, metricSMEnabled) != enabled+1 {
		t.Fatal("stream management was not enabled")
	}
	b := dialClient(t, p, "bob", "pw", "laptop")
	b.presence("", "", "") // available, so messages to bob@ reach this client
	b.message(alice, "live-1", "before the cut")
	s.waitMessage(10*time.Second, "the live message", func(m *core.Message) bool { return m.Body == "before the cut" })
	time.Sleep(300 * time.Millisecond) // the first gap fill is long over
	archived := counterValue(t, metricArchived)

	proxy.frozen.Store(true)
	b.message(alice, "lost-1", "swallowed 1")
	b.message(alice, "lost-2", "swallowed 2")
	sent, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer(bob), Kind: core.KindChat, Body: "sent into the void"})
	if err != nil {
		t.Fatal(err)
	}
	// The bridge wrote it (the runner stored the id it got back) before
	// the link drops.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var origin string
		for _, m := range s.stored(bob) {
			if m.ID == sent.ID {
				origin = m.OriginID
			}
		}
		if origin != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bridge never sent the message")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // bob's messages reach the frozen link
	proxy.cut()
	s.waitState(10*time.Second, core.StateDisconnected)
	s.waitState(20*time.Second, core.StateConnected)
	if counterValue(t, metricSMResumed) != resumed+1 {
		t.Fatal("the stream was not resumed")
	}
	s.waitMessage(10*time.Second, "the second swallowed message", func(m *core.Message) bool { return m.Body == "swallowed 2" })
	b.waitBody(10*time.Second, "sent into the void")

	// Markers after everything: what came before them came once.
	b.message(alice, "live-2", "after the cut")
	s.waitMessage(10*time.Second, "the live message after", func(m *core.Message) bool { return m.Body == "after the cut" })
	if _, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer(bob), Kind: core.KindChat, Body: "marker"}); err != nil {
		t.Fatal(err)
	}
	var atBob []string
	for timeout := time.After(10 * time.Second); !slices.Contains(atBob, "marker"); {
		select {
		case m := <-b.msgs:
			atBob = append(atBob, m.body())
		case <-timeout:
			t.Fatalf("bob got %q and no marker", atBob)
		}
	}
	if !slices.Equal(atBob, []string{"marker"}) {
		t.Errorf("bob got again: %q", atBob) // "sent into the void" was taken by waitBody
	}
	var bodies []string
	for _, m := range s.stored(bob) {
		bodies = append(bodies, m.Body)
	}
	want := []string{"before the cut", "sent into the void", "swallowed 1", "swallowed 2", "after the cut", "marker"}
	slices.Sort(bodies)
	slices.Sort(want)
	if !slices.Equal(bodies, want) {
		t.Errorf("stored %q, want each of %q once", bodies, want)
	}
	if got := counterValue(t, metricArchived); got != archived {
		t.Errorf("%v messages came from the archive; the resumed stream should have brought them", got-archived)
	}
}
