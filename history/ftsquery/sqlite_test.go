//go:build sqlite_fts5

package ftsquery

import (
	"database/sql"
	"slices"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// openFTS returns an in-memory FTS5 table t(body) holding rows, with rowid
// i+1 for rows[i], tokenized as the message store does.
func openFTS(tb testing.TB, rows []string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	// Every connection to ":memory:" is a database of its own.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61 remove_diacritics 2')`); err != nil {
		tb.Fatal(err)
	}
	for i, r := range rows {
		if _, err := db.Exec(`INSERT INTO t(rowid, body) VALUES (?, ?)`, i+1, r); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// match runs expr the way the message store embeds it and returns the
// matching rowids in ascending order.
func match(db *sql.DB, expr string) ([]int64, error) {
	return matchRaw(db, "{body}: ("+expr+")")
}

func matchRaw(db *sql.DB, m string) ([]int64, error) {
	rows, err := db.Query(`SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid`, m)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func TestSemantics(t *testing.T) {
	db := openFTS(t, []string{
		1:  "foo bar",
		2:  "bar foo",
		3:  "foo baz",
		4:  "food",
		5:  "a c",
		6:  "b c",
		7:  "a b",
		8:  "Café au lait",
		9:  "e-mail me at body:secret",
		10: "near foo bar",
		11: "AND or NOT",
	}[1:])
	for _, tt := range []struct {
		q    string
		want []int64
	}{
		{`foo bar`, []int64{1, 2, 10}},
		{`"foo bar"`, []int64{1, 10}},
		{`fo*`, []int64{1, 2, 3, 4, 10}},
		{`"bar fo"*`, []int64{2}},
		{`foo OR baz`, []int64{1, 2, 3, 10}},
		{`foo -bar`, []int64{3}},
		{`foo NOT bar`, []int64{3}},
		{`(a OR b) c`, []int64{5, 6}},
		{`a -b c`, []int64{5}},
		{`c (a OR -b)`, []int64{5}},
		{`c -(a OR b)`, []int64{}},
		{`(a OR b) -(a b)`, []int64{5, 6}},
		{`"bar foo" OR food`, []int64{2, 4}},
		{`foo OR !!!`, []int64{1, 2, 3, 10}},
		{`cafe`, []int64{8}},
		{`CAFÉ`, []int64{8}},
		{`body:secret`, []int64{9}},
		{`e-mail`, []int64{9}},
		{`NEAR(foo bar)`, []int64{10}},
		{`and`, []int64{11}},
		{`"NOT"`, []int64{11}},
		{`foo AND* bar`, []int64{}},
	} {
		expr, err := Translate(tt.q)
		if err != nil {
			t.Errorf("Translate(%q): %v", tt.q, err)
			continue
		}
		got, err := match(db, expr)
		if err != nil {
			t.Errorf("%q → %s: %v", tt.q, expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q → %s: rows %v, want %v", tt.q, expr, got, tt.want)
		}
	}
}

// TestDepthLimitFitsFTS5 checks that the deepest query Translate accepts
// still parses in FTS5 when the caller wraps it in other filters.
func TestDepthLimitFitsFTS5(t *testing.T) {
	db := openFTS(t, []string{"w0 w1"})
	expr, err := Translate(nested(maxDepth + 1))
	if err != nil {
		t.Fatal(err)
	}
	wrapped := `{body}: "x" OR ({body}: "y" AND ({body}: "z" OR ({body}: (` + expr + `))))`
	if _, err := matchRaw(db, wrapped); err != nil {
		t.Fatalf("%s: %v", wrapped, err)
	}
}
