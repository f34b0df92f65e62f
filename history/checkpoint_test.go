package history

import (
	"fmt"
	"testing"
	"time"
)

// TestCheckpointerCopiesCommits: after the appender commits, the
// checkpointer copies the log into the database on its own connection,
// without a commit reaching walCheckpointPages.
func TestCheckpointerCopiesCommits(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	for i := range 20 {
		appendAll(t, s, f.msg("#go", fmt.Sprint("line ", i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.stats.checkpoints.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint %v after 20 commits", 10*time.Second)
		}
		time.Sleep(checkpointEvery / 2)
	}
	var busy, frames, copied int
	if err := s.wdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	if frames == 0 || copied != frames {
		t.Errorf("the log holds %d frames, %d of them copied; want all, and some", frames, copied)
	}
}
