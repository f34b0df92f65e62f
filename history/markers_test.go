package history

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard/switchboard/core"
)

func TestReadMarkersOnlyMoveForward(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	f := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	ws := appendAll(t, s, f.msg("#go", "a"), f.msg("#go", "b"))
	conv := ws[0].Message.Conversation
	mark := func(device string, upto core.MessageID) (bool, error) {
		return s.SetReadMarker(ctx, core.ReadMarker{User: f.user.ID, Conversation: conv, Device: device, Upto: upto})
	}
	if ok, err := mark("", ws[1].Message.ID); !ok || err != nil {
		t.Fatalf("first marker: %v %v", ok, err)
	}
	if ok, err := mark("", ws[0].Message.ID); ok || err != nil {
		t.Fatalf("backwards marker: %v %v", ok, err)
	}
	if ok, err := mark("phone", ws[0].Message.ID); !ok || err != nil {
		t.Fatalf("device marker: %v %v", ok, err)
	}
	ms, err := s.ReadMarkers(ctx, f.user.ID, conv)
	if err != nil || len(ms) != 2 || ms[0].Device != "" || ms[0].Upto != ws[1].Message.ID || ms[1].Upto != ws[0].Message.ID {
		t.Fatalf("ReadMarkers = %+v, %v", ms, err)
	}
	_, err = s.SetReadMarker(ctx, core.ReadMarker{User: bob.user.ID, Conversation: conv, Upto: ws[1].Message.ID})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("marker on another user's conversation: %v", err)
	}
	if ms, _ := s.ReadMarkers(ctx, bob.user.ID, conv); len(ms) != 0 {
		t.Fatalf("bob reads alice's markers: %+v", ms)
	}
}

func TestUsersAndPasswords(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "alice", "pw1", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "x", false); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	if _, err := s.CreateUser(ctx, "Bad Name", "x", false); err == nil {
		t.Fatal("invalid name accepted")
	}
	if _, err := s.CheckPassword(ctx, "alice", "pw1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "alice", "nope"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "nobody", "pw1"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := s.SetPassword(ctx, u.ID, "pw2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "alice", "pw1"); !errors.Is(err, ErrBadLogin) {
		t.Fatal("old password still works")
	}
	for _, mech := range []string{core.ScramSHA1, core.ScramSHA256} {
		k, err := s.Credentials(ctx, u.ID, mech)
		if err != nil || !k.Verify("pw2") || len(k.Salt) == 0 {
			t.Fatalf("%s keys: %+v %v", mech, k, err)
		}
	}
	// No column anywhere holds the password.
	var n int
	s.rdb.QueryRow("SELECT count(*) FROM credentials WHERE instr(salt, 'pw2') OR instr(stored_key, 'pw2') OR instr(server_key, 'pw2')").Scan(&n)
	if n != 0 {
		t.Fatal("password found in credentials")
	}
	f := newFixture(t, s, "carol")
	appendAll(t, s, f.msg("#go", "x"))
	if err := s.DeleteUser(ctx, f.user.ID); err != nil {
		t.Fatal(err)
	}
	if nets, _ := s.Networks(ctx, f.user.ID); len(nets) != 0 {
		t.Fatalf("networks left after DeleteUser: %v", nets)
	}
	if c, _ := s.CountMessages(ctx, f.user.ID); c != 0 {
		t.Fatalf("messages left after DeleteUser: %d", c)
	}
}
