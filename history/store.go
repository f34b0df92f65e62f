package history

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/switchboard/switchboard/core"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// driverName registers go-sqlite3 with a connect hook for the settings the
// DSN cannot carry.
const driverName = "sqlite3_switchboard"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			// No memory-mapped reads. At 10M messages (a 2.7 GB file,
			// more than SQLite's 2 GB mmap cap) paging 50 messages took
			// p99 1.7 ms of CPU with 1 GB mapped and 0.9 ms with none
			// (swbench store, 2 cores): a read that misses the page
			// cache touches a new page of the file, and on this kind of
			// virtual machine a page fault costs more than the copy of
			// a read(2). Searches measured the same or better.
			if _, err := c.Exec("PRAGMA mmap_size = 0", nil); err != nil {
				return err
			}
			if _, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walCheckpointPages), nil); err != nil {
				return err
			}
			return c.RegisterFunc(phraseFunc, hasPhrase, true)
		},
	})
}

// walCheckpointPages is how many pages the write-ahead log holds before a
// commit copies them into the database (SQLite's default is 1,000). A
// group commit of 1,024 callers dirties more than 1,000 pages, so with the
// default every commit was followed by a checkpoint copying all of them,
// though most (the tails of the busy conversations, the search index's
// newest pages) are written again by the next commits. Checkpointing every
// 10,000 pages (40 MB of log) copies each of them once per several
// commits. swbench ingest at 10M, 1,024 callers, locked runs at load 1.5
// to 2.6: 24,000-28,700 messages/s instead of 18,400-22,400 (same
// window; 12,200-25,500 over the session) on the rowid-keyed messages of
// version 10; with messages stored by conversation (migration 11), whose
// inserts land in the middle of the table and dirty more pages,
// 17,400-24,600 (median 20,900) instead of 13,700-15,900. The cost: one commit in several copies more at once, and
// the log file stays at about that size between checkpoints.
const walCheckpointPages = 10000

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	rdb   *sql.DB    // readers
	rq    *stmtCache // prepared statements on rdb
	wdb   *sql.DB    // small writes: users, networks, markers, queue
	adb   *sql.DB    // the appender's one connection, used by its goroutine only
	cdb   *sql.DB    // the checkpointer's one connection (checkpoint.go)
	stmts appendStmts
	stats appendCounters
	// relevanceWindow, relevanceSpread and probeLimit are the consts of
	// those names;
	// tests change them to reach every plan on a small history.
	relevanceWindow int
	relevanceSpread int
	probeLimit      int

	appendc   chan *appendRequest
	closing   chan struct{}
	appenderW sync.WaitGroup
	// checkpointerW waits for the checkpointer (checkpoint.go).
	checkpointerW sync.WaitGroup
	closeOnce     sync.Once
	closeMu       sync.RWMutex
	closed        bool

	// Conversation cache of the appender goroutine; see appender.go.
	convs       map[convKey]convInfo
	convByID    map[core.ConversationID]convInfo
	lastID      core.MessageID
	dataVersion int64
}

// Options tunes Open.
type Options struct {
	Log *slog.Logger
	Now func() time.Time // clock, for tests
}

// opTimeout bounds every store call that did not bring a shorter deadline.
const opTimeout = 30 * time.Second

// Open opens or creates the database at path and brings its schema up to
// date. It refuses a database written by a newer Switchboard.
func Open(ctx context.Context, file string, opt Options) (*Store, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{
		path:     file,
		log:      opt.Log,
		now:      opt.Now,
		appendc:  make(chan *appendRequest, 1024),
		closing:  make(chan struct{}),
		convs:    make(map[convKey]convInfo),
		convByID: make(map[core.ConversationID]convInfo),

		relevanceWindow: relevanceWindow,
		relevanceSpread: relevanceSpread,
		probeLimit:      probeLimit,
	}
	var err error
	if s.wdb, err = openDB(file, false, 1); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.adb, err = openDB(file, false, 1); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.stmts, err = s.prepareAppend(); err != nil {
		s.wdb.Close()
		s.adb.Close()
		return nil, err
	}
	if s.rdb, err = openDB(file, true, 4); err != nil {
		s.wdb.Close()
		s.adb.Close()
		return nil, err
	}
	if s.cdb, err = openDB(file, false, 1); err != nil {
		s.wdb.Close()
		s.adb.Close()
		s.rdb.Close()
		return nil, err
	}
	s.rq = newStmtCache(s.rdb)
	s.appenderW.Add(1)
	go s.appender()
	s.checkpointerW.Add(1)
	go s.checkpointer()
	return s, nil
}

func openDB(file string, readOnly bool, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	// FULL: a commit is on disk when it returns, so an acknowledged
	// message survives a power cut, not only a crash of the process.
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	q.Set("_cache_size", "-65536") // KiB: 64 MiB per connection
	if readOnly {
		q.Set("_query_only", "on")
	}
	db, err := sql.Open(driverName, "file:"+file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	return db, nil
}

// migration is one embedded schema step.
type migration struct {
	name string // the file's name, e.g. 0006_search_prefixes_and_hours.sql
	sql  string
}

// migrations returns the embedded schema steps in order; step i brings the
// schema from version i to i+1.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	steps := make([]migration, 0, len(names))
	for i, name := range names {
		if want := fmt.Sprintf("%04d_", i+1); !strings.HasPrefix(path.Base(name), want) {
			return nil, fmt.Errorf("migration %s: want a name starting %s", name, want)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		steps = append(steps, migration{name: path.Base(name), sql: string(b)})
	}
	return steps, nil
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int {
	steps, _ := migrations()
	return len(steps)
}

// ErrNewerSchema is returned by Open for a database from a newer release.
var ErrNewerSchema = errors.New("database schema is newer than this binary")

func (s *Store) migrate(ctx context.Context) error {
	steps, err := migrations()
	if err != nil {
		return err
	}
	// Foreign keys are off while the steps run, as SQLite's own recipe
	// for changing a table's layout asks: a step that rebuilds a table
	// (0011 rebuilds messages) drops the old one, and with foreign keys
	// on that drop would first delete every row and cascade into the
	// tables that refer to it. They are checked before the commit. The
	// pragma is a no-op inside a transaction, hence the connection of
	// its own (wdb has one), which is discarded afterwards: the next one
	// opens with foreign keys on.
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	defer conn.Close()
	defer conn.Raw(func(any) error { return driver.ErrBadConn })
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading schema version of %s: %w", s.path, err)
	}
	if version > len(steps) {
		return fmt.Errorf("%s has schema version %d, this binary knows up to %d; run a newer switchboard: %w",
			s.path, version, len(steps), ErrNewerSchema)
	}
	if version > 0 && version < len(steps) {
		// Some steps rebuild an index over every message: on a history
		// of millions that takes minutes, and the daemon serves nothing
		// until it is done. Say so, and how long each step took.
		s.log.Info("upgrading the database schema; a large history may take minutes", "path", s.path, "from", version, "to", len(steps))
	}
	for v := version; v < len(steps); v++ {
		start := time.Now()
		if _, err := tx.ExecContext(ctx, steps[v].sql); err != nil {
			if strings.Contains(err.Error(), "no such module: fts5") {
				return fmt.Errorf("this binary was built without full-text search; build with -tags sqlite_fts5: %w", err)
			}
			return fmt.Errorf("migrating %s to version %d (%s): %w", s.path, v+1, steps[v].name, err)
		}
		if version > 0 {
			s.log.Info("schema step applied", "step", steps[v].name, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	if version < len(steps) {
		if err := checkForeignKeys(ctx, tx); err != nil {
			return fmt.Errorf("migrating %s: %w", s.path, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
			return fmt.Errorf("setting schema version: %w", err)
		}
		s.log.Info("database schema migrated", "path", s.path, "from", version, "to", len(steps))
	}
	return tx.Commit()
}

// checkForeignKeys fails if any row refers to a row that does not exist,
// naming the first few.
func checkForeignKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("checking foreign keys: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var (
			table, parent string
			rowid         sql.NullInt64
			fk            int
		)
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return fmt.Errorf("checking foreign keys: %w", err)
		}
		if len(problems) < 5 {
			problems = append(problems, fmt.Sprintf("%s row %d refers to a missing %s", table, rowid.Int64, parent))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checking foreign keys: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("foreign keys broken: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Close stops accepting appends, commits those already queued, and closes
// the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		close(s.closing)
	})
	s.appenderW.Wait()
	s.checkpointerW.Wait()
	s.rq.close()
	return errors.Join(s.rdb.Close(), s.adb.Close(), s.wdb.Close(), s.cdb.Close())
}

// IntegrityCheck runs SQLite's integrity check and the FTS5 index check.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, 10*time.Minute)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	if _, err := s.wdb.ExecContext(ctx, "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"); err != nil {
		return fmt.Errorf("full-text index check: %w", err)
	}
	return nil
}

// withTimeout gives ctx the store's deadline unless it has a sooner one.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func (s *Store) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return withTimeout(ctx, opTimeout)
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ErrNotFound is returned for a user, network, conversation or message that
// does not exist, or that belongs to another user. It is core's, so ports
// can test for it without importing the store.
var ErrNotFound = core.ErrNotFound

var (
	_ core.Store         = (*Store)(nil)
	_ core.HistoryReader = (*Store)(nil)
	_ core.MessageReader = (*Store)(nil)
)
