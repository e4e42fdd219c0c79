// The job and refresh benchmarks of BENCHMARKS.md: make bench copies this
// file into the generated package of the app it scaffolds.

package mcpoauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
	"github.com/mcpgen/mcpgen/mcpoauth/sqltest"

	"example.com/shop/internal/mcpoauth/mcpoauthtest"
)

// testKeyring is the keyring of the benchmarks and their child processes:
// a test key of zeros, as in the generated tests.
func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	keys, err := NewKeyring(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// discard is the Clients' logger: the benchmarks check what they need.
var discard = slog.New(slog.DiscardHandler)

// jobFixture is an app whose user has connected to the MCP server of a dev
// server of the test's own.
type jobFixture struct {
	auth    *devserver.Server
	store   *Store
	clients *Clients
	user    UserID
}

// newJobFixture connects a new user on db, through the browser flow.
func newJobFixture(t testing.TB, db *sql.DB) *jobFixture {
	t.Helper()
	ctx := context.Background()
	auth := devserver.StartTest(t, devserver.Config{})
	servers, err := NewRegistry(Server{Key: "default", URL: auth.URLs().MCP})
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(db, testKeyring(t))
	f := &jobFixture{auth: auth, store: store, user: mcpoauthtest.SeedUser(t, db),
		clients: &Clients{Store: store, Servers: servers, Logger: discard}}
	flow := &Flow{Store: store, Servers: servers, RedirectURL: "http://127.0.0.1:1/callback", Logger: discard}
	authURL, err := flow.Start(ctx, f.user, "")
	if err != nil {
		t.Fatal(err)
	}
	callback, err := devserver.Approve(ctx, authURL, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flow.Complete(ctx, f.user, "default", callback); err != nil {
		t.Fatal(err)
	}
	return f
}

// newHotPathFixture is a job fixture whose store runs on a recorded pool.
func newHotPathFixture(t testing.TB) (*jobFixture, *stmtRecorder) {
	t.Helper()
	db, rec := openRecorded(t, mcpoauthtest.Open(t))
	return newJobFixture(t, db), rec
}

// runJob is the work of a background job: a session from Clients.For,
// calls tool calls through it, and the session closed.
func runJob(ctx context.Context, f *jobFixture, calls int) error {
	session, err := f.clients.For(ctx, f.user, nil)
	if err != nil {
		return fmt.Errorf("For: %w", err)
	}
	for i := 0; i < calls && err == nil; i++ {
		var res *mcp.CallToolResult
		res, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
		switch {
		case err != nil:
			err = fmt.Errorf("CallTool: %w", err)
		case res.IsError || len(res.Content) != 1:
			err = fmt.Errorf("whoami answered %+v", res)
		}
	}
	if cerr := session.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close the session: %w", cerr)
	}
	return err
}

// runJobs runs n jobs of calls calls each, parallel at a time, counting
// in dials the TCP connections their requests opened. The session's
// requests, the standalone event stream's included, keep the values of
// the job's context, and so its trace.
func runJobs(f *jobFixture, n, calls, parallel int, dials *atomic.Int64) error {
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				dials.Add(1)
			}
		},
	})
	var next atomic.Int64
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && errs[i] == nil {
				errs[i] = runJob(ctx, f, calls)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkOneReadPerJob fails the test unless jobs jobs ran one statement
// each, the read of their credential.
func checkOneReadPerJob(t testing.TB, rec *stmtRecorder, jobs int) {
	t.Helper()
	reads, all := rec.Stats(sqlFindCredential).Count, rec.Count()
	if reads != int64(jobs) || all != int64(jobs) {
		t.Errorf("%d jobs ran %d statements, %d of them reads of the credential; want one read each and nothing else. Queries: %q",
			jobs, all, reads, rec.Queries())
	}
}

// BenchmarkJobHotPath measures a background job making 1, 10 or 100 tool
// calls through one session from Clients.For, against the dev server's
// MCP server: the credential is read and decrypted once per job, so
// queries/op is 1 and queries/call 1/calls (the benchmark fails
// otherwise). conns/op counts the TCP connections opened per job. The
// parallel case runs 8 jobs at a time, as a worker with 8 job slots does.
func BenchmarkJobHotPath(b *testing.B) {
	for _, tc := range []struct {
		name            string
		calls, parallel int
	}{
		{"calls=1", 1, 1},
		{"calls=10", 10, 1},
		{"calls=100", 100, 1},
		{"calls=10/parallel=8", 10, 8},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, rec := newHotPathFixture(b)
			if err := runJob(context.Background(), f, 1); err != nil { // warm up: connections, metadata
				b.Fatal(err)
			}
			rec.Reset()
			var dials atomic.Int64
			b.ResetTimer()
			if err := runJobs(f, b.N, tc.calls, tc.parallel, &dials); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(rec.Count())/n, "queries/op")
			b.ReportMetric(float64(rec.Count())/(n*float64(tc.calls)), "queries/call")
			b.ReportMetric(float64(dials.Load())/n, "conns/op")
			checkOneReadPerJob(b, rec, b.N)
		})
	}
}

// BenchmarkClientSetup compares what a job does before its first request
// with one bare SELECT of the credential row by its unique key on the same
// database. setup is For short of connecting, as Clients.prepare does it
// (unexported): the handler (read and decrypt the credential), the
// transport and the client. x-select is the ratio.
func BenchmarkClientSetup(b *testing.B) {
	ctx := context.Background()
	db := mcpoauthtest.Open(b)
	f := newJobFixture(b, db.DB)

	var selectNs float64
	b.Run("select", func(b *testing.B) {
		q := db.Rebind("SELECT id, token_data FROM mcp_oauth_credentials WHERE user_id = ? AND server_url = ?")
		server := f.auth.URLs().MCP
		for b.Loop() {
			var id int64
			var data string
			if err := db.QueryRowContext(ctx, q, f.user, server).Scan(&id, &data); err != nil {
				b.Fatalf("select: %v", err)
			}
		}
		selectNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("setup", func(b *testing.B) {
		impl := &mcp.Implementation{Name: "bench", Version: "1.0.0"}
		server := f.auth.URLs().MCP
		for b.Loop() {
			h, err := f.clients.OAuthHandler(ctx, f.user, "")
			if err != nil {
				b.Fatalf("OAuthHandler: %v", err)
			}
			setupSink.transport = &mcp.StreamableClientTransport{Endpoint: server, OAuthHandler: h}
			setupSink.client = mcp.NewClient(impl, nil)
		}
		if selectNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/selectNs, "x-select")
		}
	})
}

// setupSink keeps BenchmarkClientSetup's results, so that the compiler
// cannot drop the work.
var setupSink struct {
	client    *mcp.Client
	transport mcp.Transport
}

// refreshChildEnv holds, as JSON, the refreshChild a process of the test
// binary is to be (TestRefreshContentionChild).
const refreshChildEnv = "MCP_OAUTH_BENCH_REFRESH_CHILD"

// refreshChild is the work of one child process of a refresh contention
// round: Workers jobs of User on Server, on the database DSN opens.
type refreshChild struct {
	DSN     string
	Server  string
	User    UserID
	Workers int
	Warm    bool
}

// TestRefreshContentionChild is a child process of a refresh contention
// round when refreshChildEnv is set; otherwise it does nothing. It prints
// "ready", waits for a line on stdin, runs the jobs, and prints one line
// per job: "wait <nanoseconds> <token hash>" or "error <message>".
func TestRefreshContentionChild(t *testing.T) {
	raw := os.Getenv(refreshChildEnv)
	if raw == "" {
		return
	}
	var c refreshChild
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("%s: %v", refreshChildEnv, err)
	}
	db := (&sqltest.DB{Dialect: mcpoauthtest.Dialect, DSN: c.DSN}).Reopen(t)
	reg, err := NewRegistry(Server{Key: "default", URL: c.Server})
	if err != nil {
		t.Fatal(err)
	}
	clients := &Clients{Store: NewStore(db, testKeyring(t)), Servers: reg, Logger: discard}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.Warm {
		if err := warmUp(ctx, db, clients, c); err != nil {
			t.Fatalf("warm up: %v", err)
		}
	}
	start := make(chan struct{})
	var released time.Time
	lines := make([]string, c.Workers)
	var wg sync.WaitGroup
	for i := range lines {
		wg.Go(func() {
			<-start
			// A job: its own handler, and the token its first request sends.
			h, err := clients.OAuthHandler(ctx, c.User, "")
			if err == nil {
				var tok string
				if tok, err = handlerToken(ctx, h); err == nil {
					lines[i] = fmt.Sprintf("wait %d %s", time.Since(released).Nanoseconds(), tokenHash(tok))
					return
				}
			}
			lines[i] = "error " + strings.ReplaceAll(err.Error(), "\n", " ")
		})
	}
	fmt.Println("ready")
	_, err = bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		cancel() // the jobs fail at once
	}
	released = time.Now()
	close(start)
	wg.Wait()
	if err != nil {
		t.Fatalf("wait for the start: %v", err)
	}
	fmt.Println(strings.Join(lines, "\n"))
}

// warmUp makes the child a worker that has been running: db's pool holds
// a connection per job, each having read the credential once, and the
// metadata of the credential's authorization server is cached.
func warmUp(ctx context.Context, db *sql.DB, clients *Clients, c refreshChild) error {
	db.SetMaxIdleConns(c.Workers)
	conns := make([]*sql.Conn, c.Workers)
	for i := range conns {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns[i] = conn
		if _, err := readCredential(conn.QueryRowContext(ctx, sqlFindCredential, c.User, c.Server)); err != nil {
			return err
		}
	}
	for _, conn := range conns {
		_ = conn.Close() // back to the pool
	}
	// The runtime fetches the metadata on the way to a refresh only. A 401
	// for a token other than the stored one takes that way and, under the
	// lock, finds the credential already renewed: nothing is sent to the
	// token endpoint (the round's count of refreshes would show it).
	h, err := clients.OAuthHandler(ctx, c.User, "")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Server, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer not-the-stored-token")
	return h.Authorize(ctx, req, &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}, Body: http.NoBody})
}

// handlerToken returns the access token h's transport would send now.
func handlerToken(ctx context.Context, h auth.OAuthHandler) (string, error) {
	ts, err := h.TokenSource(ctx)
	if err != nil {
		return "", err
	}
	tok, err := ts.Token()
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// tokenHash names a token in the children's output without revealing it.
func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8])
}

// contentionFixture is an app whose user has connected, on a test
// database other processes can open, and the child processes' work.
type contentionFixture struct {
	*jobFixture
	child refreshChild
}

// newContentionFixture connects a user on a test database whose DSN the
// children get, and sets them workers jobs each.
func newContentionFixture(t testing.TB, workers int) *contentionFixture {
	t.Helper()
	db := mcpoauthtest.Open(t)
	f := newJobFixture(t, db.DB)
	return &contentionFixture{jobFixture: f,
		child: refreshChild{DSN: db.DSN, Server: f.auth.URLs().MCP, User: f.user, Workers: workers}}
}

// expire makes the stored access token expired, as if it had been issued
// long ago; its refresh token stays good.
func (f *contentionFixture) expire(t testing.TB) {
	t.Helper()
	err := f.store.UpdateCredentialLocked(context.Background(), f.user, f.child.Server, func(c *Credential) (*Credential, error) {
		c.Token.Expiry = time.Now().Add(-time.Minute)
		return c, nil
	})
	if err != nil {
		t.Fatalf("expire the token: %v", err)
	}
}

// contentionRound is the child processes of one round, started and ready
// to run their jobs.
type contentionRound struct {
	procs     []*childProcess
	refreshes int // refresh requests the server had received before
}

// childProcess is one process of a round, and what it printed so far.
type childProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
	seen   []string
}

// startRound expires the token, starts procs child processes of the test
// binary and waits until each is ready to run its jobs.
func (f *contentionFixture) startRound(t testing.TB, procs int) *contentionRound {
	t.Helper()
	f.expire(t)
	spec, err := json.Marshal(f.child)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel) // kills the processes left
	r := &contentionRound{refreshes: f.auth.Stats().RefreshRequests}
	for range procs {
		p := &childProcess{}
		p.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRefreshContentionChild$", "-test.count=1")
		p.cmd.Env = append(os.Environ(), refreshChildEnv+"="+string(spec))
		p.cmd.Stderr = &p.stderr
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := p.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.out = bufio.NewScanner(stdout)
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start a child process: %v", err)
		}
		r.procs = append(r.procs, p)
	}
	for _, p := range r.procs {
		if !p.readUntil("ready") {
			_ = p.cmd.Wait()
			t.Fatalf("a child process exited before it was ready: %s\n%s\n%s", p.cmd.ProcessState, strings.Join(p.seen, "\n"), p.stderr.String())
		}
	}
	return r
}

// readUntil reads p's output until a line equal to want, or to the end
// when want is "", and reports whether it came.
func (p *childProcess) readUntil(want string) bool {
	for p.out.Scan() {
		p.seen = append(p.seen, p.out.Text())
		if want != "" && p.out.Text() == want {
			return true
		}
	}
	return want == ""
}

// contentionResult is what one round measured: how long each job waited
// for its token, and the tokens' hashes.
type contentionResult struct {
	Waits  []time.Duration
	Hashes []string
}

// release starts the jobs of every child at once and waits for the
// children to exit.
func (r *contentionRound) release(t testing.TB) contentionResult {
	t.Helper()
	for _, p := range r.procs {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			t.Fatalf("start a child's jobs: %v", err)
		}
		_ = p.stdin.Close()
	}
	var res contentionResult
	var errs []string
	for _, p := range r.procs {
		p.readUntil("")
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("child process: %v\n%s\n%s", err, strings.Join(p.seen, "\n"), p.stderr.String())
		}
		for _, line := range p.seen {
			fields := strings.Fields(line)
			switch {
			case len(fields) == 3 && fields[0] == "wait":
				ns, err := strconv.ParseInt(fields[1], 10, 64)
				if err != nil {
					t.Fatalf("child output %q: %v", line, err)
				}
				res.Waits = append(res.Waits, time.Duration(ns))
				res.Hashes = append(res.Hashes, fields[2])
			case len(fields) > 0 && fields[0] == "error":
				errs = append(errs, line)
			}
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d jobs failed, the first with: %s", len(errs), len(errs)+len(res.Waits), errs[0])
	}
	return res
}

// check fails the test unless every job of the round reported, one
// refresh request reached the token endpoint, and every job got the token
// it stored.
func (f *contentionFixture) check(t testing.TB, r *contentionRound, res contentionResult) {
	t.Helper()
	if want := len(r.procs) * f.child.Workers; len(res.Waits) != want {
		t.Fatalf("%d jobs reported, want %d", len(res.Waits), want)
	}
	if n := f.auth.Stats().RefreshRequests - r.refreshes; n != 1 {
		t.Fatalf("%d jobs in %d processes sent %d refresh requests, want 1", len(res.Waits), len(r.procs), n)
	}
	stored, err := f.store.FindCredential(context.Background(), f.user, f.child.Server)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hashes {
		if h != tokenHash(stored.Token.AccessToken) {
			t.Fatal("a job got another access token than the one stored")
		}
	}
}

// percentile returns the p-th quantile (0 < p <= 1) of sorted, by the
// nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkRefreshContention measures 64 jobs (goroutines) in 4 processes
// of the test binary, on one database, starting at once with one expired
// credential: exactly one refresh request must reach the token endpoint
// (the benchmark fails otherwise), and p50-ms and p99-ms are how long the
// jobs waited for their token. In warm processes the database pool and
// the metadata are ready, as in workers that have been running; cold ones
// connect as they go, as just after a deploy. ns/op is a round, from the
// release of the jobs to the exit of the last process.
func BenchmarkRefreshContention(b *testing.B) {
	const procs, workers = 4, 16
	for _, warm := range []bool{true, false} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			f := newContentionFixture(b, workers)
			f.child.Warm = warm
			var waits []time.Duration
			for b.Loop() {
				b.StopTimer()
				round := f.startRound(b, procs)
				b.StartTimer()
				res := round.release(b)
				b.StopTimer()
				f.check(b, round, res) // one refresh, or the benchmark fails
				waits = append(waits, res.Waits...)
				b.StartTimer()
			}
			slices.Sort(waits)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(1, "refreshes/op")
			b.ReportMetric(ms(percentile(waits, 0.50)), "p50-ms")
			b.ReportMetric(ms(percentile(waits, 0.99)), "p99-ms")
			b.ReportMetric(ms(waits[len(waits)-1]), "max-ms")
		})
	}
}
