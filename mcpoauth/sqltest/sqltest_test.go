package sqltest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

const migrations = "sqltest/testdata/migrations"

func TestDSNs(t *testing.T) {
	for _, tc := range []struct{ server, name, want string }{
		{"root@tcp(127.0.0.1:3306)/test", "scratch", "root@tcp(127.0.0.1:3306)/scratch?parseTime=true"},
		{"root@tcp(127.0.0.1:3306)/test?loc=UTC", "", "root@tcp(127.0.0.1:3306)/test?loc=UTC&parseTime=true"},
		{"u:p/w@tcp(db)/app?parseTime=false", "x", "u:p/w@tcp(db)/x?parseTime=true"},
	} {
		if got := mysqlDSN(tc.server, tc.name); got != tc.want {
			t.Errorf("mysqlDSN(%q, %q) = %q, want %q", tc.server, tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct{ server, want string }{
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/test?search_path=s&sslmode=disable"},
		{"postgres://h/test?search_path=public", "postgres://h/test?search_path=s"},
		{"host=h dbname=test", "host=h dbname=test search_path=s"},
	} {
		if got, err := postgresDSN(tc.server, "s"); err != nil || got != tc.want {
			t.Errorf("postgresDSN(%q) = %q, %v; want %q", tc.server, got, err, tc.want)
		}
	}
}

func TestRebind(t *testing.T) {
	q := "UPDATE t SET a = ? WHERE b = ?"
	if got := (&DB{Dialect: Postgres}).Rebind(q); got != "UPDATE t SET a = $1 WHERE b = $2" {
		t.Errorf("postgres: %q", got)
	}
	if got := (&DB{Dialect: MySQL}).Rebind(q); got != q {
		t.Errorf("mysql: %q", got)
	}
}

// dialects runs f on each dialect; PostgreSQL and MySQL skip without a server.
func dialects(t *testing.T, f func(t *testing.T, dialect string)) {
	for _, d := range []string{SQLite, Postgres, MySQL} {
		t.Run(d, func(t *testing.T) {
			// The repository's CI names one server per dialect.
			if v := os.Getenv(map[string]string{Postgres: "MCPGEN_TEST_POSTGRES_URL", MySQL: "MCPGEN_TEST_MYSQL_DSN"}[d]); v != "" {
				t.Setenv(EnvURL, v)
			}
			f(t, d)
		})
	}
}

func TestOpen(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		a, b := Open(t, dialect, migrations), Open(t, dialect, migrations)
		ctx := context.Background()
		if _, err := a.ExecContext(ctx, a.Rebind("INSERT INTO notes (id, body) VALUES (?, ?)"), 1, "a"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.QueryRowContext(ctx, "SELECT COUNT(*) FROM notes").Scan(&n); err != nil || n != 0 {
			t.Errorf("a second database sees %d rows (%v), want 0: tests must not share", n, err)
		}
		if err := a.Reopen(t).QueryRowContext(ctx, "SELECT COUNT(*) FROM notes").Scan(&n); err != nil || n != 1 {
			t.Errorf("Reopen sees %d rows (%v), want 1", n, err)
		}
	})
}

func TestTestMigrations(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		TestMigrations(t, dialect, migrations, "notes")
	})
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil || !strings.HasSuffix(filepath.ToSlash(root), "mcpoauth") {
		t.Errorf("moduleRoot = %s (%v), want the mcpoauth module", root, err)
	}
}

func TestInsertFillsRequiredColumns(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		db := Open(t, dialect, migrations)
		for id := range 50 { // unique values: no UNIQUE constraint trips
			Insert(t, db, "people", map[string]any{"id": id + 1})
		}
		var n int
		var plan string
		if err := db.QueryRow("SELECT COUNT(*), MIN(plan) FROM people WHERE nickname IS NULL").Scan(&n, &plan); err != nil || n != 50 || plan != "free" {
			t.Errorf("after 50 inserts: %d rows, plan %q (%v); want 50 with the default plan and no nickname", n, plan, err)
		}
		Insert(t, db, "notes", map[string]any{"id": 1})
		var body string
		if err := db.QueryRow("SELECT body FROM notes").Scan(&body); err != nil || body == "" {
			t.Errorf("notes.body = %q (%v), want a made-up value", body, err)
		}
	})
}

func TestMadeUpValues(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		size int
		ok   bool
	}{
		{"varchar(4)", 4, true}, {"character varying", 3, true}, {"bigint", 0, true}, {"enum('a','b')", 0, true},
		{"uuid", 0, true}, {"timestamp with time zone", 0, true}, {"user-defined", 0, false}, {"array", 0, false},
	} {
		v, ok := madeUp(column{name: "c", typ: tc.typ, size: tc.size})
		if ok != tc.ok {
			t.Errorf("%s: made up %v (%v), want ok %v", tc.typ, v, ok, tc.ok)
		}
		if s, isString := v.(string); isString && tc.size > 0 && len(s) > tc.size {
			t.Errorf("%s: %q is longer than %d", tc.typ, s, tc.size)
		}
	}
	if v, _ := madeUp(column{typ: "enum('it''s','b')"}); v != "it's" {
		t.Errorf("enum: %v, want its first value", v)
	}
}
