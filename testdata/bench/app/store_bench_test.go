// The cleanup benchmark of BENCHMARKS.md: make bench copies this file into
// the generated package of the app it scaffolds.

package mcpoauth

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
	"github.com/mcpgen/mcpgen/mcpoauth/sqltest"

	"example.com/shop/internal/mcpoauth/mcpoauthtest"
)

// statesEnv sets the size of BenchmarkCleanupExpiredStates: "expired" or
// "expired,live" rows; live defaults to a tenth of expired.
const statesEnv = "MCP_OAUTH_BENCH_STATES"

const (
	benchExpiredStates = 1_000_000
	benchLiveStates    = 100_000

	// cleanupStatementGoal is the longest one DELETE of the cleanup should
	// take: the longest it holds its locks.
	cleanupStatementGoal = 100 * time.Millisecond

	insertRowsPerStatement = 1000
	insertStatementsPerTx  = 50

	// benchServer is the server of the loaded states; the cleanup never
	// looks at it.
	benchServer = "https://mcp.example.com/mcp"
)

// benchStateCounts returns the row counts statesEnv asks for, else the
// defaults.
func benchStateCounts(t testing.TB) (expired, live int) {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(statesEnv))
	if v == "" {
		return benchExpiredStates, benchLiveStates
	}
	e, l, hasLive := strings.Cut(v, ",")
	expired, err := strconv.Atoi(strings.TrimSpace(e))
	if err == nil && hasLive {
		live, err = strconv.Atoi(strings.TrimSpace(l))
	} else if err == nil {
		live = expired / 10
	}
	if err != nil || expired < 0 || live < 0 {
		t.Fatalf("%s=%q: want expired[,live] row counts, such as 1000000,100000", statesEnv, v)
	}
	return expired, live
}

// cleanupFixture is a test database, a recorded pool on it, and users to
// own the states of a cleanup benchmark.
type cleanupFixture struct {
	db    *sqltest.DB // the plain pool: loading and checking
	rec   *stmtRecorder
	store *Store // on the recorded pool
	users []UserID
}

func newCleanupFixture(t testing.TB) *cleanupFixture {
	t.Helper()
	db := mcpoauthtest.Open(t)
	recorded, rec := openRecorded(t, db)
	users := make([]UserID, 10)
	for i := range users {
		users[i] = mcpoauthtest.SeedUser(t, db.DB)
	}
	return &cleanupFixture{db: db, rec: rec, store: NewStore(recorded, testKeyring(t)), users: users}
}

// cleanupLoad is what load put in the table.
type cleanupLoad struct {
	Now           time.Time // expired states expired before, live ones expire after
	Expired, Live int
	Took          time.Duration
}

// load inserts expired and live states, in turn of the users, then has
// the database analyze the table. The expired ones are older (lower ids),
// as in a real table: they expired over the past expired seconds, up to a
// minute ago. The live ones last a day, so that a slow load does not see
// them expire.
func (f *cleanupFixture) load(t testing.TB, expired, live int) cleanupLoad {
	t.Helper()
	start := time.Now()
	now := start
	f.insertStates(t, 0, expired, func(i int) time.Time {
		return now.Add(-time.Minute - time.Duration(expired-i)*time.Second)
	})
	f.insertStates(t, expired, live, func(i int) time.Time {
		return now.Add(24*time.Hour + time.Duration(i)*time.Millisecond)
	})
	analyzeStates(t, f.db)
	return cleanupLoad{Now: now, Expired: expired, Live: live, Took: time.Since(start)}
}

// cleanupRun is what one cleanup measured.
type cleanupRun struct {
	Total     time.Duration // DeleteExpiredStates, all batches
	Deleted   int64
	Deletes   int64         // DELETE statements run
	MaxDelete time.Duration // the longest of them
}

// clean deletes the expired states in batches as the daily cleanup job
// does (mcpoauth.CleanupExpired), timing each DELETE.
func (f *cleanupFixture) clean(t testing.TB) cleanupRun {
	t.Helper()
	f.rec.Reset()
	start := time.Now()
	n, err := f.store.DeleteExpiredStates(context.Background(), time.Now(), mcpoauth.CleanupBatchSize)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("DeleteExpiredStates: %v", err)
	}
	stats := f.rec.Stats(sqlDeleteExpiredStates)
	return cleanupRun{Total: took, Deleted: n, Deletes: stats.Count, MaxDelete: stats.Max}
}

// check fails the test unless every expired state went, every live one
// stayed, and each DELETE was recorded; then it deletes the live ones.
func (f *cleanupFixture) check(t testing.TB, load cleanupLoad, run cleanupRun) {
	t.Helper()
	left := f.countStates(t, "expires_at <= ?", load.Now)
	kept := f.countStates(t, "expires_at > ?", load.Now)
	if left != 0 || kept != load.Live {
		t.Fatalf("after the cleanup: %d expired states left (want 0), %d live ones (want %d)", left, kept, load.Live)
	}
	if run.Deleted != int64(load.Expired) {
		t.Fatalf("DeleteExpiredStates deleted %d rows, want %d", run.Deleted, load.Expired)
	}
	// One DELETE per full batch and one finding the rest (or nothing).
	if want := int64(load.Expired/mcpoauth.CleanupBatchSize + 1); run.Deletes != want || run.MaxDelete <= 0 {
		t.Fatalf("%d DELETE statements recorded, the longest %v; want %d", run.Deletes, run.MaxDelete, want)
	}
	if _, err := f.db.ExecContext(context.Background(), "DELETE FROM mcp_oauth_states"); err != nil {
		t.Fatalf("delete the live states: %v", err)
	}
}

// insertStates inserts n states of the users (in turn), the i-th (from
// first) expiring at expiry(i), in multi-row INSERTs, several per
// transaction. The verifiers are not real ciphertexts: the cleanup never
// reads them.
func (f *cleanupFixture) insertStates(t testing.TB, first, n int, expiry func(i int) time.Time) {
	t.Helper()
	ctx := context.Background()
	head := "INSERT INTO mcp_oauth_states (user_id, server_url, state_param, pkce_data, expires_at, created_at) VALUES "
	row := "(?, '" + benchServer + "', ?, 'not-sealed', ?, ?)"
	var tx *sql.Tx
	statements := 0
	for done := 0; done < n; {
		if tx == nil {
			var err error
			if tx, err = f.db.BeginTx(ctx, nil); err != nil {
				t.Fatalf("insert states: begin: %v", err)
			}
		}
		rows := min(insertRowsPerStatement, n-done)
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, 4*rows)
		for j := range rows {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
			i := first + done + j
			exp := expiry(i)
			args = append(args, f.users[i%len(f.users)], fmt.Sprintf("bench-state-%d", i), dbTime(exp), dbTime(exp.Add(-mcpoauth.DefaultStateTTL)))
		}
		if _, err := tx.ExecContext(ctx, f.db.Rebind(q.String()), args...); err != nil {
			_ = tx.Rollback()
			t.Fatalf("insert states: %v", err)
		}
		done += rows
		if statements++; statements%insertStatementsPerTx == 0 || done == n {
			if err := tx.Commit(); err != nil {
				t.Fatalf("insert states: commit: %v", err)
			}
			tx = nil
		}
	}
}

// analyzeStates does to the states table after the bulk load what the
// database does by itself soon after one in production: PostgreSQL's
// autovacuum vacuums it (also clearing the dead rows of earlier runs) and
// refreshes the planner's statistics, InnoDB recalculates them. SQLite
// gathers none unless the app runs ANALYZE, which the generated code does
// not.
func analyzeStates(t testing.TB, db *sqltest.DB) {
	t.Helper()
	var q string
	switch db.Dialect {
	case sqltest.Postgres:
		q = "VACUUM ANALYZE mcp_oauth_states"
	case sqltest.MySQL:
		q = "ANALYZE TABLE mcp_oauth_states"
	default:
		return
	}
	if _, err := db.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// countStates counts the states matching cond, whose one placeholder takes
// the time at.
func (f *cleanupFixture) countStates(t testing.TB, cond string, at time.Time) int {
	t.Helper()
	var n int
	q := f.db.Rebind("SELECT COUNT(*) FROM mcp_oauth_states WHERE " + cond)
	if err := f.db.QueryRowContext(context.Background(), q, dbTime(at)).Scan(&n); err != nil {
		t.Fatalf("count states: %v", err)
	}
	return n
}

// BenchmarkCleanupExpiredStates measures the daily cleanup of a big
// table: 1,000,000 expired states and 100,000 live ones (statesEnv changes
// the counts). ns/op is the whole cleanup; max-delete-ms its longest
// statement, whose goal is cleanupStatementGoal. Loading the rows is not
// timed but takes longer than the cleanup: run it with -benchtime=1x.
func BenchmarkCleanupExpiredStates(b *testing.B) {
	expired, live := benchStateCounts(b)
	f := newCleanupFixture(b)
	var maxDelete, loading time.Duration
	var deletes, deleted int64
	for b.Loop() {
		b.StopTimer()
		load := f.load(b, expired, live)
		b.StartTimer()
		run := f.clean(b)
		b.StopTimer()
		f.check(b, load, run)
		maxDelete = max(maxDelete, run.MaxDelete)
		deletes += run.Deletes
		deleted += run.Deleted
		loading += load.Took
		b.Logf("%d expired + %d live states: loaded in %v; cleanup %v, %d DELETEs, the longest %v",
			expired, live, load.Took.Round(time.Millisecond), run.Total.Round(time.Millisecond),
			run.Deletes, run.MaxDelete.Round(time.Microsecond))
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(maxDelete.Microseconds())/1000, "max-delete-ms")
	b.ReportMetric(float64(deletes)/n, "deletes/op")
	b.ReportMetric(float64(deleted)/n, "rows/op")
	b.ReportMetric(loading.Seconds()/n, "load-s/op")
	if maxDelete > cleanupStatementGoal {
		b.Logf("the longest DELETE took %v, over the goal of %v", maxDelete, cleanupStatementGoal)
	}
}
