// The statement recorder of the benchmarks (BENCHMARKS.md): make bench
// copies this file into the generated package of the app it scaffolds.

package mcpoauth

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth/sqltest"
)

// stmtRecorder counts and times the statements run through a database
// opened with openRecorded: the benchmarks count the queries of a job
// with it, and time each DELETE of the cleanup.
type stmtRecorder struct {
	mu    sync.Mutex
	stats map[string]stmtStats // by query text
}

// stmtStats is what a stmtRecorder knows of one query.
type stmtStats struct {
	Count      int64
	Total, Max time.Duration
}

func (r *stmtRecorder) record(query string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stats == nil {
		r.stats = make(map[string]stmtStats)
	}
	s := r.stats[query]
	s.Count++
	s.Total += d
	s.Max = max(s.Max, d)
	r.stats[query] = s
}

// Reset forgets what was recorded.
func (r *stmtRecorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.stats)
}

// Count returns how many statements ran, of every query.
func (r *stmtRecorder) Count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, s := range r.stats {
		n += s.Count
	}
	return n
}

// Stats returns what was recorded of query.
func (r *stmtRecorder) Stats(query string) stmtStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats[query]
}

// Queries returns the queries recorded, sorted.
func (r *stmtRecorder) Queries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	qs := make([]string, 0, len(r.stats))
	for q := range r.stats {
		qs = append(qs, q)
	}
	slices.Sort(qs)
	return qs
}

// openRecorded opens another pool on db's database through a wrapper of
// its driver that records every statement, closed when the test ends.
// The wrapper passes everything through.
func openRecorded(t testing.TB, db *sqltest.DB) (*sql.DB, *stmtRecorder) {
	t.Helper()
	drv := db.Reopen(t).Driver()
	var base driver.Connector = dsnConnector{drv: drv, dsn: db.DSN}
	if dc, ok := drv.(driver.DriverContext); ok {
		var err error
		if base, err = dc.OpenConnector(db.DSN); err != nil {
			t.Fatalf("open the recorded database: %v", err)
		}
	}
	rec := &stmtRecorder{}
	pool := sql.OpenDB(recordingConnector{base: base, rec: rec})
	t.Cleanup(func() { _ = pool.Close() })
	if err := pool.Ping(); err != nil {
		t.Fatalf("open the recorded database: %v", err)
	}
	return pool, rec
}

// dsnConnector is the connector of a driver that has none of its own.
type dsnConnector struct {
	drv driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// recordingConnector makes connections that record their statements.
type recordingConnector struct {
	base driver.Connector
	rec  *stmtRecorder
}

func (c recordingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: conn, rec: c.rec}, nil
}

func (c recordingConnector) Driver() driver.Driver { return c.base.Driver() }

// recordingConn records the statements it runs and hands every call to
// the driver's connection, offering database/sql the same optional
// interfaces: where the driver lacks one, it answers as database/sql
// would without it (driver.ErrSkip, or the default behaviour).
type recordingConn struct {
	driver.Conn
	rec *stmtRecorder
}

var (
	_ driver.ConnPrepareContext = (*recordingConn)(nil)
	_ driver.ConnBeginTx        = (*recordingConn)(nil)
	_ driver.QueryerContext     = (*recordingConn)(nil)
	_ driver.ExecerContext      = (*recordingConn)(nil)
	_ driver.Pinger             = (*recordingConn)(nil)
	_ driver.SessionResetter    = (*recordingConn)(nil)
	_ driver.Validator          = (*recordingConn)(nil)
	_ driver.NamedValueChecker  = (*recordingConn)(nil)
)

func (c *recordingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *recordingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &recordingStmt{Stmt: s, conn: c, query: query}, nil
}

func (c *recordingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) || opts.ReadOnly {
		return nil, errors.New("recordingConn: the driver takes no transaction options")
	}
	return c.Conn.Begin() // deprecated, but all this driver has
}

func (c *recordingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	start := time.Now()
	rows, err := q.QueryContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) { // skipped: it runs prepared, and is recorded there
		c.rec.record(query, time.Since(start))
	}
	return rows, err
}

func (c *recordingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	start := time.Now()
	res, err := e.ExecContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.rec.record(query, time.Since(start))
	}
	return res, err
}

func (c *recordingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *recordingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *recordingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *recordingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// recordingStmt records the runs of a prepared statement.
type recordingStmt struct {
	driver.Stmt
	conn  *recordingConn
	query string
}

var (
	_ driver.StmtExecContext   = (*recordingStmt)(nil)
	_ driver.StmtQueryContext  = (*recordingStmt)(nil)
	_ driver.NamedValueChecker = (*recordingStmt)(nil)
)

func (s *recordingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	start := time.Now()
	defer func() { s.conn.rec.record(s.query, time.Since(start)) }()
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	values, err := positional(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(values) // deprecated, but all this driver has
}

func (s *recordingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	start := time.Now()
	defer func() { s.conn.rec.record(s.query, time.Since(start)) }()
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	values, err := positional(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(values) // deprecated, but all this driver has
}

// CheckNamedValue hands the check to the statement, else to the
// connection: database/sql asks a statement that has the method only.
func (s *recordingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return s.conn.CheckNamedValue(nv)
}

// positional returns the values of args for a driver that takes no names.
func positional(args []driver.NamedValue) ([]driver.Value, error) {
	values := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("recordingStmt: the driver takes no named parameters")
		}
		values[i] = a.Value
	}
	return values, nil
}
