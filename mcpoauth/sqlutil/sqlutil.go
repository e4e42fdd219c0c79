// Package sqlutil holds what every generated SQL store of mcpgen needs of
// database/sql, whatever its dialect: write transactions that lock (BEGIN
// IMMEDIATE on SQLite), ids of inserted rows, NULL handling, and a time
// scanner that accepts each driver's form.
package sqlutil

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

// Querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// WriteTx runs fn in a transaction that can lock rows for writing, and
// commits when fn returns nil. With immediate (SQLite, which has no row
// locks) the write lock is taken up front with BEGIN IMMEDIATE on a
// dedicated connection, so two workers never both read and then race to
// write; otherwise rows are locked by the SELECT … FOR UPDATE fn runs.
func WriteTx(ctx context.Context, db *sql.DB, immediate bool, fn func(q Querier) error) (err error) {
	if immediate {
		return immediateTx(ctx, db, fn)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that made us roll back is the one to report
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func immediateTx(ctx context.Context, db *sql.DB, fn func(q Querier) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Roll back even when ctx is done; a connection that may still be
		// inside the transaction must not go back to the pool.
		if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// Insert runs an INSERT and returns the new (or upserted) row's id: read
// from its RETURNING id when returning, else from LastInsertId (MySQL).
func Insert(ctx context.Context, q Querier, returning bool, query string, args ...any) (int64, error) {
	if returning {
		var id int64
		err := q.QueryRowContext(ctx, query, args...).Scan(&id)
		return id, err
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// OneRow checks that a statement affected exactly one row; none is
// mcpoauth.ErrNotFound.
func OneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return err
	case n == 0:
		return mcpoauth.ErrNotFound
	case n != 1:
		return fmt.Errorf("affected %d rows, want 1", n)
	}
	return nil
}

// RowsAffected returns how many rows a statement affected.
func RowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Null binds "" as NULL.
func Null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullTime binds the zero time as NULL, and any other as bind(t).
func NullTime(t time.Time, bind func(time.Time) any) any {
	if t.IsZero() {
		return nil
	}
	return bind(t)
}

// Text scans a text column into *s, NULL as "".
func Text(s *string) sql.Scanner { return textScanner{s} }

type textScanner struct{ s *string }

func (n textScanner) Scan(src any) error {
	var ns sql.NullString
	err := ns.Scan(src)
	*n.s = ns.String
	return err
}

// Time scans a timestamp column into *t, NULL as the zero time, whatever
// form the driver returns it in: time.Time, or text in the layouts SQLite,
// MySQL (without parseTime) and PostgreSQL use. Times come back in UTC.
func Time(t *time.Time) sql.Scanner { return timeScanner{t} }

type timeScanner struct{ t *time.Time }

// timeLayouts are the text forms Time accepts, most likely first.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

func (ts timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*ts.t = time.Time{}
		return nil
	case time.Time:
		*ts.t = v.UTC()
		return nil
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	}
	return fmt.Errorf("cannot scan %T into a time", src)
}

func (ts timeScanner) parse(s string) error {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			*ts.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse %q as a time", s)
}
