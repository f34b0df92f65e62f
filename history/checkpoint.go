package history

import (
	"context"
	"time"
)

// checkpointEvery is how often the checkpointer copies what the appender
// committed into the database file, if it committed anything.
const checkpointEvery = 250 * time.Millisecond

// checkpointer copies committed pages from the write-ahead log into the
// database file on a connection of its own, so that the appender's
// commits, which callers wait for, rarely do it themselves. A commit
// that takes the log past walCheckpointPages still checkpoints, as every
// connection does, but finds little left to copy: what it costs is then
// mostly restarting the log. A PASSIVE checkpoint never waits for the
// appender or for readers; what it cannot copy yet waits for the next
// round. Ingest with 64 callers on a new store (60,000 messages, 2
// cores, two runs each way): the slowest thousandth of the calls took
// 27-30 ms instead of 37-43 ms, and the slowest 34-37 instead of 44-47,
// at the same rate.
func (s *Store) checkpointer() {
	defer s.checkpointerW.Done()
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	var seen int64 // commits by the last round
	for {
		select {
		case <-s.closing:
			return
		case <-tick.C:
		}
		commits := s.stats.commits.Load()
		if commits == seen {
			continue
		}
		seen = commits
		var busy, frames, copied int
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := s.cdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		cancel()
		switch {
		case err != nil:
			// The commits' own checkpoints still keep the log bounded.
			s.log.Warn("checkpointing the history's write-ahead log", "path", s.path, "err", err)
		case copied > 0:
			s.stats.checkpoints.Add(1)
		}
	}
}
