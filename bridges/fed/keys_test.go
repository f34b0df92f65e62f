package fed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRotateKeys: a rotation adds a key that signs and keeps the old one
// published, never signing, until its time; the next rotation deletes it.
func TestRotateKeys(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)
	first, err := LoadKeys(dir, t0)
	if err != nil || len(first) != 1 {
		t.Fatalf("first start: %v %v", first, err)
	}
	k2, retiring, err := RotateKeys(dir, t0.Add(time.Minute), 10*time.Minute)
	if err != nil || len(retiring) != 1 || retiring[0].ID != first[0].ID || !retiring[0].RetireAt.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("rotate: %v %+v %v", k2.ID, retiring, err)
	}
	keys, err := LoadKeys(dir, t0.Add(5*time.Minute))
	if err != nil || len(keys) != 2 || signingKey(keys).ID != k2.ID {
		t.Fatalf("during the retirement: %+v %v", keys, err)
	}
	svc, err := NewService(Config{Domain: "a.test", Directory: &recordingUsers{}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if doc := svc.document(); len(doc.Keys) != 2 {
		t.Errorf("the document publishes %d keys, want both", len(doc.Keys))
	}
	infos, _ := ListKeys(dir, t0.Add(5*time.Minute))
	if len(infos) != 2 || !strings.HasPrefix(infos[0].State, "published until 2026-11-24T04:11:00Z") || infos[1].State != "signs" {
		t.Errorf("list: %+v", infos)
	}
	// Past its time the old key is no longer published.
	keys, _ = LoadKeys(dir, t0.Add(11*time.Minute))
	if len(keys) != 1 || keys[0].ID != k2.ID {
		t.Fatalf("after the retirement: %+v", keys)
	}
	if infos, _ := ListKeys(dir, t0.Add(11*time.Minute)); len(infos) != 2 || !strings.HasPrefix(infos[0].State, "retired at") {
		t.Errorf("list after the retirement: %+v", infos)
	}
	k3, _, err := RotateKeys(dir, t0.Add(12*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, first[0].ID+keyFileSuffix)); !os.IsNotExist(err) {
		t.Errorf("the retired key's file is still there: %v", err)
	}
	keys, _ = LoadKeys(dir, t0.Add(12*time.Minute))
	if len(keys) != 2 || signingKey(keys).ID != k3.ID {
		t.Fatalf("after the second rotation: %+v", keys)
	}
	// Two rotations in one second would give two keys one name.
	if _, _, err := RotateKeys(dir, t0.Add(12*time.Minute), time.Minute); err == nil {
		t.Error("a second key with the same name was made")
	}
	// Every key retiring: the next start makes one that signs.
	if err := os.WriteFile(filepath.Join(dir, k3.ID+retireSuffix), []byte("2030-01-01T00:00:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err = LoadKeys(dir, t0.Add(time.Hour))
	if err != nil || signingKey(keys) == nil || signingKey(keys).ID == k3.ID {
		t.Fatalf("with every key retiring: %+v %v", keys, err)
	}
}
