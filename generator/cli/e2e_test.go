package cli_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/devserver"
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

// scaffold is an installed, wired, built and migrated copy of the shop.
type scaffold struct {
	c       e2eCase
	dialect generator.Dialect
	dir     string
	web     string // binary of cmd/shop
	worker  string // binary of cmd/shop-worker
	driver  string // database/sql driver name
	dsn     string
	keys    string // MCP_OAUTH_ENCRYPTION_KEYS
}

var driverNames = map[generator.Dialect]string{generator.SQLite: "sqlite", generator.Postgres: "pgx", generator.MySQL: "mysql"}

// newScaffold installs mcpgen into a copy of the shop, adds the wiring a
// user would (testdata/wiring), builds both programs and migrates a fresh
// database.
func newScaffold(t *testing.T, c e2eCase, d generator.Dialect) *scaffold {
	t.Helper()
	s := &scaffold{c: c, dialect: d, dir: copyApp(t, "shop"), driver: driverNames[d]}
	args := append([]string{}, c.args...)
	if d != generator.SQLite {
		args = append(args, "--database="+string(d))
	}
	install(t, s.dir, append(args, "--quiet")...)

	wiring := filepath.Join(repo(t), "testdata", "wiring", "shop")
	files := map[string]string{
		"cmd/shop-worker/main.go":                     "cmd/shop-worker/main.go",
		"cmd/shop-worker/runner_" + string(d) + ".go": "cmd/shop-worker/runner.go",
		"cmd/shop-worker/river.go":                    "cmd/shop-worker/river.go",
		"drivers/" + string(d) + ".go":                "cmd/shop/driver.go",
	}
	if d == generator.MySQL {
		delete(files, "cmd/shop-worker/river.go") // River does not run on MySQL
	}
	for from, to := range files {
		src, err := os.ReadFile(filepath.Join(wiring, from))
		if os.IsNotExist(err) && strings.HasPrefix(from, "drivers/") {
			continue // SQLite's driver is in the app already
		}
		if err != nil {
			t.Fatal(err)
		}
		out := strings.ReplaceAll(string(src), "example.com/shop/internal/mcpoauth", "example.com/shop/"+c.pkg)
		write(t, s.dir, to, out)
	}
	goCmd(t, s.dir, nil, "mod", "tidy")
	s.web = buildBinary(t, s.dir, "./cmd/shop")
	s.worker = buildBinary(t, s.dir, "./cmd/shop-worker")

	switch d {
	case generator.SQLite:
		s.dsn = "file:" + filepath.Join(s.dir, "shop.db") +
			"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	case generator.MySQL:
		s.dsn = testDatabase(t, d)
		if !strings.Contains(s.dsn, "parseTime") {
			sep := "?"
			if strings.Contains(s.dsn, "?") {
				sep = "&"
			}
			s.dsn += sep + "parseTime=true"
		}
	default:
		s.dsn = testDatabase(t, d)
	}
	var key [32]byte
	_, _ = rand.Read(key[:])
	s.keys = base64.StdEncoding.EncodeToString(key[:])

	if out, err := run(t, s.dir, s.web, s.env(nil), "migrate", "up"); err != nil {
		t.Fatalf("goose up: %v\n%s", err, out)
	}
	if out, err := run(t, s.dir, s.worker, s.env(nil), "migrate"); err != nil {
		t.Fatalf("worker migrate: %v\n%s", err, out)
	}
	return s
}

// env is the environment of both programs, for the dev server ds.
func (s *scaffold) env(ds *devserver.Server, extra ...string) []string {
	env := []string{
		"DATABASE_DRIVER=" + s.driver,
		"DATABASE_URL=" + s.dsn,
		"MCP_OAUTH_ENCRYPTION_KEYS=" + s.keys,
		"MCP_OAUTH_SCOPES=mcp:read mcp:write",
		// The dev server's tokens live seconds: renew one second ahead.
		"MCP_OAUTH_REFRESH_WINDOW=1s",
	}
	if ds != nil {
		env = append(env, "DEFAULT_MCP_SERVER_URL="+ds.URLs().MCP)
	}
	return append(env, extra...)
}

// db opens the scaffold's database from the test, to seed and inspect it.
func (s *scaffold) db(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open(s.driver, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// seedUsers inserts the app's users 1..n into the table the current user
// refers to.
func (s *scaffold) seedUsers(t *testing.T, n int) {
	t.Helper()
	db := s.db(t)
	for id := 1; id <= n; id++ {
		if _, err := db.Exec(fmt.Sprintf("INSERT INTO %s (id) VALUES (%d)", s.c.users, id)); err != nil {
			t.Fatalf("seed user %d: %v", id, err)
		}
	}
}

// startDevServer runs the MCP + OAuth dev server in-process on loopback.
func startDevServer(t *testing.T, ttl time.Duration) *devserver.Server {
	t.Helper()
	ds, err := devserver.New(devserver.Config{Addr: "127.0.0.1:0", AccessTokenTTL: ttl})
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

// startWeb runs the web process and waits for it to answer.
func (s *scaffold) startWeb(t *testing.T, ds *devserver.Server) string {
	t.Helper()
	addr := freeAddr(t)
	base := "http://" + addr
	p := start(t, "shop web", s.dir, s.web, s.env(ds, "ADDR="+addr, "MCP_OAUTH_BASE_URL="+base))
	waitHTTP(t, p, base+"/healthz")
	return base
}

// browser is a user of the app: a cookie jar, redirects followed, and the
// shop's way of saying who is signed in (X-User-ID) on requests to the app.
type browser struct {
	t      *testing.T
	app    *url.URL
	prefix string
	client *http.Client
}

type signedIn struct {
	app    string
	user   string
	origin http.RoundTripper
}

func (s signedIn) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == s.app && s.user != "" {
		r = r.Clone(r.Context())
		r.Header.Set("X-User-ID", s.user)
	}
	return s.origin.RoundTrip(r)
}

func newBrowser(t *testing.T, appBase, prefix, user string) *browser {
	t.Helper()
	u, err := url.Parse(appBase)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, app: u, prefix: prefix, client: &http.Client{
		Jar:       jar,
		Timeout:   30 * time.Second,
		Transport: signedIn{app: u.Host, user: user, origin: http.DefaultTransport},
	}}
}

// noRedirects returns a copy of b's client that stops at the first redirect.
func (b *browser) noRedirects() *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (b *browser) do(req *http.Request, client *http.Client) (*http.Response, string) {
	b.t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.app.String()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req, b.client)
}

// getJSON fetches an app page as an API client and decodes it into v.
func (b *browser) getJSON(path string, v any) int {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.app.String()+path, nil)
	req.Header.Set("Accept", "application/json")
	resp, body := b.do(req, b.client)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		b.t.Fatalf("GET %s: %d, not JSON: %v\n%s", path, resp.StatusCode, err, body)
	}
	return resp.StatusCode
}

type connection struct {
	Server         string     `json:"server"`
	Connected      bool       `json:"connected"`
	ReauthRequired bool       `json:"reauth_required"`
	GrantedScope   string     `json:"granted_scope"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

func (b *browser) connection() connection {
	b.t.Helper()
	var list struct{ Connections []connection }
	if code := b.getJSON(b.prefix, &list); code != http.StatusOK || len(list.Connections) != 1 {
		b.t.Fatalf("GET %s: %d %+v", b.prefix, code, list)
	}
	return list.Connections[0]
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// consent answers the dev server's consent page as user, approving or
// denying, and returns where the redirects ended.
func (b *browser) consent(page *http.Response, body, user, decision string) (*http.Response, string) {
	b.t.Helper()
	form := url.Values{"user": {user}, "decision": {decision}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(body)
	if action == nil || form.Get("request_id") == "" {
		b.t.Fatalf("not a consent page (%d %s):\n%s", page.StatusCode, page.Request.URL, body)
	}
	target, _ := page.Request.URL.Parse(html.UnescapeString(action[1]))
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req, b.client)
}

// connect runs the browser flow: POST connect, consent as asUser, back
// through the callback to the list.
func (b *browser) connect(asUser, decision string) (*http.Response, string) {
	b.t.Helper()
	page, body := b.post(b.prefix+"/connect", url.Values{"server": {"default"}})
	if page.StatusCode != http.StatusOK {
		b.t.Fatalf("connect ended at %d %s:\n%s", page.StatusCode, page.Request.URL, body)
	}
	return b.consent(page, body, asUser, decision)
}

func stats(t *testing.T, ds *devserver.Server) devserver.Stats { t.Helper(); return ds.Stats() }

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
				s.seedUsers(t, 4)
				const ttl = 4 * time.Second
				ds := startDevServer(t, ttl)
				app := s.startWeb(t, ds)
				testConnectFlow(t, s, ds, app)
				testDeniedConsent(t, s, ds, app)
				testForeignState(t, s, ds, app)
				testRateLimit(t, s, app)
			})
		}
	}
}

func testConnectFlow(t *testing.T, s *scaffold, ds *devserver.Server, app string) {
	alice := newBrowser(t, app, s.c.prefix, "1")
	if c := alice.connection(); c.Connected {
		t.Fatalf("connected before connecting: %+v", c)
	}
	resp, body := alice.connect("shop-user-1", "approve")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != s.c.prefix {
		t.Fatalf("flow ended at %d %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	c := alice.connection()
	if !c.Connected || c.ReauthRequired || !strings.Contains(c.GrantedScope, "mcp:read") || c.ExpiresAt == nil {
		t.Fatalf("after the flow: %+v", c)
	}

	// Stored encrypted: the column holds a versioned ciphertext, no JSON.
	var tokenData string
	if err := s.db(t).QueryRow("SELECT token_data FROM mcp_oauth_credentials WHERE " +
		strings.TrimSuffix(s.c.users, "s") + "_id = 1").Scan(&tokenData); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tokenData, "v1:") || strings.Contains(tokenData, "access_token") || strings.Contains(tokenData, "Bearer") {
		t.Errorf("token_data is not an opaque ciphertext: %.60q", tokenData)
	}

	var tools struct{ Tools []struct{ Name string } }
	if code := alice.getJSON(s.c.prefix+"/default/tools", &tools); code != http.StatusOK {
		t.Fatalf("tools page: %d %+v", code, tools)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	for _, want := range []string{"echo", "add", "whoami"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("tools page lacks %s: %v", want, names)
		}
	}

	// The example job, through River in the worker process.
	job := func() (string, error) {
		return run(t, s.dir, s.worker, s.env(ds), "research", "-user", "1", "-tool", "whoami")
	}
	out, err := job()
	if err != nil || !strings.Contains(out, "result: ") || !strings.Contains(out, "shop-user-1") {
		t.Fatalf("research job: %v\n%s", err, out)
	}
	if st := stats(t, ds); st.Refreshes != 0 {
		t.Errorf("refreshes before expiry: %d, want 0", st.Refreshes)
	}

	// The access token expires; the next job refreshes it once and works.
	time.Sleep(time.Until(*c.ExpiresAt) + 200*time.Millisecond)
	out, err = job()
	if err != nil || !strings.Contains(out, "shop-user-1") {
		t.Fatalf("research job after expiry: %v\n%s", err, out)
	}
	st := stats(t, ds)
	if st.Refreshes != 1 || st.InvalidGrants != 0 || st.ReuseDetections != 0 || st.MissingResource != 0 {
		t.Errorf("after expiry: %d refreshes (want 1), %d invalid_grant, %d reuse, %d without resource",
			st.Refreshes, st.InvalidGrants, st.ReuseDetections, st.MissingResource)
	}
	if c := alice.connection(); !c.ExpiresAt.After(time.Now()) {
		t.Errorf("the refreshed token was not stored: expires %v", c.ExpiresAt)
	}

	// Disconnect revokes at the authorization server; jobs then fail typed.
	resp, body = alice.post(s.c.prefix+"/default/disconnect", nil)
	if resp.StatusCode != http.StatusOK || alice.connection().Connected {
		t.Fatalf("disconnect: %d\n%s", resp.StatusCode, body)
	}
	if st := stats(t, ds); st.Revocations < 1 {
		t.Errorf("disconnect revoked nothing at the authorization server: %+v", st)
	}
	out, err = job()
	if err == nil || !strings.Contains(out, "not connected") && !strings.Contains(out, "has not connected") {
		t.Errorf("job after disconnect: %v\n%s", err, out)
	}
}

func testDeniedConsent(t *testing.T, s *scaffold, ds *devserver.Server, app string) {
	bob := newBrowser(t, app, s.c.prefix, "2")
	denialsBefore := stats(t, ds).Denials
	resp, body := bob.connect("shop-user-2", "deny")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "access_denied") {
		t.Errorf("denied consent ended at %d %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if stats(t, ds).Denials != denialsBefore+1 {
		t.Error("the dev server saw no denial")
	}
	if c := bob.connection(); c.Connected {
		t.Errorf("a denied flow stored a credential: %+v", c)
	}
}

// testForeignState completes user 1's flow on user 2's session: rejected.
func testForeignState(t *testing.T, s *scaffold, ds *devserver.Server, app string) {
	carol := newBrowser(t, app, s.c.prefix, "3")
	mallory := newBrowser(t, app, s.c.prefix, "2")
	page, body := carol.post(s.c.prefix+"/connect", url.Values{"server": {"default"}})
	// Approve at the authorization server but stop before the callback.
	form := url.Values{"user": {"shop-user-3"}, "decision": {"approve"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	target, _ := page.Request.URL.Parse("/authorize/consent")
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := carol.do(req, carol.noRedirects())
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || callback.Query().Get("code") == "" || callback.Query().Get("state") == "" {
		t.Fatalf("consent did not redirect to the callback with a code: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ = http.NewRequest(http.MethodGet, callback.String(), nil)
	resp, body = mallory.do(req, mallory.client)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown, expired or already used") {
		t.Errorf("callback with another user's state: %d\n%s", resp.StatusCode, body)
	}
	if mallory.connection().Connected || carol.connection().Connected {
		t.Error("a callback with another user's state stored a credential")
	}
	// The attempt did not use up the flow of the user it belongs to.
	resp, body = carol.do(req, carol.client)
	if resp.StatusCode != http.StatusOK || !carol.connection().Connected {
		t.Errorf("the owner's callback after the foreign attempt: %d\n%s", resp.StatusCode, body)
	}
}

func testRateLimit(t *testing.T, s *scaffold, app string) {
	dave := newBrowser(t, app, s.c.prefix, "4")
	client := dave.noRedirects()
	for i := 1; i <= 6; i++ {
		req, _ := http.NewRequest(http.MethodPost, app+s.c.prefix+"/connect", strings.NewReader("server=default"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := dave.do(req, client)
		switch {
		case i <= 5 && resp.StatusCode != http.StatusSeeOther:
			t.Fatalf("connect %d: %d, want 303\n%s", i, resp.StatusCode, body)
		case i == 6 && (resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == ""):
			t.Fatalf("connect 6 within a minute: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
