package history

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// The crash test runs the appender in a child process (this test binary,
// running only TestCrashChild), kills it with SIGKILL at a random moment and
// checks that every message the child saw acknowledged is in the database.
//
// The child prints one line per message only after Append returned nil for
// it, so the parent can only learn of acknowledged messages:
//
//	ack <id> <remote> <flags> <body>\n
//
// flags holds 'o' when the message carried an origin id and 'q' when it was
// queued outbound, or is "-". The body's second word is a token unique in
// the whole database, r<round>g<goroutine>s<seq>; the origin id is "o-"
// and the token. A kill may cut the last line short: only lines ending in
// '\n' count.
const (
	crashEnvDB    = "SWITCHBOARD_CRASH_CHILD_DB"
	crashEnvRound = "SWITCHBOARD_CRASH_CHILD_ROUND"
	crashEnvSeed  = "SWITCHBOARD_CRASH_SEED" // to replay the parent's kill times
)

const (
	crashUser    = "crash"
	crashNetwork = "libera"
	crashWriters = 8
	crashRounds  = 8
)

var crashRemotes = []string{"#c0", "#c1", "#c2", "#c3", "dave"}

// TestCrashChild is the child's side; it does nothing unless the parent
// set crashEnvDB. It appends until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvDB)
	if path == "" {
		t.Skip("only run as the child of TestCrashLosesNothingAcknowledged")
	}
	round, err := strconv.Atoi(os.Getenv(crashEnvRound))
	if err != nil {
		crashChildFail("round: %v", err)
	}
	// The parent holds our stdin open; if it dies, stop instead of writing
	// forever into a database nobody checks.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		crashChildFail("parent went away")
	}()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Log: quietLog})
	if err != nil {
		crashChildFail("open: %v", err)
	}
	u, err := s.UserByName(ctx, crashUser)
	if errors.Is(err, ErrNotFound) {
		u, err = s.CreateUser(ctx, crashUser, "secret", false)
	}
	if err != nil {
		crashChildFail("user: %v", err)
	}
	n, err := s.NetworkByName(ctx, u.ID, crashNetwork)
	if errors.Is(err, ErrNotFound) {
		n, err = s.CreateNetwork(ctx, core.Network{User: u.ID, Name: crashNetwork, Kind: core.KindIRC, Enabled: true,
			Settings: core.Settings{"addr": "ircs://irc.example:6697"}})
	}
	if err != nil {
		crashChildFail("network: %v", err)
	}

	var outMu sync.Mutex
	for g := range crashWriters {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
			var line bytes.Buffer
			for seq := 0; ; {
				ws := make([]core.Write, 1+rng.IntN(5))
				for i := range ws {
					token := fmt.Sprintf("r%dg%ds%d", round, g, seq)
					m := &core.Message{
						User: u.ID, Network: n.ID,
						Peer:   core.Peer{Kind: core.Room, Remote: crashRemotes[rng.IntN(len(crashRemotes))]},
						Sender: core.Address{Addr: "bob", Name: "Bob"},
						Time:   time.Now(),
						Kind:   core.KindChat,
						Body:   fmt.Sprintf("m%d-%d %s survives the crash", g, seq, token),
					}
					seq++
					if m.Peer.Remote == "dave" {
						m.Peer.Kind = core.Direct
					}
					if rng.IntN(2) == 0 {
						m.OriginID = "o-" + token
					}
					ws[i] = core.Write{Message: m, Outbound: rng.IntN(4) == 0}
					if ws[i].Outbound {
						m.Direction = core.Outgoing
					}
				}
				if err := s.Append(ctx, ws); err != nil {
					crashChildFail("writer %d: append: %v", g, err)
				}
				line.Reset()
				for _, w := range ws {
					if w.Duplicate {
						crashChildFail("writer %d: %s taken for a duplicate of %s", g, w.Message.OriginID, w.Message.ID)
					}
					flags := ""
					if w.Message.OriginID != "" {
						flags += "o"
					}
					if w.Outbound {
						flags += "q"
					}
					if flags == "" {
						flags = "-"
					}
					fmt.Fprintf(&line, "ack %s %s %s %s\n", w.Message.ID, w.Message.Peer.Remote, flags, w.Message.Body)
				}
				// One write per batch, under the lock: the lines of
				// acknowledged messages reach the pipe whole and in one
				// piece, and only after Append returned.
				outMu.Lock()
				_, err := os.Stdout.Write(line.Bytes())
				outMu.Unlock()
				if err != nil {
					crashChildFail("writer %d: stdout: %v", g, err)
				}
			}
		}()
	}
	select {} // until SIGKILL
}

// crashChildFail ends the child with a message for the parent, which
// reports the child's stderr when it exits before being killed.
func crashChildFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
	os.Exit(3)
}

// crashAck is one acknowledged message as the child reported it.
type crashAck struct {
	id       core.MessageID
	remote   string
	origin   bool
	outbound bool
	body     string
	token    string
}

func parseCrashAck(line string) (crashAck, error) {
	f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 5)
	if len(f) != 5 || f[0] != "ack" {
		return crashAck{}, fmt.Errorf("malformed line %q", line)
	}
	id, err := core.ParseMessageID(f[1])
	if err != nil {
		return crashAck{}, fmt.Errorf("line %q: %v", line, err)
	}
	words := strings.Fields(f[4])
	if len(words) < 2 || !strings.HasPrefix(words[1], "r") {
		return crashAck{}, fmt.Errorf("line %q: no token in body", line)
	}
	return crashAck{
		id: id, remote: f[2],
		origin: strings.Contains(f[3], "o"), outbound: strings.Contains(f[3], "q"),
		body: f[4], token: words[1],
	}, nil
}

// crashRun is one started child.
type crashRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer

	mu     sync.Mutex
	acks   []crashAck
	bad    []error       // complete lines that did not parse
	first  chan struct{} // closed at the first acknowledgement
	eof    chan struct{} // closed when stdout is drained
	readEr error
}

func startCrashChild(t *testing.T, path string, round int) *crashRun {
	t.Helper()
	r := &crashRun{first: make(chan struct{}), eof: make(chan struct{})}
	r.cmd = exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	r.cmd.Env = append(os.Environ(), crashEnvDB+"="+path, crashEnvRound+"="+strconv.Itoa(round))
	r.cmd.Stderr = &r.stderr
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go r.read(stdout)
	return r
}

func (r *crashRun) read(stdout io.Reader) {
	defer close(r.eof)
	br := bufio.NewReader(stdout)
	gotFirst := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			// Whatever precedes EOF without a '\n' is a line the kill
			// cut short: it is not an acknowledgement.
			if err != io.EOF {
				r.mu.Lock()
				r.readEr = err
				r.mu.Unlock()
			}
			return
		}
		if !strings.HasPrefix(line, "ack ") {
			continue // the testing package's own output, if any
		}
		a, perr := parseCrashAck(line)
		r.mu.Lock()
		if perr != nil {
			r.bad = append(r.bad, perr)
		} else {
			r.acks = append(r.acks, a)
		}
		r.mu.Unlock()
		if perr == nil && !gotFirst {
			gotFirst = true
			close(r.first)
		}
	}
}

// kill sends SIGKILL after delay (counted from the first acknowledgement)
// and returns what the child acknowledged.
func (r *crashRun) kill(t *testing.T, round int, delay time.Duration) []crashAck {
	t.Helper()
	defer r.stdin.Close()
	fail := func(format string, args ...any) {
		r.cmd.Process.Kill()
		<-r.eof
		r.cmd.Wait()
		t.Fatalf("round %d: "+format+"; child stderr:\n%s", append([]any{round}, append(args, r.stderr.String())...)...)
	}
	select {
	case <-r.first:
	case <-r.eof:
		fail("child exited before acknowledging anything")
	case <-time.After(15 * time.Second):
		fail("no acknowledgement within 15s")
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.eof:
			fail("child exited before it was killed")
		}
	}
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatalf("round %d: kill: %v", round, err)
	}
	select {
	case <-r.eof:
	case <-time.After(10 * time.Second):
		t.Fatalf("round %d: child's stdout still open 10s after SIGKILL", round)
	}
	if err := r.cmd.Wait(); err == nil {
		t.Fatalf("round %d: child exited cleanly instead of being killed; stderr:\n%s", round, r.stderr.String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readEr != nil {
		t.Fatalf("round %d: reading child's stdout: %v", round, r.readEr)
	}
	if len(r.bad) > 0 {
		t.Fatalf("round %d: %d complete lines did not parse, first: %v", round, len(r.bad), r.bad[0])
	}
	return r.acks
}

func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if os.Getenv(crashEnvDB) != "" {
		t.Skip("in the crash child")
	}
	if testing.Short() {
		t.Skipf("starts and kills a process %d times", crashRounds)
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(crashEnvSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s: %v", crashEnvSeed, err)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d (set %s to replay the kill times)", seed, crashEnvSeed)

	path := filepath.Join(t.TempDir(), "crash.db")
	start := time.Now()
	var all []crashAck
	for round := range crashRounds {
		// Every fourth round, from the second, dies right after its first
		// acknowledgement, possibly in the middle of the next commit.
		var delay time.Duration
		if round%4 != 1 {
			delay = time.Duration(100+rng.IntN(600)) * time.Millisecond
		}
		roundStart := time.Now()
		acks := startCrashChild(t, path, round).kill(t, round, delay)
		if len(acks) == 0 {
			t.Fatalf("round %d: no acknowledged message was read; the round proves nothing", round)
		}
		all = append(all, acks...)
		stored := checkCrashRound(t, path, round, acks, all, rng, round == crashRounds-1)
		t.Logf("round %d: killed %v after the first ack, %d acknowledged, %d messages stored in all, %v",
			round, delay, len(acks), stored, time.Since(roundStart).Round(time.Millisecond))
	}
	t.Logf("%d rounds, %d acknowledged messages, all present, in %v",
		crashRounds, len(all), time.Since(start).Round(time.Millisecond))
}

// checkCrashRound opens the store the child left behind and checks this
// round's acknowledgements (and, if everything, those of every round so
// far), the integrity of the database and its full-text index. It returns
// how many messages the store holds.
func checkCrashRound(t *testing.T, path string, round int, acks, all []crashAck, rng *rand.Rand, everything bool) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, path, Options{Log: quietLog})
	if err != nil {
		t.Fatalf("round %d: reopening after the crash: %v", round, err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("round %d: after the crash: %v", round, err)
	}
	u, err := s.UserByName(ctx, crashUser)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	queued := map[core.MessageID]bool{}
	rows, err := s.rdb.QueryContext(ctx, "SELECT message_id FROM outbound")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id core.MessageID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		queued[id] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}

	var problems []string
	seen := map[core.MessageID]string{}
	check := func(a crashAck, m *core.Message) {
		if other, dup := seen[a.id]; dup {
			problems = append(problems, fmt.Sprintf("id %s acknowledged for both %q and %q", a.id, other, a.body))
		}
		seen[a.id] = a.body
		var want []string
		if m.Body != a.body {
			want = append(want, fmt.Sprintf("body %q", m.Body))
		}
		if m.Peer.Remote != a.remote {
			want = append(want, fmt.Sprintf("conversation %q, not %q", m.Peer.Remote, a.remote))
		}
		wantOrigin := ""
		if a.origin {
			wantOrigin = "o-" + a.token
		}
		if m.OriginID != wantOrigin {
			want = append(want, fmt.Sprintf("origin id %q, not %q", m.OriginID, wantOrigin))
		}
		wantDir := core.Incoming
		if a.outbound {
			wantDir = core.Outgoing
		}
		if queued[a.id] != a.outbound || m.Direction != wantDir {
			want = append(want, fmt.Sprintf("queued outbound %v, direction %v", queued[a.id], m.Direction))
		}
		if len(want) > 0 {
			problems = append(problems, fmt.Sprintf("id %s (%q) stored with %s", a.id, a.body, strings.Join(want, ", ")))
		}
	}
	var missing []string
	for _, a := range acks {
		m, err := s.Message(ctx, u.ID, a.id)
		if errors.Is(err, ErrNotFound) {
			missing = append(missing, fmt.Sprintf("%s (%q)", a.id, a.body))
			continue
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		check(a, m)
	}
	if everything {
		// Messages of earlier rounds must have survived the later crashes
		// and recoveries too; one pass over the table checks them all.
		stored := map[core.MessageID]*core.Message{}
		err := s.EachMessage(ctx, u.ID, func(m *core.Message) error {
			stored[m.ID] = m
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		clear(seen)
		for _, a := range all {
			if m, ok := stored[a.id]; !ok {
				missing = append(missing, fmt.Sprintf("%s (%q, earlier round)", a.id, a.body))
			} else {
				check(a, m)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("round %d: %d acknowledged messages missing after SIGKILL (%d acknowledged this round, %d in all): %s",
			round, len(missing), len(acks), len(all), strings.Join(firstN(missing, 20), ", "))
	}
	if len(problems) > 0 {
		t.Errorf("round %d: %d acknowledged messages stored wrongly: %s",
			round, len(problems), strings.Join(firstN(problems, 20), "; "))
	}

	// The full-text index was written in the same transactions: a sample
	// of this round's tokens must each find exactly their message.
	for range min(25, len(acks)) {
		a := acks[rng.IntN(len(acks))]
		rs, err := s.Search(ctx, core.SearchQuery{User: u.ID, Text: a.token})
		if err != nil {
			t.Fatalf("round %d: searching %q: %v", round, a.token, err)
		}
		if len(rs) != 1 || rs[0].Message.ID != a.id {
			ids := make([]string, len(rs))
			for i, r := range rs {
				ids[i] = r.Message.ID.String()
			}
			t.Errorf("round %d: search for %q found [%s], want %s", round, a.token, strings.Join(ids, " "), a.id)
		}
	}
	n, err := s.CountMessages(ctx, u.ID)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("round %d: closing: %v", round, err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return n
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
