package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/e2e"
	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
)

// The concurrency and multi-instance proofs: the generated code run as
// separate OS processes (workers of `shop-worker hammer` and `work`, two
// web processes) sharing one database, against the dev server, on every
// database. They hold the generated code to the lessons of production
// token managers: one refresh at a time per credential across processes,
// a re-read under the lock, waiters coalesced inside a process, and a
// lock that dies with its holder.

const (
	scaleTTL  = 3 * time.Second // the access tokens' lifetime in the coalescing proof
	scaleUser = "shop-user-1"   // user 1 of the app, as it consents at the dev server
)

// TestScale builds the shop once per database and runs each proof on a
// fresh database of its own, with a dev server of its own.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no end-to-end run")
	}
	c := e2eCases[0]
	for _, d := range e2eDialects(t) {
		t.Run(string(d), func(t *testing.T) {
			began := time.Now()
			base := newScaffold(t, c, d)
			t.Logf("%s: scaffolded and built in %v", d, time.Since(began).Round(time.Millisecond))
			proofs := []struct {
				name string
				run  func(*testing.T, *e2e.Scaffold, generator.Dialect)
			}{
				{"SharedRefresh", testSharedRefresh},
				{"KillDuringRefresh", testKillDuringRefresh},
				{"Coalescing", testCoalescing},
				{"WebInstances", testWebInstances},
				{"RiverAcrossProcesses", testRiverAcrossProcesses},
			}
			for _, p := range proofs {
				t.Run(p.name, func(t *testing.T) { p.run(t, base, d) })
			}
			t.Logf("%s: wall time of the scale proofs %v", d, time.Since(began).Round(time.Millisecond))
		})
	}
}

// rig is one proof's world: a fresh database, the dev server, the web
// process, and user 1 connected through the browser flow.
type rig struct {
	s     *e2e.Scaffold
	ds    *devserver.Server
	app   string
	alice user
}

// newRig migrates a fresh database for d, starts a dev server with cfg
// and the web process, and connects user 1.
func newRig(t *testing.T, base *e2e.Scaffold, d generator.Dialect, cfg devserver.Config) *rig {
	t.Helper()
	s := freshDatabase(t, base, d)
	ds := startDevServerWith(t, cfg)
	app := startWeb(t, s, ds)
	alice := newUser(t, app, e2eCases[0].prefix, "1")
	p := alice.must(alice.Connect("default", scaleUser, "approve"))
	if conn := alice.connection(); p.Status != http.StatusOK || !conn.Connected || conn.ExpiresAt == nil {
		t.Fatalf("connect flow ended at %d %s: %+v", p.Status, p.URL, conn)
	}
	return &rig{s: s, ds: ds, app: app, alice: alice}
}

// freshDatabase is base on a new database, migrated and seeded with users
// 1 to 4; Postgres and MySQL databases are dropped when the test ends.
func freshDatabase(t *testing.T, base *e2e.Scaffold, d generator.Dialect) *e2e.Scaffold {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "shop.db")
	if d != generator.SQLite {
		dsn = testDatabase(t, d)
	}
	s, err := base.WithDatabase(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SeedUsers(e2eCases[0].users, 4); err != nil {
		t.Fatal(err)
	}
	return s
}

// startDevServerWith runs the dev server in-process on loopback with cfg.
func startDevServerWith(t *testing.T, cfg devserver.Config) *devserver.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	ds, err := devserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ds.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); ds.Close() })
	return ds
}

// worker starts `shop-worker args...` in the background; the test's
// cleanup stops it, printing its output if the test failed.
func (r *rig) worker(t *testing.T, name string, args ...string) *e2e.Process {
	t.Helper()
	return start(t, name, r.s.Dir, r.s.Worker, r.s.Env(r.ds.URLs().MCP), args...)
}

// hammer is the arguments of a hammer run as user 1 calling echo.
func hammer(goroutines int, more ...string) []string {
	return append([]string{"hammer", "-user", "1", "-tool", "echo", "-goroutines", fmt.Sprint(goroutines)}, more...)
}

// hammerReport waits for a hammer process and returns its report. The
// test fails, and goes on to report the dev server's view, unless the
// process exits 0, which it does only when every call succeeded.
func hammerReport(t *testing.T, p *e2e.Process, timeout time.Duration) e2e.HammerReport {
	t.Helper()
	if err := p.Wait(timeout); err != nil {
		t.Error(err)
	}
	rep, err := e2e.ParseHammer(p.Output())
	switch {
	case err != nil:
		t.Error(err)
	case rep.Failed != 0 || rep.OK == 0:
		t.Errorf("%s: %d calls succeeded, %d failed: %v", p.Name, rep.OK, rep.Failed, rep.Errors)
	}
	return rep
}

// waitStats polls the dev server's counters until ok holds, failing the
// test after timeout: nothing in these proofs may wait unbounded.
func waitStats(t *testing.T, ds *devserver.Server, what string, timeout time.Duration, ok func(devserver.Stats) bool) devserver.Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := ds.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (refreshes %d, requests %d, in flight %d, abandoned %d, 401s %d, tool calls %d)",
				what, timeout, st.Refreshes, st.RefreshRequests, st.RefreshesInFlight, st.RefreshesAbandoned, st.Unauthorized, st.ToolCalls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// family is the user's only token family at the dev server: one
// authorization, however many refreshes.
func family(t *testing.T, st devserver.Stats) devserver.FamilyStats {
	t.Helper()
	var fams []devserver.FamilyStats
	for _, f := range st.Families {
		if f.User == scaleUser {
			fams = append(fams, f)
		}
	}
	if len(fams) != 1 {
		t.Fatalf("%s has %d token families, want 1: %+v", scaleUser, len(fams), fams)
	}
	return fams[0]
}

// checkHealthy asserts what every refresh proof ends with: no refresh was
// refused or replayed, the user's one family is live and the credential
// is not marked reauth-required. It returns the counters.
func (r *rig) checkHealthy(t *testing.T) devserver.Stats {
	t.Helper()
	st := r.ds.Stats()
	if st.InvalidGrants != 0 || st.ReuseDetections != 0 || st.FamiliesRevoked != 0 {
		t.Errorf("%d invalid_grant, %d reuse detections, %d families revoked; want none (token errors %v)",
			st.InvalidGrants, st.ReuseDetections, st.FamiliesRevoked, st.TokenErrors)
	}
	if f := family(t, st); f.Revoked || f.Refreshes != st.Refreshes {
		t.Errorf("family %+v: want it live with all %d refreshes", f, st.Refreshes)
	}
	if conn := r.alice.connection(); !conn.Connected || conn.ReauthRequired {
		t.Errorf("the credential after the run: %+v", conn)
	}
	return st
}

// checkNewest proves the stored token is the newest of its family: a
// forced refresh through the app presents the stored refresh token, which
// the dev server would refuse, and revoke the family for, if it were a
// spent one. Then a tool call works with what it stored.
func (r *rig) checkNewest(t *testing.T) {
	t.Helper()
	before := r.ds.Stats()
	prefix := e2eCases[0].prefix
	p := r.alice.must(r.alice.Post(prefix+"/default/refresh", nil, true))
	if p.Status != http.StatusOK || p.URL.Path != prefix || p.URL.Query().Get("refreshed") != "default" {
		t.Fatalf("forced refresh through the app ended at %d %s:\n%.600s", p.Status, p.URL, p.Body)
	}
	st := r.ds.Stats()
	if st.Refreshes != before.Refreshes+1 || st.InvalidGrants != 0 || st.ReuseDetections != 0 {
		t.Errorf("forced refresh: %d refreshes (want %d), %d invalid_grant, %d reuse",
			st.Refreshes, before.Refreshes+1, st.InvalidGrants, st.ReuseDetections)
	}
	out, err := run(t, r.s.Dir, r.s.Worker, r.s.Env(r.ds.URLs().MCP), "hammer", "-user", "1", "-tool", "whoami", "-goroutines", "1", "-calls", "1")
	if err != nil {
		t.Fatalf("a tool call after the forced refresh: %v\n%s", err, out)
	}
	if conn := r.alice.connection(); !conn.Connected || conn.ReauthRequired {
		t.Errorf("after the forced refresh: %+v", conn)
	}
}

// testSharedRefresh: two worker processes of four goroutines each call
// a tool as one user, with the dev server's 5-second access tokens and
// the app's default settings, for several token lifetimes. Each token is
// refreshed once, by one of them, before it lapses, and no call is
// refused.
func testSharedRefresh(t *testing.T, base *e2e.Scaffold, d generator.Dialect) {
	const procs, goroutines = 2, 4
	const ttl = 5 * time.Second
	window := ttl / 4 // the default window for a token of that lifetime
	// Three and a half lifetimes of ttl-window: the run ends in the
	// middle of a cycle, not on the edge of one.
	span := 3*(ttl-window) + (ttl-window)/2
	r := newRig(t, base, d, devserver.Config{AccessTokenTTL: ttl})
	issued := r.alice.connection().ExpiresAt.Add(-ttl)

	before := r.ds.Stats() // the flow's own 401 (discovery) is not the workers'
	began := time.Now()
	var ps []*e2e.Process
	for i := range procs {
		ps = append(ps, r.worker(t, fmt.Sprintf("shop-worker hammer %d", i+1),
			hammer(goroutines, "-duration", span.String(), "-pause", "100ms")...))
	}
	calls := 0
	for _, p := range ps {
		calls += hammerReport(t, p, span+time.Minute).OK
	}
	ended := time.Now()

	st := r.checkHealthy(t)
	var refreshed []time.Time
	for _, f := range st.Families {
		if f.User == scaleUser {
			refreshed = append(refreshed, f.RefreshedAt...)
		}
	}
	t.Logf("%s: %d calls by %d processes x %d goroutines in %v; %d refreshes (%d requests at the token endpoint) at %v; %d invalid_grant, %d reuse detections, %d 401s",
		d, calls, procs, goroutines, ended.Sub(began).Round(time.Millisecond), st.Refreshes, st.RefreshRequests,
		gaps(issued, refreshed), st.InvalidGrants, st.ReuseDetections, st.Unauthorized-before.Unauthorized)

	// The app renews a token once it is within the window of its
	// expiry: every token but the last was refreshed once, between
	// ttl-window and ttl after it was issued, by whichever process
	// came first; the other waited and used the new one.
	if want := int(ended.Sub(issued) / (ttl - window)); len(refreshed) < want-1 || len(refreshed) > want {
		t.Errorf("%d refreshes in %v of %v tokens: want one per lifetime of %v as the app sees it (%d or %d)",
			len(refreshed), ended.Sub(issued).Round(time.Millisecond), ttl, ttl-window, want-1, want)
	}
	prev := issued
	for i, at := range refreshed {
		if gap := at.Sub(prev); gap < ttl-window-time.Second/4 || gap > ttl {
			t.Errorf("refresh %d came %v after the token it replaced was issued: want between %v and %v", i+1, gap.Round(time.Millisecond), ttl-window, ttl)
		}
		prev = at
	}
	// Every refresh request presented the newest refresh token and won: no
	// process refreshed with one another had just rotated.
	if st.RefreshRequests != st.Refreshes {
		t.Errorf("%d refresh requests for %d refreshes: want one request per rotation", st.RefreshRequests, st.Refreshes)
	}
	if n := st.Unauthorized - before.Unauthorized; n != 0 {
		t.Errorf("%d calls were refused with 401: a token was used after it lapsed", n)
	}
	r.checkNewest(t)
}

// gaps describes refresh times as the lifetimes between them, from the
// first token's issue: "[3.76s 3.8s 3.77s]".
func gaps(from time.Time, at []time.Time) string {
	var out []string
	for _, t := range at {
		out = append(out, t.Sub(from).Round(10*time.Millisecond).String())
		from = t
	}
	return "[" + strings.Join(out, " ") + "]"
}

// testKillDuringRefresh: worker A holds the credential's lock while its
// refresh is held at the dev server; B and C queue behind it; A is
// SIGKILLed. The lock dies with A (its connection on Postgres and MySQL,
// its process on SQLite), one of B and C refreshes with the stored
// refresh token, which A never replaced, and every call of B and C
// succeeds.
func testKillDuringRefresh(t *testing.T, base *e2e.Scaffold, d generator.Dialect) {
	const delay = 3 * time.Second // how long the dev server holds each refresh
	r := newRig(t, base, d, devserver.Config{RefreshDelay: delay})

	a := r.worker(t, "shop-worker A (killed)", hammer(1, "-duration", "1m", "-pause", "50ms")...)
	waitStats(t, r.ds, "worker A calling", 30*time.Second, func(st devserver.Stats) bool { return st.ToolCallsByUser[scaleUser] > 0 })
	// The access token is revoked by expiry at the server only: the app
	// learns it from a 401 and refreshes under the lock.
	r.ds.Expire(scaleUser, false)
	st := waitStats(t, r.ds, "worker A refreshing", 10*time.Second, func(st devserver.Stats) bool { return st.RefreshesInFlight == 1 })
	holding := time.Now()

	// B and C are rejected too, and go to refresh: they wait for A's lock.
	rejected := st.Unauthorized
	b := r.worker(t, "shop-worker B", hammer(2, "-duration", "8s", "-pause", "100ms")...)
	c := r.worker(t, "shop-worker C", hammer(2, "-duration", "8s", "-pause", "100ms")...)
	waitStats(t, r.ds, "B and C rejected with the old token", 10*time.Second, func(st devserver.Stats) bool { return st.Unauthorized >= rejected+4 })
	time.Sleep(300 * time.Millisecond) // from the 401 to the lock are a few local steps
	st = r.ds.Stats()
	if st.RefreshRequests != 1 || st.Refreshes != 0 || st.RefreshesInFlight != 1 {
		t.Fatalf("while A holds the lock: %d refresh requests (want A's alone), %d refreshes (want 0; if A's finished, %v of delay is too short for this machine), %d in flight",
			st.RefreshRequests, st.Refreshes, delay, st.RefreshesInFlight)
	}

	a.Kill()
	killed := time.Now()
	waitStats(t, r.ds, "A's refresh abandoned", 10*time.Second, func(st devserver.Stats) bool { return st.RefreshesAbandoned == 1 })
	waitStats(t, r.ds, "another worker taking the lock over and refreshing", 30*time.Second, func(st devserver.Stats) bool { return st.Refreshes >= 1 })
	takeover := time.Since(killed)
	repB := hammerReport(t, b, time.Minute)
	repC := hammerReport(t, c, time.Minute)

	st = r.checkHealthy(t)
	t.Logf("%s: A held the lock %v before SIGKILL; the refresh completed %v after it (%v of it the dev server's delay); B and C made %d calls, all successful; %d refresh requests, %d abandoned, %d refreshes, %d invalid_grant, %d reuse detections",
		d, killed.Sub(holding).Round(time.Millisecond), takeover.Round(time.Millisecond), delay, repB.OK+repC.OK,
		st.RefreshRequests, st.RefreshesAbandoned, st.Refreshes, st.InvalidGrants, st.ReuseDetections)
	if st.Refreshes != 1 || st.RefreshRequests != 2 || st.RefreshesAbandoned != 1 {
		t.Errorf("%d refreshes (want 1), %d refresh requests (want 2: A's abandoned one, then one of B and C), %d abandoned (want 1)",
			st.Refreshes, st.RefreshRequests, st.RefreshesAbandoned)
	}
	r.checkNewest(t)
}

// testCoalescing: sixteen goroutines of one process find the credential
// expired at once; one refresh request reaches the dev server, held long
// enough there that all of them ask while it is in flight.
func testCoalescing(t *testing.T, base *e2e.Scaffold, d generator.Dialect) {
	const k = 16
	r := newRig(t, base, d, devserver.Config{AccessTokenTTL: scaleTTL, RefreshDelay: 500 * time.Millisecond})
	time.Sleep(time.Until(*r.alice.connection().ExpiresAt) + 100*time.Millisecond) // expired, for the app and the server

	began := time.Now()
	p := r.worker(t, "shop-worker hammer", hammer(k, "-calls", "1")...)
	rep := hammerReport(t, p, time.Minute)
	st := r.checkHealthy(t)
	t.Logf("%s: %d goroutines on one expired credential: %d calls succeeded in %v; %d refresh requests reached the dev server, %d refreshes",
		d, k, rep.OK, time.Since(began).Round(time.Millisecond), st.RefreshRequests, st.Refreshes)
	if rep.OK != k {
		t.Errorf("%d calls succeeded, want %d", rep.OK, k)
	}
	if st.RefreshRequests != 1 || st.Refreshes != 1 {
		t.Errorf("%d refresh requests and %d refreshes, want exactly one", st.RefreshRequests, st.Refreshes)
	}
}

// testWebInstances: two web processes of the app on one database, behind
// one public address (the same MCP_OAUTH_BASE_URL, so the same redirect
// URI). A flow started on A completes on B; the user is connected on
// both; the rate limits count requests to both.
func testWebInstances(t *testing.T, base *e2e.Scaffold, d generator.Dialect) {
	prefix := e2eCases[0].prefix
	s := freshDatabase(t, base, d)
	ds := startDevServerWith(t, devserver.Config{})
	appA := startWeb(t, s, ds)
	appB := startWeb(t, s, ds, "MCP_OAUTH_BASE_URL="+appA)
	onA, onB := newUser(t, appA, prefix, "1"), newUser(t, appB, prefix, "1")

	consent := onA.must(onA.StartConnect("default"))
	redirect := onA.must(onA.Consent(consent, scaleUser, "approve", false))
	loc := redirect.Header.Get("Location")
	cb, err := url.Parse(loc)
	if err != nil || redirect.Status/100 != 3 || "http://"+cb.Host != appA || cb.Query().Get("code") == "" {
		t.Fatalf("consent on the flow A started: %d, Location %q; want a redirect with a code to %s", redirect.Status, loc, appA)
	}
	p := onB.must(onB.Callback(loc))
	if p.Status != http.StatusOK || "http://"+p.URL.Host != appB || p.URL.Path != prefix || p.URL.Query().Get("connected") != "default" {
		t.Fatalf("the callback delivered to B ended at %d %s:\n%.600s", p.Status, p.URL, p.Body)
	}
	for name, u := range map[string]user{"A": onA, "B": onB} {
		if conn := u.connection(); !conn.Connected || conn.ReauthRequired {
			t.Errorf("on %s: %+v", name, conn)
		}
		var tools struct{ Tools []struct{ Name string } }
		if code := u.getJSON(prefix+"/default/tools", &tools); code != http.StatusOK || len(tools.Tools) == 0 {
			t.Errorf("tools page on %s: %d %+v", name, code, tools)
		}
	}
	if st := ds.Stats(); st.Registrations != 1 || st.CodeExchanges != 1 {
		t.Errorf("%d client registrations (want 1: B uses the one A stored), %d code exchanges (want 1)", st.Registrations, st.CodeExchanges)
	}

	// Rate limits: five connects a minute, counted in the database. The
	// windows are clock minutes: start in a fresh one if this one ends soon.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 5*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
	limited := map[string]user{"A": newUser(t, appA, prefix, "3"), "B": newUser(t, appB, prefix, "3")}
	var got []string
	for i := 1; i <= 7; i++ {
		inst := "A"
		if i%2 == 0 {
			inst = "B"
		}
		u := limited[inst]
		p := u.must(u.Post(prefix+"/connect", url.Values{"server": {"default"}}, false))
		got = append(got, fmt.Sprintf("%s:%d", inst, p.Status))
		switch {
		case i <= 5 && p.Status != http.StatusSeeOther:
			t.Fatalf("connect %d on %s: %d, want 303\n%.600s", i, inst, p.Status, p.Body)
		case i > 5 && (p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == ""):
			t.Fatalf("connect %d within a minute, on %s: %d (Retry-After %q), want 429; so far %v", i, inst, p.Status, p.Header.Get("Retry-After"), got)
		}
	}
	t.Logf("%s: a flow started on %s completed on %s; connects alternating A and B: %s", d, appA, appB, strings.Join(got, " "))
}

// testRiverAcrossProcesses: three `shop-worker work` processes on one
// Postgres database. Jobs another process enqueues run on them, shared
// out; the periodic maintenance jobs are enqueued once per period, by the
// leader River elects, not once per worker, and not again when the
// leadership moves.
func testRiverAcrossProcesses(t *testing.T, base *e2e.Scaffold, d generator.Dialect) {
	if d != generator.Postgres {
		t.Skip("River across worker processes is proved on Postgres only: River does not run on MySQL, and a SQLite file serves the processes of one machine")
	}
	const workers, jobs = 3, 6
	r := newRig(t, base, d, devserver.Config{})
	// Started together, as a deployment starts them: each migrates River's
	// tables first, under an advisory lock.
	var ps []*e2e.Process
	for i := range workers {
		ps = append(ps, r.worker(t, fmt.Sprintf("shop-worker work %d", i+1), "work", "-max-workers", "1"))
	}
	procs := map[string]*e2e.Process{}
	var ids []string
	for _, p := range ps {
		id, err := p.WaitOutput("river client: ", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		procs[id] = p
		ids = append(ids, id)
	}
	if len(procs) != workers {
		t.Fatalf("River client IDs %v: want %d distinct", ids, workers)
	}
	started := time.Now()

	db, err := r.s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Jobs from another process: an insert-only client, as a web process has.
	out, err := run(t, r.s.Dir, r.s.Worker, r.s.Env(r.ds.URLs().MCP), "enqueue", "-user", "1", "-tool", "sleep", "-ms", "400", "-n", fmt.Sprint(jobs))
	if err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	enqueued, err := e2e.ParseEnqueued(out)
	if err != nil || len(enqueued) != jobs {
		t.Fatalf("enqueued %v (%v), want %d jobs", enqueued, err, jobs)
	}
	ranBy := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := researchJobs(t, db)
		done := 0
		clear(ranBy)
		for _, j := range rows {
			if j.state == "completed" {
				done++
				ranBy[j.by]++
			}
		}
		if done == jobs && len(rows) == jobs {
			for i, j := range rows {
				if j.id != enqueued[i] || !slices.Contains(ids, j.by) {
					t.Errorf("job %d ran on %q, not on a worker process (%v); enqueued %v", j.id, j.by, ids, enqueued)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("research jobs not completed within 30s: %+v", rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(ranBy) < 2 {
		t.Errorf("all %d jobs ran on one worker (%v): want them shared out", jobs, ranBy)
	}

	// The periodic jobs: once per period, by the leader.
	waitRows(t, db, "the periodic cleanup job enqueued", "mcp_oauth_cleanup_expired_states", 1)
	time.Sleep(time.Until(started.Add(3 * time.Second))) // every worker has run a while
	leader := riverLeader(t, db)
	if !slices.Contains(ids, leader) {
		t.Fatalf("river_leader is %q, not one of the workers %v", leader, ids)
	}
	cleanups, refreshes := countJobs(t, db, "mcp_oauth_cleanup_expired_states"), countJobs(t, db, "mcp_oauth_refresh_expiring_credentials")
	if cleanups != 1 || refreshes != 1 {
		t.Errorf("with %d workers running: %d cleanup jobs and %d refresh jobs, want one of each", workers, cleanups, refreshes)
	}

	// The leader stops; another is elected and runs the schedules on start,
	// which the period's unique job absorbs.
	procs[leader].Stop()
	var next string
	deadline = time.Now().Add(20 * time.Second)
	for next == "" || next == leader {
		if time.Now().After(deadline) {
			t.Fatalf("no new leader within 20s of %s stopping (river_leader: %q)", leader, next)
		}
		time.Sleep(100 * time.Millisecond)
		next = riverLeader(t, db)
	}
	time.Sleep(2 * time.Second) // the new leader's periodic enqueuer runs on start
	cleanupsAfter, refreshesAfter := countJobs(t, db, "mcp_oauth_cleanup_expired_states"), countJobs(t, db, "mcp_oauth_refresh_expiring_credentials")
	if cleanupsAfter != 1 || refreshesAfter != 1 {
		t.Errorf("after the leadership moved: %d cleanup jobs and %d refresh jobs, want still one of each", cleanupsAfter, refreshesAfter)
	}
	t.Logf("%s: %d research jobs enqueued by another process ran on the workers %v; %d cleanup and %d refresh jobs with %d workers, leader %s; after it stopped, leader %s and still %d and %d",
		d, jobs, ranBy, cleanups, refreshes, workers, leader, next, cleanupsAfter, refreshesAfter)
}

type riverJob struct {
	id    int64
	state string
	by    string // the last client to attempt it
}

func researchJobs(t *testing.T, db *sql.DB) []riverJob {
	t.Helper()
	rows, err := db.Query(`SELECT id, state, COALESCE(attempted_by[cardinality(attempted_by)], '') FROM river_job WHERE kind = 'mcp_research' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []riverJob
	for rows.Next() {
		var j riverJob
		if err := rows.Scan(&j.id, &j.state, &j.by); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func countJobs(t *testing.T, db *sql.DB, kind string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRows waits until there are want jobs of kind, for 15 s at most.
func waitRows(t *testing.T, db *sql.DB, what, kind string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for countJobs(t, db, kind) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// riverLeader is the client River elected, "" while there is none.
func riverLeader(t *testing.T, db *sql.DB) string {
	t.Helper()
	var id string
	err := db.QueryRow(`SELECT leader_id FROM river_leader`).Scan(&id)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return id
}
