package cli_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/e2e"
	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
)

// e2eCase is a scaffold of the shop sample app that the end-to-end tests
// run as a real web process and a real worker process.
type e2eCase struct {
	name   string
	args   []string // install arguments
	pkg    string   // the generated package, relative to the module
	prefix string   // its route prefix
	users  string   // the user table the app's current user refers to
}

var e2eCases = []e2eCase{
	{"default", nil, "internal/mcpoauth", "/mcp_connections", "users"},
	{"account-admin", []string{"Account", "--namespace=Admin"}, "internal/admin/mcpoauth", "/admin/mcp_connections", "accounts"},
}

// e2eDialects are the databases an end-to-end case runs on: SQLite always,
// Postgres and MySQL when their variables are set.
func e2eDialects(t *testing.T) []generator.Dialect {
	ds := []generator.Dialect{generator.SQLite}
	for _, d := range []struct {
		dialect generator.Dialect
		env     string
	}{{generator.Postgres, "MCPGEN_TEST_POSTGRES_URL"}, {generator.MySQL, "MCPGEN_TEST_MYSQL_DSN"}} {
		if os.Getenv(d.env) != "" {
			ds = append(ds, d.dialect)
		} else {
			t.Logf("%s is unset: the end-to-end tests skip %s", d.env, d.dialect)
		}
	}
	return ds
}

// newScaffold installs mcpgen into a copy of the shop with the wiring a
// user adds, builds it and migrates a fresh database for d.
func newScaffold(t *testing.T, c e2eCase, d generator.Dialect) *e2e.Scaffold {
	t.Helper()
	dsn := ""
	if d != generator.SQLite {
		dsn = testDatabase(t, d)
	}
	s, err := e2e.NewScaffold(context.Background(), e2e.Options{
		Repo: repo(t), Dir: filepath.Join(t.TempDir(), "shop"),
		InstallArgs: append(append([]string{}, c.args...), "--quiet", "--clock", testClock),
		Database:    string(d), DSN: dsn, Package: c.pkg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SeedUsers(c.users, 4); err != nil {
		t.Fatal(err)
	}
	return s
}

// startDevServer runs the MCP + OAuth dev server in-process on loopback,
// its access tokens living ttl.
func startDevServer(t *testing.T, ttl time.Duration) *devserver.Server {
	t.Helper()
	return startDevServerWith(t, devserver.Config{AccessTokenTTL: ttl})
}

// startWeb runs the web process; the test's cleanup stops it.
func startWeb(t *testing.T, s *e2e.Scaffold, ds *devserver.Server, extra ...string) string {
	t.Helper()
	p, base, err := s.StartWeb(ds.URLs().MCP, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.Name, p.Output())
		}
	})
	return base
}

// user is a browser signed in as id, failing the test on any error.
type user struct {
	t *testing.T
	*e2e.Browser
}

func newUser(t *testing.T, app, prefix, id string) user {
	t.Helper()
	b, err := e2e.NewBrowser(app, prefix, id)
	if err != nil {
		t.Fatal(err)
	}
	return user{t, b}
}

func (u user) must(p *e2e.Page, err error) *e2e.Page {
	u.t.Helper()
	if err != nil {
		u.t.Fatal(err)
	}
	return p
}

func (u user) connection() e2e.Connection {
	u.t.Helper()
	c, err := u.Connection("default")
	if err != nil {
		u.t.Fatal(err)
	}
	return c
}

func (u user) getJSON(path string, v any) int {
	u.t.Helper()
	code, err := u.GetJSON(path, v)
	if err != nil {
		u.t.Fatal(err)
	}
	return code
}

// TestEndToEnd runs the generated app as a user would: the web process and
// a River worker process, against the dev server's MCP server and OAuth 2.1
// authorization server, through the browser flow, jobs, token expiry and
// refresh, and disconnection.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no end-to-end run")
	}
	for _, c := range e2eCases {
		for _, d := range e2eDialects(t) {
			t.Run(c.name+"/"+string(d), func(t *testing.T) {
				s := newScaffold(t, c, d)
				ds := startDevServer(t, 4*time.Second)
				app := startWeb(t, s, ds)
				testConnectFlow(t, c, s, ds, app)
				testDeniedConsent(t, c, ds, app)
				testForeignState(t, c, app)
				testRateLimit(t, c, app)
				testMisconfiguredTellsNobody(t, c, s)
			})
		}
	}
}

func testConnectFlow(t *testing.T, c e2eCase, s *e2e.Scaffold, ds *devserver.Server, app string) {
	alice := newUser(t, app, c.prefix, "1")
	if conn := alice.connection(); conn.Connected {
		t.Fatalf("connected before connecting: %+v", conn)
	}
	p := alice.must(alice.Connect("default", "shop-user-1", "approve"))
	if p.Status != http.StatusOK || p.URL.Path != c.prefix {
		t.Fatalf("flow ended at %d %s:\n%s", p.Status, p.URL, p.Body)
	}
	conn := alice.connection()
	if !conn.Connected || conn.ReauthRequired || !strings.Contains(conn.GrantedScope, "mcp:read") || conn.ExpiresAt == nil {
		t.Fatalf("after the flow: %+v", conn)
	}

	// Stored encrypted: the column holds a versioned ciphertext, no JSON.
	db, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tokenData string
	fk := strings.TrimSuffix(c.users, "s") + "_id"
	if err := db.QueryRow("SELECT token_data FROM mcp_oauth_credentials WHERE " + fk + " = 1").Scan(&tokenData); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tokenData, "v1:") || strings.Contains(tokenData, "access_token") || strings.Contains(tokenData, "Bearer") {
		t.Errorf("token_data is not an opaque ciphertext: %.60q", tokenData)
	}

	var tools struct{ Tools []struct{ Name string } }
	if code := alice.getJSON(c.prefix+"/default/tools", &tools); code != http.StatusOK {
		t.Fatalf("tools page: %d %+v", code, tools)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"echo", "add", "whoami"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools page lacks %s: %v", want, names)
		}
	}

	// The example job, through River in the worker process.
	job := func() (string, error) {
		return run(t, s.Dir, s.Worker, s.Env(ds.URLs().MCP), "research", "-user", "1", "-tool", "whoami")
	}
	out, err := job()
	if err != nil || !strings.Contains(out, "result: ") || !strings.Contains(out, "shop-user-1") {
		t.Fatalf("research job: %v\n%s", err, out)
	}
	if st := ds.Stats(); st.Refreshes != 0 {
		t.Errorf("refreshes before expiry: %d, want 0", st.Refreshes)
	}

	// The access token expires; the next job refreshes it once and works.
	time.Sleep(time.Until(*conn.ExpiresAt) + 200*time.Millisecond)
	out, err = job()
	if err != nil || !strings.Contains(out, "shop-user-1") {
		t.Fatalf("research job after expiry: %v\n%s", err, out)
	}
	st := ds.Stats()
	if st.Refreshes != 1 || st.InvalidGrants != 0 || st.ReuseDetections != 0 || st.MissingResource != 0 {
		t.Errorf("after expiry: %d refreshes (want 1), %d invalid_grant, %d reuse, %d without resource",
			st.Refreshes, st.InvalidGrants, st.ReuseDetections, st.MissingResource)
	}
	if conn := alice.connection(); !conn.ExpiresAt.After(time.Now()) {
		t.Errorf("the refreshed token was not stored: expires %v", conn.ExpiresAt)
	}

	// Disconnect revokes at the authorization server; jobs then fail typed.
	p = alice.must(alice.Post(c.prefix+"/default/disconnect", nil, true))
	if p.Status != http.StatusOK || alice.connection().Connected {
		t.Fatalf("disconnect: %d\n%s", p.Status, p.Body)
	}
	if st := ds.Stats(); st.Revocations < 1 {
		t.Errorf("disconnect revoked nothing at the authorization server: %+v", st)
	}
	out, err = job()
	if err == nil || !strings.Contains(out, "has not connected") {
		t.Errorf("job after disconnect: %v\n%s", err, out)
	}
}

func testDeniedConsent(t *testing.T, c e2eCase, ds *devserver.Server, app string) {
	bob := newUser(t, app, c.prefix, "2")
	denials := ds.Stats().Denials
	p := bob.must(bob.Connect("default", "shop-user-2", "deny"))
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "access_denied") {
		t.Errorf("denied consent ended at %d %s:\n%s", p.Status, p.URL, p.Body)
	}
	if ds.Stats().Denials != denials+1 {
		t.Error("the dev server saw no denial")
	}
	if conn := bob.connection(); conn.Connected {
		t.Errorf("a denied flow stored a credential: %+v", conn)
	}
}

// testForeignState delivers user 3's callback on user 2's session: it is
// refused, and does not use up user 3's flow.
func testForeignState(t *testing.T, c e2eCase, app string) {
	carol := newUser(t, app, c.prefix, "3")
	mallory := newUser(t, app, c.prefix, "2")
	consent := carol.must(carol.StartConnect("default"))
	redirect := carol.must(carol.Consent(consent, "shop-user-3", "approve", false))
	callback, err := url.Parse(redirect.Header.Get("Location"))
	if err != nil || callback.Query().Get("code") == "" || callback.Query().Get("state") == "" {
		t.Fatalf("consent did not redirect to the callback with a code: %d %q", redirect.Status, redirect.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodGet, callback.String(), nil)
	p := mallory.must(mallory.Do(req, true))
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "unknown, expired or already used") {
		t.Errorf("callback with another user's state: %d\n%s", p.Status, p.Body)
	}
	if mallory.connection().Connected || carol.connection().Connected {
		t.Error("a callback with another user's state stored a credential")
	}
	p = carol.must(carol.Do(req, true))
	if p.Status != http.StatusOK || !carol.connection().Connected {
		t.Errorf("the owner's callback after the foreign attempt: %d\n%s", p.Status, p.Body)
	}
}

func testRateLimit(t *testing.T, c e2eCase, app string) {
	dave := newUser(t, app, c.prefix, "4")
	for i := 1; i <= 6; i++ {
		p := dave.must(dave.Post(c.prefix+"/connect", url.Values{"server": {"default"}}, false))
		switch {
		case i <= 5 && p.Status != http.StatusSeeOther:
			t.Fatalf("connect %d: %d, want 303\n%s", i, p.Status, p.Body)
		case i == 6 && (p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == ""):
			t.Fatalf("connect 6 within a minute: %d (Retry-After %q), want 429", p.Status, p.Header.Get("Retry-After"))
		}
	}
}

// testMisconfiguredTellsNobody: an app whose MCP server URL carries
// credentials (refused: tokens are never sent to such a URL) still
// starts; its connection pages answer 503 with a fixed message, to
// browsers and JSON clients alike, and neither they nor the log it
// writes tell the credentials.
func testMisconfiguredTellsNobody(t *testing.T, c e2eCase, s *e2e.Scaffold) {
	const bad = "http://admin:hunter2@127.0.0.1:9/mcp?api_key=sk-live-secret"
	p, base, err := s.StartWeb(bad)
	if err != nil {
		t.Fatalf("the misconfigured app does not start: %v", err)
	}
	defer p.Stop()
	secrets := []string{"hunter2", "sk-live-secret", "admin:"}
	for _, accept := range []string{"text/html", "application/json"} {
		req, _ := http.NewRequest(http.MethodGet, base+c.prefix, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "MCP connections are not configured.") {
			t.Errorf("misconfigured, Accept %s: %d %q; want 503 with the fixed message", accept, resp.StatusCode, body)
		}
		for _, secret := range append(secrets, "127.0.0.1:9") {
			if strings.Contains(string(body), secret) {
				t.Errorf("misconfigured, Accept %s: the answer tells %q: %s", accept, secret, body)
			}
		}
	}
	p.Stop()
	out := p.Output()
	if !strings.Contains(out, "MCP connections are unavailable") || !strings.Contains(out, "user info") {
		t.Errorf("the log does not say what is wrong:\n%s", out)
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the log tells %q:\n%s", secret, out)
		}
	}
}
