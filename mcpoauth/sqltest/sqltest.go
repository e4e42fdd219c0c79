// Package sqltest gives the tests of an app's SQL store a database of their
// own, migrated with the app's goose migrations, on SQLite, PostgreSQL or
// MySQL: what every app's tests need, kept here so that apps do not each
// carry a copy.
//
// The caller registers the driver (modernc.org/sqlite as "sqlite",
// github.com/jackc/pgx/v5/stdlib as "pgx", github.com/go-sql-driver/mysql as
// "mysql"): this package uses database/sql only. On SQLite each database is
// a file in the test's temporary directory. On PostgreSQL and MySQL the
// server is the one EnvURL names, and each test gets a schema (PostgreSQL)
// or a database (MySQL) of its own, dropped when it ends; without EnvURL
// those tests skip.
package sqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// EnvURL names the environment variable holding the URL (PostgreSQL) or DSN
// (MySQL) of the server the tests may create schemas or databases on.
const EnvURL = "MCP_OAUTH_TEST_DATABASE_URL"

// The dialects, as apps name them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// DB is a test's own database.
type DB struct {
	*sql.DB
	Dialect string
	// DSN opens more pools on the same database (Reopen), in this process
	// or another: on PostgreSQL it carries the schema as search_path, on
	// MySQL parseTime=true.
	DSN string
}

// Open returns a new database of the test's own with the migrations in dir
// applied. dir is a folder of goose SQL migrations, relative to the root of
// the module the test runs in (the folder holding go.mod), so that tests of
// every package find the same one.
func Open(t testing.TB, dialect, dir string) *DB {
	t.Helper()
	db := Empty(t, dialect)
	if _, err := Migrations(t, db, dir).Up(context.Background()); err != nil {
		t.Fatalf("sqltest: migrate up %s: %v", dir, err)
	}
	return db
}

// Empty returns a new, empty database of the test's own.
func Empty(t testing.TB, dialect string) *DB {
	t.Helper()
	var dsn string
	switch dialect {
	case SQLite:
		dsn = SQLiteDSN(filepath.Join(t.TempDir(), "test.db"))
	case Postgres, MySQL:
		server := os.Getenv(EnvURL)
		if server == "" {
			t.Skipf("sqltest: set %s to a %s server the tests may create %s on, e.g. %s=%s",
				EnvURL, title(dialect), map[string]string{Postgres: "schemas", MySQL: "databases"}[dialect], EnvURL, example(dialect))
		}
		dsn = scratch(t, dialect, server)
	default:
		t.Fatalf("sqltest: unknown dialect %q (want %s, %s or %s)", dialect, SQLite, Postgres, MySQL)
	}
	db := &DB{Dialect: dialect, DSN: dsn}
	db.DB = db.Reopen(t)
	return db
}

// Reopen opens another connection pool on db's database, closed when the
// test ends.
func (db *DB) Reopen(t testing.TB) *sql.DB {
	t.Helper()
	pool, err := open(db.Dialect, db.DSN)
	if err != nil {
		t.Fatalf("sqltest: open %s test database: %v", title(db.Dialect), err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	return pool
}

// Rebind returns query with its ? placeholders in the dialect's form: $1,
// $2, ... on PostgreSQL, as written elsewhere.
func (db *DB) Rebind(query string) string {
	if db.Dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Migrations returns a goose provider of the migrations in dir (relative to
// the module root, as for Open) on db.
func Migrations(t testing.TB, db *DB, dir string) *goose.Provider {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	dialect := map[string]goose.Dialect{SQLite: goose.DialectSQLite3, Postgres: goose.DialectPostgres, MySQL: goose.DialectMySQL}[db.Dialect]
	p, err := goose.NewProvider(dialect, db.DB, os.DirFS(filepath.Join(root, filepath.FromSlash(dir))))
	if err != nil {
		t.Fatalf("sqltest: migrations in %s: %v", dir, err)
	}
	return p
}

// TestMigrations applies every migration in dir to an empty database, rolls
// them all back and applies them again, checking that tables exist after
// each up and are gone after the down.
func TestMigrations(t *testing.T, dialect, dir string, tables ...string) {
	ctx := context.Background()
	db := Empty(t, dialect)
	p := Migrations(t, db, dir)
	check := func(step string, want bool) {
		t.Helper()
		for _, table := range tables {
			var n int
			err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
			if got := err == nil; got != want {
				t.Fatalf("after %s, table %s exists = %v, want %v", step, table, got, want)
			}
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	check("up", true)
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	check("down to 0", false)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	check("up again", true)
	if current, target, err := p.GetVersions(ctx); err != nil || current != target {
		t.Errorf("after up again: version %d, want %d (%v)", current, target, err)
	}
}

// SQLiteDSN is the data source name (modernc.org/sqlite) of the database
// file at path as concurrent writers need it: foreign keys enforced, WAL, a
// busy timeout, and transactions that take the write lock when they begin,
// so that two writers wait for each other instead of failing with
// SQLITE_BUSY.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

func open(dialect, dsn string) (*sql.DB, error) {
	driver := map[string]string{SQLite: "sqlite", Postgres: "pgx", MySQL: "mysql"}[dialect]
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w (is the %q driver imported?)", err, driver)
	}
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// scratch creates a schema (PostgreSQL) or database (MySQL) of the test's
// own on server, dropped when the test ends, and returns the DSN that
// works in it.
func scratch(t testing.TB, dialect, server string) string {
	t.Helper()
	if dialect == MySQL {
		server = mysqlDSN(server, "")
	}
	admin, err := open(dialect, server)
	if err != nil {
		t.Fatalf("sqltest: open %s (%s): %v", title(dialect), EnvURL, err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	name := fmt.Sprintf("mcp_oauth_test_%016x", rand.Uint64())
	create, drop := "CREATE SCHEMA "+name, "DROP SCHEMA "+name+" CASCADE"
	if dialect == MySQL {
		create, drop = "CREATE DATABASE "+name+" CHARACTER SET utf8mb4", "DROP DATABASE "+name
	}
	if _, err := admin.Exec(create); err != nil {
		t.Fatalf("sqltest: %s on %s: %v (the tests need a user that may create and drop it)", create, EnvURL, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(drop); err != nil {
			t.Errorf("sqltest: %s: %v", drop, err)
		}
	})
	if dialect == MySQL {
		return mysqlDSN(server, name)
	}
	dsn, err := postgresDSN(server, name)
	if err != nil {
		t.Fatalf("sqltest: %s: %v", EnvURL, err)
	}
	return dsn
}

// postgresDSN returns server with search_path set to schema, in a URL or in
// a key=value connection string.
func postgresDSN(server, schema string) (string, error) {
	if !strings.HasPrefix(server, "postgres://") && !strings.HasPrefix(server, "postgresql://") {
		return server + " search_path=" + schema, nil
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// mysqlDSN returns the go-sql-driver DSN server ([user[:pass]@][net(addr)]/db[?params])
// with its database replaced by name (kept when name is "") and
// parseTime=true.
func mysqlDSN(server, name string) string {
	base, params, _ := strings.Cut(server, "?")
	if i := strings.LastIndex(base, "/"); i >= 0 {
		if name == "" {
			name = base[i+1:]
		}
		base = base[:i]
	}
	q, err := url.ParseQuery(params)
	if err != nil {
		q = url.Values{}
	}
	q.Set("parseTime", "true")
	return base + "/" + name + "?" + q.Encode()
}

// moduleRoot returns the folder of the go.mod governing the working
// directory (a test runs in its package's folder).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above", dir)
		}
	}
}

func title(dialect string) string {
	return map[string]string{SQLite: "SQLite", Postgres: "PostgreSQL", MySQL: "MySQL"}[dialect]
}

func example(dialect string) string {
	if dialect == MySQL {
		return "root@tcp(127.0.0.1:3306)/myapp_test"
	}
	return "postgres://postgres@127.0.0.1:5432/myapp_test?sslmode=disable"
}
