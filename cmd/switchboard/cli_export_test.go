package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// exportFixture gives alice the networks libera and oftc and a history
// that uses every field of the export format. It returns her messages.
func exportFixture(t testing.TB) []*core.Message {
	t.Helper()
	mustRun(t, "", "user", "add", "alice")
	addIRC(t, "alice", "libera")
	addIRC(t, "alice", "oftc")
	at := func(day int) time.Time { return time.Date(2026, 3, day, 10, 11, 12, 345_000_000, time.UTC) }
	hello := &core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, OriginID: "msgid-1",
		Sender: core.Address{Addr: "bob", Name: "Bob B."}, Time: at(1), Body: "hello styled world",
		Spans: []core.Span{{Start: 6, End: 12, Style: core.Bold | core.Italic}, {Start: 13, End: 18, Style: core.Monospace}}}
	msgs := appendMessages(t, "alice", "libera", hello)
	logMsg := &core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, Direction: core.Outgoing,
		Sender: core.Address{Addr: "alice"}, Time: at(2), Body: "see the log",
		ReplyTo: core.MessageRef{OriginID: "msgid-1"},
		Attachments: []core.Attachment{
			{URL: "https://files.example/log.txt", Name: "log.txt", MediaType: "text/plain", Size: 1234},
			{URL: "https://files.example/x"},
		}}
	msgs = append(msgs, appendMessages(t, "alice", "libera", logMsg)...)
	msgs = append(msgs, appendMessages(t, "alice", "libera",
		&core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, Direction: core.Outgoing,
			Sender: core.Address{Addr: "alice"}, Time: at(3), Body: "see the logs",
			CorrectionOf: core.MessageRef{ID: logMsg.ID}},
		&core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, Sender: core.Address{Addr: "dave"},
			Time: at(4), Kind: core.KindJoin},
		&core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, Sender: core.Address{Addr: "dave"},
			Time: at(4).Add(time.Millisecond), Kind: core.KindAction, Body: "waves"},
	)...)
	msgs = append(msgs, appendMessages(t, "alice", "oftc",
		&core.Message{Peer: core.Peer{Kind: core.Direct, Remote: "carol"}, Sender: core.Address{Addr: "carol"},
			Time: at(5), Kind: core.KindNotice, Body: "ping ☎ ünïcode"},
	)...)
	return msgs
}

// historyOf returns user's messages keyed by time, and the names of the
// user's networks.
func historyOf(t testing.TB, user string) (map[int64]*core.Message, map[core.NetworkID]string) {
	t.Helper()
	byTime := map[int64]*core.Message{}
	names := map[core.NetworkID]string{}
	withStore(t, func(ctx context.Context, st *history.Store) {
		u, err := st.UserByName(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		nets, err := st.Networks(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nets {
			names[n.ID] = n.Name
		}
		err = st.EachMessage(ctx, u.ID, func(m *core.Message) error {
			byTime[m.Time.UnixMilli()] = m
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	return byTime, names
}

func countMessages(t testing.TB, user string) int64 {
	t.Helper()
	var n int64
	withStore(t, func(ctx context.Context, st *history.Store) {
		u, err := st.UserByName(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if n, err = st.CountMessages(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	})
	return n
}

// importUser adds user with the networks libera and oftc.
func importUser(t testing.TB, user string) {
	t.Helper()
	mustRun(t, "pw\n", "user", "add", user, "--password-stdin")
	addIRC(t, user, "libera")
	addIRC(t, user, "oftc")
}

func TestExportImportRoundTrip(t *testing.T) {
	msgs := exportFixture(t)
	file := filepath.Join(t.TempDir(), "alice.jsonl")
	out, errOut, err := run(t, "", "export", "alice", "-o", file)
	if err != nil || out != "" || errOut != fmt.Sprintf("exported %d messages of alice\n", len(msgs)) {
		t.Fatalf("export -o: stdout %q, stderr %q, err %v", out, errOut, err)
	}
	checkMode(t, file, 0o600) // history is private
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Standard output gets the same lines.
	if out, _, err := run(t, "", "export", "alice"); err != nil || out != string(data) {
		t.Fatalf("export to standard output differs from -o (%v):\n%s\n%s", err, out, data)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("export wrote %d lines for %d messages", len(lines), len(msgs))
	}
	for i, l := range lines {
		var rec history.Record
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		if rec.ID != msgs[i].ID.String() || !rec.Time.Equal(msgs[i].Time) {
			t.Fatalf("line %d is %+v, want message %s at %v", i+1, rec, msgs[i].ID, msgs[i].Time)
		}
	}

	importUser(t, "bob")
	out, errOut, err = run(t, "", "import", "bob", file)
	want := fmt.Sprintf("imported %d of %d messages into bob's history (0 already there)\n", len(msgs), len(msgs))
	if err != nil || out != "" || errOut != want {
		t.Fatalf("import: stdout %q, stderr %q, err %v; want stderr %q", out, errOut, err, want)
	}

	got, names := historyOf(t, "bob")
	if len(got) != len(msgs) {
		t.Fatalf("bob has %d messages, want %d", len(got), len(msgs))
	}
	_, aliceNames := historyOf(t, "alice")
	for _, a := range msgs {
		b := got[a.Time.UnixMilli()]
		if b == nil {
			t.Errorf("message %q at %v was not imported", a.Body, a.Time)
			continue
		}
		if names[b.Network] != aliceNames[a.Network] || b.Peer != a.Peer || b.Direction != a.Direction ||
			b.Sender != a.Sender || !b.Time.Equal(a.Time) || b.Kind != a.Kind || b.Body != a.Body ||
			!reflect.DeepEqual(b.Spans, a.Spans) || !reflect.DeepEqual(b.Attachments, a.Attachments) {
			t.Errorf("imported\n%+v\nwant\n%+v", b, a)
		}
		// A message without an origin id gets one from its exported id,
		// which is what makes a second import a no-op.
		wantOrigin := a.OriginID
		if wantOrigin == "" {
			wantOrigin = "switchboard-export:" + a.ID.String()
		}
		if b.OriginID != wantOrigin {
			t.Errorf("message %q: origin id %q, want %q", a.Body, b.OriginID, wantOrigin)
		}
		// Imported ids sort by the message's time.
		if !b.ID.Time().Equal(a.Time) {
			t.Errorf("message %q: imported id %s is of %v, want %v", a.Body, b.ID, b.ID.Time(), a.Time)
		}
	}
	// References point at the imported messages, by network id and by the
	// id made up for a message that had none.
	hello, logMsg, fix := got[msgs[0].Time.UnixMilli()], got[msgs[1].Time.UnixMilli()], got[msgs[2].Time.UnixMilli()]
	if logMsg.ReplyTo.ID != hello.ID {
		t.Errorf("the reply points at %+v, want %s", logMsg.ReplyTo, hello.ID)
	}
	if fix.CorrectionOf.ID != logMsg.ID {
		t.Errorf("the correction points at %+v, want %s", fix.CorrectionOf, logMsg.ID)
	}

	// Again: nothing new.
	out, errOut, err = run(t, "", "import", "bob", file)
	want = fmt.Sprintf("imported 0 of %d messages into bob's history (%d already there)\n", len(msgs), len(msgs))
	if err != nil || out != "" || errOut != want {
		t.Fatalf("second import: stdout %q, stderr %q, err %v; want stderr %q", out, errOut, err, want)
	}
	if n := countMessages(t, "bob"); n != int64(len(msgs)) {
		t.Fatalf("bob has %d messages after the second import, want %d", n, len(msgs))
	}

	// Bob's export is alice's, but for the ids.
	bobFile := filepath.Join(t.TempDir(), "bob.jsonl")
	mustRun(t, "", "export", "bob", "--output", bobFile)
	if a, b := exportedRecords(t, file), exportedRecords(t, bobFile); !reflect.DeepEqual(a, b) {
		t.Errorf("bob's export differs from alice's:\n%+v\n%+v", b, a)
	}
}

// exportedRecords reads an export sorted by time, without the server ids
// and with the origin ids made up on import filled in alike.
func exportedRecords(t testing.TB, file string) map[time.Time]history.Record {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[time.Time]history.Record{}
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r history.Record
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.OriginID == "" {
			r.OriginID = "switchboard-export:" + r.ID
		}
		r.ID = ""
		out[r.Time] = r
	}
	return out
}

func TestImportRefusesBadFiles(t *testing.T) {
	exportFixture(t)
	good := mustRun(t, "", "export", "alice")
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	importUser(t, "carol")
	dir := t.TempDir()

	// edit returns the export with line n (from 1) passed through fn.
	edit := func(n int, fn func(map[string]any)) string {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[n-1]), &rec); err != nil {
			t.Fatal(err)
		}
		fn(rec)
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		out := append([]string{}, lines...)
		out[n-1] = string(b)
		return strings.Join(out, "\n") + "\n"
	}
	replace := func(n int, line string) string {
		out := append([]string{}, lines...)
		out[n-1] = line
		return strings.Join(out, "\n") + "\n"
	}
	for i, c := range []struct {
		content string
		want    string // after "FILE:"
	}{
		{edit(3, func(r map[string]any) { r["direction"] = "sideways" }), `3: direction: "sideways" is not "in" or "out"`},
		{edit(2, func(r map[string]any) { r["colour"] = "red" }), `2: json: unknown field "colour"`},
		{edit(4, func(r map[string]any) { r["network"] = "efnet" }),
			`4: network: user carol has no network "efnet"; add it first with "switchboard network add"`},
		{edit(len(lines), func(r map[string]any) { r["kind"] = "shout" }),
			fmt.Sprintf(`%d: kind: unknown kind "shout"`, len(lines))},
		{edit(1, func(r map[string]any) { r["conversation_kind"] = "group" }),
			`1: conversation_kind: "group" is not "direct" or "room"`},
		{edit(1, func(r map[string]any) { delete(r, "time") }), `1: time: missing`},
		{edit(1, func(r map[string]any) { r["conversation"] = "" }), `1: conversation: missing`},
		{edit(1, func(r map[string]any) { r["spans"].([]any)[0].(map[string]any)["style"] = []string{"blink"} }),
			`1: spans[0].style: unknown style "blink"`},
		{edit(1, func(r map[string]any) { r["spans"].([]any)[1].(map[string]any)["end"] = 99 }),
			`1: message: span 1 [13,99) outside body of 18 bytes`},
		{edit(2, func(r map[string]any) { r["attachments"].([]any)[1].(map[string]any)["url"] = "nowhere" }),
			`2: attachments[1].url: "nowhere" is not a URL`},
		{edit(2, func(r map[string]any) { r["direction"] = 5 }),
			`2: json: cannot unmarshal number into Go struct field Record.direction of type string`},
		{replace(5, `{"network": "libera",`), `5: unexpected EOF`},
	} {
		file := filepath.Join(dir, fmt.Sprintf("bad%d.jsonl", i))
		if err := os.WriteFile(file, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := run(t, "", "import", "carol", file)
		if want := file + ":" + c.want; err == nil || err.Error() != want {
			t.Errorf("import of a file with a bad line:\n got error %v\nwant error %q", err, want)
		}
		if out != "" || errOut != "" {
			t.Errorf("a refused import printed %q, %q", out, errOut)
		}
		if n := countMessages(t, "carol"); n != 0 {
			t.Fatalf("a refused import stored %d messages", n)
		}
	}

	// A bad time is refused by its line; encoding/json does not name the
	// field of a time that does not parse.
	file := filepath.Join(dir, "badtime.jsonl")
	if err := os.WriteFile(file, []byte(edit(2, func(r map[string]any) { r["time"] = "yesterday" })), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "", "import", "carol", file); err == nil ||
		!strings.HasPrefix(err.Error(), file+":2: ") || !strings.Contains(err.Error(), `"yesterday"`) {
		t.Errorf("import of a bad time: got error %v", err)
	}
	if n := countMessages(t, "carol"); n != 0 {
		t.Fatalf("a refused import stored %d messages", n)
	}

	// Blank lines are allowed.
	file = filepath.Join(dir, "blank.jsonl")
	if err := os.WriteFile(file, []byte("\n"+strings.Join(lines, "\n\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// (TestImportCountsAndBadTime checks the total it prints.)
	if _, errOut, err := run(t, "", "import", "carol", file); err != nil ||
		!strings.HasPrefix(errOut, "imported 6 of ") || !strings.HasSuffix(errOut, " messages into carol's history (0 already there)\n") {
		t.Fatalf("import with blank lines: %q, %v", errOut, err)
	}
	if n := countMessages(t, "carol"); n != int64(len(lines)) {
		t.Fatalf("carol has %d messages, want %d", n, len(lines))
	}

	missing := filepath.Join(dir, "missing.jsonl")
	wantErr(t, "", "FILE: open "+missing+": no such file or directory", "import", "carol", missing)
	wantErr(t, "", `USER: no user "zed" (see "switchboard user list")`, "import", "zed", file)
	wantErr(t, "", `USER: no user "zed" (see "switchboard user list")`, "export", "zed")
	wantErr(t, "", `--format "csv": the only format is jsonl`, "export", "alice", "--format", "csv")
}

// A reply or correction kept by server id only points, in the export, at
// its target's network id, which is the id the target keeps on import.
func TestExportRefByServerID(t *testing.T) {
	mustRun(t, "", "user", "add", "alice")
	addIRC(t, "alice", "libera")
	at := func(min int) time.Time { return time.Date(2026, 3, 1, 10, min, 0, 0, time.UTC) }
	hello := &core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, OriginID: "msgid-1",
		Sender: core.Address{Addr: "bob"}, Time: at(1), Body: "hello"}
	typo := &core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, OriginID: "msgid-2", Direction: core.Outgoing,
		Sender: core.Address{Addr: "alice"}, Time: at(2), Body: "hi bbo"}
	appendMessages(t, "alice", "libera", hello, typo)
	appendMessages(t, "alice", "libera",
		&core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, Direction: core.Outgoing,
			Sender: core.Address{Addr: "alice"}, Time: at(3), Body: "hi bob", CorrectionOf: core.MessageRef{ID: typo.ID}},
		&core.Message{Peer: core.Peer{Kind: core.Room, Remote: "#go"}, Sender: core.Address{Addr: "bob"},
			Time: at(4), Body: "hello again", ReplyTo: core.MessageRef{ID: hello.ID}},
	)
	file := filepath.Join(t.TempDir(), "alice.jsonl")
	mustRun(t, "", "export", "alice", "-o", file)
	recs := exportedRecords(t, file)
	if r := recs[at(3)]; r.CorrectionOf != "msgid-2" {
		t.Errorf("the correction is exported with correction_of %q, want %q", r.CorrectionOf, "msgid-2")
	}
	if r := recs[at(4)]; r.ReplyTo != "msgid-1" {
		t.Errorf("the reply is exported with reply_to %q, want %q", r.ReplyTo, "msgid-1")
	}

	importUser(t, "bob")
	mustRun(t, "", "import", "bob", file)
	got, _ := historyOf(t, "bob")
	if len(got) != 4 {
		t.Fatalf("bob has %d messages, want 4", len(got))
	}
	key := func(m time.Time) int64 { return m.UnixMilli() }
	if fix, target := got[key(at(3))], got[key(at(2))]; fix.CorrectionOf.ID != target.ID {
		t.Errorf("the imported correction points at %+v, want %s", fix.CorrectionOf, target.ID)
	}
	if reply, target := got[key(at(4))], got[key(at(1))]; reply.ReplyTo.ID != target.ID {
		t.Errorf("the imported reply points at %+v, want %s", reply.ReplyTo, target.ID)
	}
}

// A user's own export imported back adds nothing, messages without a
// network id included.
func TestImportOwnExport(t *testing.T) {
	msgs := exportFixture(t)
	file := filepath.Join(t.TempDir(), "alice.jsonl")
	mustRun(t, "", "export", "alice", "-o", file)
	out, errOut, err := run(t, "", "import", "alice", file)
	want := fmt.Sprintf("imported 0 of %d messages into alice's history (%d already there)\n", len(msgs), len(msgs))
	if err != nil || out != "" || errOut != want {
		t.Fatalf("import of alice's own export: stdout %q, stderr %q, err %v; want stderr %q", out, errOut, err, want)
	}
	if n := countMessages(t, "alice"); n != int64(len(msgs)) {
		t.Fatalf("alice has %d messages after importing her own export, want %d", n, len(msgs))
	}
	again := filepath.Join(t.TempDir(), "again.jsonl")
	mustRun(t, "", "export", "alice", "-o", again)
	if a, b := mustReadFile(t, file), mustReadFile(t, again); a != b {
		t.Errorf("alice's export changed with the import:\n%s\nwant\n%s", b, a)
	}
}

func mustReadFile(t testing.TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The total import prints counts records, not lines; a bad time is
// reported by its field.
func TestImportCountsAndBadTime(t *testing.T) {
	msgs := exportFixture(t)
	lines := strings.Split(strings.TrimSuffix(mustRun(t, "", "export", "alice"), "\n"), "\n")
	importUser(t, "carol")
	dir := t.TempDir()

	file := filepath.Join(dir, "blank.jsonl")
	if err := os.WriteFile(file, []byte("\n\n"+strings.Join(lines, "\n\n")+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("imported %d of %d messages into carol's history (0 already there)\n", len(msgs), len(msgs))
	if _, errOut, err := run(t, "", "import", "carol", file); err != nil || errOut != want {
		t.Fatalf("import with blank lines: stderr %q, err %v; want stderr %q", errOut, err, want)
	}

	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	rec["time"] = "yesterday"
	bad, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "badtime.jsonl")
	if err := os.WriteFile(file, []byte(lines[0]+"\n\n"+string(bad)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "", "import", "carol", file)
	if err == nil || !strings.HasPrefix(err.Error(), file+":3: time: ") || !strings.Contains(err.Error(), `"yesterday"`) {
		t.Errorf("import of a bad time: got error %v, want %q and the parse error", err, file+":3: time: ")
	}
	if out != "" || errOut != "" {
		t.Errorf("a refused import printed %q, %q", out, errOut)
	}
	if n := countMessages(t, "carol"); n != int64(len(msgs)) {
		t.Fatalf("a refused import changed carol's history to %d messages", n)
	}
}
