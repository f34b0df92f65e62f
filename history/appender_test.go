package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestAppendAssignsIncreasingIDsAndConversations(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	ws := appendAll(t, s, f.msg("#go", "one"), f.msg("#go", "two"), f.msg("#rust", "three"))
	if !(ws[0].Message.ID < ws[1].Message.ID && ws[1].Message.ID < ws[2].Message.ID) {
		t.Fatalf("ids not increasing: %v %v %v", ws[0].Message.ID, ws[1].Message.ID, ws[2].Message.ID)
	}
	if ws[0].Message.Conversation != ws[1].Message.Conversation || ws[0].Message.Conversation == ws[2].Message.Conversation {
		t.Fatalf("conversations: %d %d %d", ws[0].Message.Conversation, ws[1].Message.Conversation, ws[2].Message.Conversation)
	}
	convs, err := s.Conversations(context.Background(), f.user.ID)
	if err != nil || len(convs) != 2 || convs[0].Remote != "#go" || convs[0].Kind != core.Room {
		t.Fatalf("Conversations = %+v, %v", convs, err)
	}
}

func TestAppendRoundTripsEveryField(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	orig := appendAll(t, s, func() *core.Message { m := f.msg("#go", "first"); m.OriginID = "abc"; return m }())[0].Message
	m := f.msg("#go", "hello *world*")
	m.OriginID = "xyz"
	m.Direction = core.Outgoing
	m.Kind = core.KindAction
	m.Spans = []core.Span{{Start: 6, End: 13, Style: core.Bold | core.Italic}}
	m.ReplyTo = core.MessageRef{OriginID: "abc"}
	m.CorrectionOf = core.MessageRef{OriginID: "unknown"}
	m.Attachments = []core.Attachment{{URL: "https://x.example/a.png", Name: "a.png", MediaType: "image/png", Size: 42}}
	appendAll(t, s, m)
	got, err := s.Message(context.Background(), f.user.ID, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *m
	want.ReplyTo.ID = orig.ID
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
	}
}

func TestAppendDeduplicatesOnOriginID(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	a := f.msg("#go", "hi")
	a.OriginID = "msgid-1"
	first := appendAll(t, s, a)
	b := f.msg("#go", "hi again, replayed")
	b.OriginID = "msgid-1"
	c := f.msg("#rust", "same id, other conversation")
	c.OriginID = "msgid-1"
	// A duplicate within one batch is caught as well.
	d := f.msg("#go", "dup in batch")
	d.OriginID = "msgid-2"
	e := f.msg("#go", "dup in batch")
	e.OriginID = "msgid-2"
	ws := appendAll(t, s, b, c, d, e)
	if !ws[0].Duplicate || ws[0].Message.ID != first[0].Message.ID {
		t.Fatalf("replay not recognised: %+v", ws[0])
	}
	if ws[1].Duplicate || ws[2].Duplicate || !ws[3].Duplicate || ws[3].Message.ID != ws[2].Message.ID {
		t.Fatalf("dedup flags wrong: %v %v %v", ws[1].Duplicate, ws[2].Duplicate, ws[3].Duplicate)
	}
	n, _ := s.CountMessages(context.Background(), f.user.ID)
	if n != 3 {
		t.Fatalf("stored %d messages, want 3", n)
	}
}

func TestAppendRefusesAnotherUsersNetworkAndConversation(t *testing.T) {
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	ws := appendAll(t, s, bob.msg("#secret", "bob's"))

	m := alice.msg("#go", "into bob's network")
	m.Network = bob.net.ID
	if err := s.Append(context.Background(), []core.Write{{Message: m}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("append through another user's network: %v", err)
	}
	m = alice.msg("", "into bob's conversation")
	m.Conversation = ws[0].Message.Conversation
	if err := s.Append(context.Background(), []core.Write{{Message: m}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("append into another user's conversation: %v", err)
	}
	// A bad request in a group commit does not fail the others.
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := alice.msg("#go", fmt.Sprint("concurrent ", i))
			if i == 7 {
				m.Network = bob.net.ID
			}
			errs[i] = s.Append(context.Background(), []core.Write{{Message: m}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != (err != nil) {
			t.Fatalf("request %d: err = %v", i, err)
		}
	}
}

func TestAppendConcurrentCallersAllDurable(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	const writers, each = 16, 50
	var wg sync.WaitGroup
	ids := make(chan core.MessageID, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ws := []core.Write{{Message: f.msg(fmt.Sprint("#c", w), fmt.Sprint(w, " ", i))}}
				if err := s.Append(context.Background(), ws); err != nil {
					t.Error(err)
					return
				}
				ids <- ws[0].Message.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[core.MessageID]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %v assigned twice", id)
		}
		seen[id] = true
	}
	n, _ := s.CountMessages(context.Background(), f.user.ID)
	if n != writers*each || len(seen) != writers*each {
		t.Fatalf("stored %d, acknowledged %d, want %d", n, len(seen), writers*each)
	}
}

func TestAppendQueuesOutbound(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	ctx := context.Background()
	m1, m2 := f.msg("#go", "first out"), f.msg("#go", "second out")
	if err := s.Append(ctx, []core.Write{{Message: m1, Outbound: true}, {Message: m2, Outbound: true}}); err != nil {
		t.Fatal(err)
	}
	items, err := s.PendingOutbound(ctx, f.net.ID, 10)
	if err != nil || len(items) != 2 || items[0].Message.Body != "first out" {
		t.Fatalf("PendingOutbound = %+v, %v", items, err)
	}
	next := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.RetryOutbound(ctx, items[0].ID, next, "down"); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteOutbound(ctx, items[1].ID, "net-id-2"); err != nil {
		t.Fatal(err)
	}
	items, _ = s.PendingOutbound(ctx, f.net.ID, 10)
	if len(items) != 1 || items[0].Attempts != 1 || !items[0].NextAttempt.Equal(next) || items[0].LastError != "down" {
		t.Fatalf("after retry: %+v", items)
	}
	// The network's echo of the completed message is now a duplicate.
	echo := f.msg("#go", "second out")
	echo.OriginID = "net-id-2"
	if ws := appendAll(t, s, echo); !ws[0].Duplicate || ws[0].Message.ID != m2.ID {
		t.Fatalf("echo not matched to the sent message: %+v", ws[0])
	}
	if err := s.FailOutbound(ctx, items[0].ID, "refused"); err != nil {
		t.Fatal(err)
	}
	if items, _ = s.PendingOutbound(ctx, f.net.ID, 10); len(items) != 0 {
		t.Fatalf("failed item still pending: %+v", items)
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	s.Close()
	if err := s.Append(context.Background(), []core.Write{{Message: f.msg("#go", "late")}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
}

func TestImportBackdatesIDs(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	live := appendAll(t, s, f.msg("#go", "live"))[0].Message
	old := f.msg("#go", "from 2020")
	old.Time = time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC)
	old2 := f.msg("#go", "same ms")
	old2.Time = old.Time
	if err := s.Import(context.Background(), []core.Write{{Message: old}, {Message: old2}}); err != nil {
		t.Fatal(err)
	}
	if old.ID >= live.ID || !old.ID.Time().Equal(old.Time) || old2.ID != old.ID+1 {
		t.Fatalf("imported ids %v %v, live %v", old.ID, old2.ID, live.ID)
	}
	page, _ := s.Messages(context.Background(), core.PageQuery{User: f.user.ID, Conversation: live.Conversation, Order: core.OldestFirst})
	if !equal(bodies(page), []string{"from 2020", "same ms", "live"}) {
		t.Fatalf("page = %v", bodies(page))
	}
}

func TestFailedBatchLeavesWritesRetryable(t *testing.T) {
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	good := alice.msg("#new-room", "created in a batch that fails")
	bad := alice.msg("#go", "through bob's network")
	bad.Network = bob.net.ID
	if err := s.Append(context.Background(), []core.Write{{Message: good}, {Message: bad}}); err == nil {
		t.Fatal("batch with a bad write succeeded")
	}
	if good.ID != 0 || good.Conversation != 0 {
		t.Fatalf("failed write kept id %v conversation %d", good.ID, good.Conversation)
	}
	appendAll(t, s, good)
	if c, err := s.Conversation(context.Background(), alice.user.ID, good.Conversation); err != nil || c.Remote != "#new-room" {
		t.Fatalf("retried write: %+v %v", c, err)
	}
}
