package history

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// stmtCache keeps the readers' statements prepared. Preparing the paging
// join (two tables, nineteen columns) took about as long as running it on
// a warm cache, on every call; a *sql.Stmt prepares once per pooled
// connection and is reused after that. Queries are built from a bounded
// set of clauses (never from user text, which is always a parameter), so
// the cache stays small.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// maxCachedStmts bounds the cache in case a caller ever builds unbounded
// query texts: past it statements are prepared and closed per call.
const maxCachedStmts = 256

// query runs query with args on a cached statement.
func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, cached, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if !cached {
		// Rows keep a closed Stmt's connection statement open until
		// they are closed, so closing here is safe.
		defer st.Close()
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, cached, err := c.get(ctx, query)
	if err != nil {
		// A *sql.Row cannot be made to carry an error; run the query
		// unprepared so the same error surfaces from Scan.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	if !cached {
		defer st.Close()
	}
	return st.QueryRowContext(ctx, args...)
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, bool, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, true, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, fmt.Errorf("preparing statement: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev, true, nil
	}
	if len(c.m) >= maxCachedStmts {
		return st, false, nil
	}
	c.m[query] = st
	return st, true, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}
