package mcpoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The handler tests' app, servers and prefixes.
const (
	handlerAppURL      = "https://app.example.com"
	handlerServer      = "https://mcp.example.com/mcp"
	handlerOtherServer = "https://tools.example.org/mcp"
	handlerPrefix      = "/mcp_connections"
	handlerAdminPrefix = "/admin/mcp_connections"
)

// jsonAccept is the header of an API client, answered in JSON.
var jsonAccept = []string{"Accept", "application/json"}

// testViews returns the views of testdata/views, copies of the views
// mcpgen generates.
func testViews(t testing.TB) Views {
	t.Helper()
	v, err := ParseViews(os.DirFS("testdata"), "views")
	if err != nil {
		t.Fatalf("ParseViews: %v", err)
	}
	return v
}

// handlerCredential returns a complete credential for userID at serverURL.
func handlerCredential(userID testUser, serverURL string, now time.Time) *Credential[testUser] {
	return &Credential[testUser]{
		UserID:    userID,
		ServerURL: serverURL,
		Issuer:    "https://auth.example.com",
		Token: Token{
			AccessToken:  testAccessToken,
			RefreshToken: testRefreshToken,
			TokenType:    "Bearer",
			Expiry:       now.Add(time.Hour),
			Scope:        "mcp:read mcp:write",
		},
		Client: &ClientInfo{
			ClientID:     "client-1",
			ClientSecret: testClientSecret,
			Issuer:       "https://auth.example.com",
			RedirectURIs: []string{handlerAppURL + handlerPrefix + "/callback"},
		},
		GrantedScope:    "mcp:read mcp:write",
		LastRefreshedAt: now,
	}
}

// fakeFlow stands in for the parts of a Flow that talk to an
// authorization server; Disconnect, Refresh and ClientMetadata are the
// real ones of the embedded Flow.
type fakeFlow struct {
	*Flow[testUser]
	authURL  string
	complete func(callback url.Values) (*Credential[testUser], error)

	mu        sync.Mutex
	started   []startCall
	refreshed int
}

// Refresh counts the refreshes that reach the flow, then refreshes.
func (f *fakeFlow) Refresh(ctx context.Context, userID testUser, serverKey string) (*Credential[testUser], error) {
	f.mu.Lock()
	f.refreshed++
	f.mu.Unlock()
	return f.Flow.Refresh(ctx, userID, serverKey)
}

func (f *fakeFlow) refreshes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshed
}

type startCall struct {
	user   testUser
	server string
	scopes []string
}

func (f *fakeFlow) StartWithScope(_ context.Context, userID testUser, serverKey string, scopes ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, startCall{userID, serverKey, scopes})
	return f.authURL, nil
}

func (f *fakeFlow) Complete(_ context.Context, _ testUser, _ string, callback url.Values) (*Credential[testUser], error) {
	if f.complete == nil {
		return nil, fmt.Errorf("complete: %w", ErrStateInvalid)
	}
	return f.complete(callback)
}

func (f *fakeFlow) starts() []startCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]startCall(nil), f.started...)
}

// syncBuffer is a log destination safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// handlerTest is a Handler over a MemoryStorage, with two servers,
// "default" and "other", the test views and a fake flow.
type handlerTest struct {
	t      *testing.T
	h      *Handler[testUser]
	cfg    HandlerConfig[testUser]
	prefix string
	store  *Store[testUser]
	db     *MemoryStorage[testUser]
	clock  *testClock
	flow   *fakeFlow
	logs   *syncBuffer
}

// newHandlerTest returns a handlerTest under handlerPrefix; configure, if
// not nil, edits the handler's configuration first.
func newHandlerTest(t *testing.T, configure func(*HandlerConfig[testUser])) *handlerTest {
	t.Helper()
	store, db, clock := newTestStore(t)
	// A fixed time of day: the day's rate limit window must not end
	// during the test.
	clock.now = time.Date(2026, 6, 1, 9, 0, 30, 0, time.UTC)
	servers, err := NewRegistry(Server{Key: DefaultServerKey, URL: handlerServer}, Server{Key: "other", URL: handlerOtherServer})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	flow := &Flow[testUser]{Store: store, Servers: servers, RedirectURL: handlerAppURL + handlerPrefix + "/callback", Now: clock.Now, Logger: logger}
	cfg := HandlerConfig[testUser]{
		Flow: flow, Clients: &Clients[testUser]{Store: store, Servers: servers}, Store: store, Servers: servers,
		Prefix: handlerPrefix, Logger: logger, Views: testViews(t),
	}
	if configure != nil {
		configure(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	fake := &fakeFlow{Flow: cfg.Flow, authURL: "https://auth.example.com/authorize?state=s1"}
	h.flow = fake
	return &handlerTest{t: t, h: h, cfg: cfg, prefix: cfg.Prefix, store: store, db: db, clock: clock, flow: fake, logs: logs}
}

// request returns a request as user (nil: anonymous), with form as its
// body when not nil, and header as name, value pairs.
func request(method, target string, user *testUser, form url.Values, header ...string) *http.Request {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if user != nil {
		req = req.WithContext(WithUser(req.Context(), *user))
	}
	return req
}

// do serves one request (see request) with the handler.
func (ht *handlerTest) do(method, target string, user *testUser, form url.Values, header ...string) *httptest.ResponseRecorder {
	ht.t.Helper()
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, request(method, target, user, form, header...))
	return rec
}

// connect posts the connect form for server as user.
func (ht *handlerTest) connect(user testUser, server string, header ...string) *httptest.ResponseRecorder {
	ht.t.Helper()
	return ht.do(http.MethodPost, ht.prefix+"/connect", &user, url.Values{"server": {server}}, header...)
}

// decode decodes a JSON answer.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body:\n%s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, rec.Body)
	}
	return v
}

// wantStatus fails the test unless rec has status.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body:\n%s", rec.Code, status, rec.Body)
	}
}

// wantRedirect fails the test unless rec is a 303 to location.
func wantRedirect(t *testing.T, rec *httptest.ResponseRecorder, location string) {
	t.Helper()
	wantStatus(t, rec, http.StatusSeeOther)
	if got := rec.Header().Get("Location"); got != location {
		t.Fatalf("Location %q, want %q", got, location)
	}
}

func TestHandlerAnonymous(t *testing.T) {
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	for _, tc := range []struct{ method, target string }{
		{http.MethodGet, p},
		{http.MethodPost, p + "/connect"},
		{http.MethodGet, p + "/default/callback?code=c&state=s"},
		{http.MethodPost, p + "/default/disconnect"},
		{http.MethodPost, p + "/default/refresh"},
		{http.MethodGet, p + "/default/tools"},
	} {
		rec := ht.do(tc.method, tc.target, nil, url.Values{"server": {DefaultServerKey}}, jsonAccept...)
		wantStatus(t, rec, http.StatusUnauthorized)
		if e := decode[ErrorResponse](t, rec); e.Error != "unauthenticated" {
			t.Errorf("%s %s: error %q", tc.method, tc.target, e.Error)
		}
	}
	if s := ht.flow.starts(); len(s) != 0 {
		t.Errorf("an anonymous request started a flow: %v", s)
	}
	// A browser without a login page gets the error page.
	rec := ht.do(http.MethodGet, p, nil, nil)
	wantStatus(t, rec, http.StatusUnauthorized)
	if page := rec.Body.String(); !strings.Contains(page, "<title>Sign in first</title>") {
		t.Errorf("401 page:\n%s", page)
	}

	// With a login page, browsers asking for a page go there and come back.
	ht = newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.LoginURL = "/login?next=1" })
	rec = ht.do(http.MethodGet, p+"/default/tools?x=1", nil, nil)
	wantRedirect(t, rec, "/login?next=1&return_to="+url.QueryEscape(p+"/default/tools?x=1"))
	// A form post or an API client is answered 401 all the same.
	wantStatus(t, ht.do(http.MethodPost, p+"/connect", nil, url.Values{"server": {DefaultServerKey}}), http.StatusUnauthorized)
	wantStatus(t, ht.do(http.MethodGet, p, nil, nil, jsonAccept...), http.StatusUnauthorized)

	// An absolute login URL keeps its host.
	ht = newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.LoginURL = "https://id.example.com/signin" })
	wantRedirect(t, ht.do(http.MethodGet, p, nil, nil), "https://id.example.com/signin?return_to="+url.QueryEscape(p))
}

func TestHandlerCurrentUser(t *testing.T) {
	var me testUser
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) {
		c.CurrentUser = func(r *http.Request) (testUser, bool) { return me, r.Header.Get("X-Signed-In") == "yes" }
	})
	me = seedUser(t, ht.db)
	if err := ht.store.SaveCredential(context.Background(), handlerCredential(me, handlerServer, ht.clock.Now())); err != nil {
		t.Fatal(err)
	}
	rec := ht.do(http.MethodGet, ht.prefix, nil, nil, append([]string{"X-Signed-In", "yes"}, jsonAccept...)...)
	wantStatus(t, rec, http.StatusOK)
	if list := decode[ConnectionList](t, rec); !list.Connections[0].Connected {
		t.Errorf("the app's user's connection is not listed: %+v", list)
	}
	// The context is not consulted when the app identifies users itself.
	wantStatus(t, ht.do(http.MethodGet, ht.prefix, &me, nil, jsonAccept...), http.StatusUnauthorized)
}

func TestFromContext(t *testing.T) {
	type key struct{}
	user := FromContext(func(ctx context.Context) (testUser, bool) { id, ok := ctx.Value(key{}).(testUser); return id, ok })
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := user(r); ok {
		t.Error("a request without the user is signed in")
	}
	if id, ok := user(r.WithContext(context.WithValue(r.Context(), key{}, testUser(7)))); !ok || id != 7 {
		t.Errorf("user = %v, %v; want 7, true", id, ok)
	}
}

func TestUserFromContext(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := UserFromContext[int64](req); ok {
		t.Error("a user in a bare request")
	}
	req = req.WithContext(WithUser(req.Context(), int64(42)))
	if id, ok := UserFromContext[int64](req); !ok || id != 42 {
		t.Errorf("UserFromContext[int64] = %v, %v; want 42, true", id, ok)
	}
	// Each user ID type has its own key.
	if id, ok := UserFromContext[string](req); ok {
		t.Errorf("UserFromContext[string] = %q, true; an int64 user read as a string", id)
	}
	req = req.WithContext(WithUser(req.Context(), "u-1"))
	if id, ok := UserFromContext[string](req); !ok || id != "u-1" {
		t.Errorf("UserFromContext[string] = %q, %v", id, ok)
	}
	if id, ok := UserFromContext[int64](req); !ok || id != 42 {
		t.Errorf("UserFromContext[int64] after a string user = %v, %v", id, ok)
	}
}

func TestNewHandlerRejectsBadConfig(t *testing.T) {
	ht := newHandlerTest(t, nil)
	good := ht.cfg
	for name, edit := range map[string]func(*HandlerConfig[testUser]){
		"no flow":               func(c *HandlerConfig[testUser]) { c.Flow = nil },
		"no clients":            func(c *HandlerConfig[testUser]) { c.Clients = nil },
		"no store":              func(c *HandlerConfig[testUser]) { c.Store = nil },
		"no servers":            func(c *HandlerConfig[testUser]) { c.Servers = nil },
		"login not a URL":       func(c *HandlerConfig[testUser]) { c.LoginURL = "login" },
		"no prefix":             func(c *HandlerConfig[testUser]) { c.Prefix = "" },
		"prefix /":              func(c *HandlerConfig[testUser]) { c.Prefix = "/" },
		"relative prefix":       func(c *HandlerConfig[testUser]) { c.Prefix = "mcp_connections" },
		"prefix with slash":     func(c *HandlerConfig[testUser]) { c.Prefix = "/mcp_connections/" },
		"prefix not clean":      func(c *HandlerConfig[testUser]) { c.Prefix = "/admin/../mcp" },
		"prefix with wildcard":  func(c *HandlerConfig[testUser]) { c.Prefix = "/{org}/mcp" },
		"prefix with a space":   func(c *HandlerConfig[testUser]) { c.Prefix = "/mcp connections" },
		"prefix with a query":   func(c *HandlerConfig[testUser]) { c.Prefix = "/mcp?x=1" },
		"prefix with a method":  func(c *HandlerConfig[testUser]) { c.Prefix = "GET /mcp" },
		"prefix double slashed": func(c *HandlerConfig[testUser]) { c.Prefix = "//mcp" },
	} {
		cfg := good
		edit(&cfg)
		if _, err := NewHandler(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewHandler(good); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestHandlerWarnsOfAnotherCallback(t *testing.T) {
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Prefix = handlerAdminPrefix })
	if !strings.Contains(ht.logs.String(), "redirect URL is not this handler's callback route") {
		t.Errorf("no warning for a redirect URL outside the prefix:\n%s", ht.logs)
	}
	ht = newHandlerTest(t, nil)
	if strings.Contains(ht.logs.String(), "redirect URL") {
		t.Errorf("a warning for the right redirect URL:\n%s", ht.logs)
	}
}

func TestHandlerPatterns(t *testing.T) {
	for _, prefix := range []string{handlerPrefix, handlerAdminPrefix} {
		ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Prefix = prefix })
		want := []string{
			"GET " + prefix,
			"POST " + prefix + "/connect",
			"GET " + prefix + "/{server}/callback",
			"POST " + prefix + "/{server}/disconnect",
			"POST " + prefix + "/{server}/refresh",
			"GET " + prefix + "/{server}/tools",
			"GET " + prefix + "/client-metadata.json",
		}
		got := ht.h.Patterns()
		if !slices.Equal(got, want) {
			t.Errorf("Patterns() = %q, want %q", got, want)
		}
		got[0] = "changed"
		if ht.h.Patterns()[0] != want[0] {
			t.Error("Patterns returns the handler's own slice")
		}
	}
}

func TestHandlerListsServers(t *testing.T) {
	ctx := context.Background()
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	user := seedUser(t, ht.db)
	if err := ht.store.SaveCredential(ctx, handlerCredential(user, handlerServer, ht.clock.Now())); err != nil {
		t.Fatal(err)
	}

	rec := ht.do(http.MethodGet, p+"?connected=default", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusOK)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	list := decode[ConnectionList](t, rec)
	if len(list.Connections) != 2 {
		t.Fatalf("connections: %+v, want default and other", list.Connections)
	}
	def, other := list.Connections[0], list.Connections[1]
	if def.Server != DefaultServerKey || def.URL != handlerServer || !def.Connected || def.ReauthRequired ||
		def.GrantedScope != "mcp:read mcp:write" || def.ExpiresAt == nil || def.ConnectedAt == nil || def.LastRefreshedAt == nil {
		t.Errorf("default: %+v", def)
	}
	if other.Server != "other" || other.Connected || other.ExpiresAt != nil {
		t.Errorf("other: %+v", other)
	}
	if list.Notice == nil || *list.Notice != (Notice{Kind: "connected", Server: DefaultServerKey}) {
		t.Errorf("notice %+v", list.Notice)
	}
	for _, secret := range []string{testAccessToken, testRefreshToken, testClientSecret} {
		if bytes.Contains(rec.Body.Bytes(), []byte(secret)) {
			t.Errorf("the list shows the secret %s", secret)
		}
	}

	// A notice names configured servers only.
	rec = ht.do(http.MethodGet, p+"?connected=%3Cb%3Ehi", &user, nil, jsonAccept...)
	if list := decode[ConnectionList](t, rec); list.Notice != nil {
		t.Errorf("notice %+v for an unknown server", list.Notice)
	}

	// A refused refresh shows: connect again.
	if err := ht.store.MarkReauthRequired(ctx, user, handlerServer); err != nil {
		t.Fatal(err)
	}
	list = decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...))
	if !list.Connections[0].ReauthRequired {
		t.Errorf("default: %+v, want reauth_required", list.Connections[0])
	}

	// Another user sees none of it.
	stranger := seedUser(t, ht.db)
	list = decode[ConnectionList](t, ht.do(http.MethodGet, p, &stranger, nil, jsonAccept...))
	if list.Connections[0].Connected {
		t.Error("another user's credential is listed")
	}

	// A browser gets the page.
	rec = ht.do(http.MethodGet, p+"?connected=default", &user, nil)
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	page := rec.Body.String()
	expiry := ht.clock.Now().Add(time.Hour)
	for _, want := range []string{
		"<title>MCP connections</title>",
		"<main>", "<caption>", `<th scope="col">Server</th>`, `<th scope="row">default`,
		`<p role="status">Connected to default.</p>`,
		`<form method="post" action="` + p + `/connect">`,
		`<input type="hidden" name="server" value="other">`,
		`<button type="submit">Connect default</button>`, // connect again after the refused refresh
		`action="` + p + `/default/disconnect"`,
		`action="` + p + `/default/refresh"`,
		`href="` + p + `/default/tools"`,
		`<time datetime="` + expiry.Format(time.RFC3339) + `">` + expiry.Format("2 Jan 2006 15:04 UTC") + `</time>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, testAccessToken) {
		t.Error("the page shows the access token")
	}
	if !strings.Contains(page, "the server no longer accepts this connection") {
		t.Errorf("page does not say why to connect again:\n%s", page)
	}

	// Without a refresh token, the list says so, not that the server refused.
	noRefresh := handlerCredential(user, handlerServer, ht.clock.Now())
	noRefresh.Token.RefreshToken = ""
	if err := ht.store.SaveCredential(ctx, noRefresh); err != nil {
		t.Fatal(err)
	}
	if err := ht.store.MarkReauthRequired(ctx, user, handlerServer); err != nil {
		t.Fatal(err)
	}
	if c := decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...)).Connections[0]; !c.NoRefreshToken || !c.ReauthRequired {
		t.Errorf("default without a refresh token: %+v, want no_refresh_token and reauth_required", c)
	}
	if page := ht.do(http.MethodGet, p, &user, nil).Body.String(); !strings.Contains(page, "the access token expired and the server issued no refresh token") {
		t.Errorf("page does not say no refresh token was issued:\n%s", page)
	}

	// A server that asked for more scope: the list offers to connect again.
	stepUp := handlerCredential(user, handlerServer, ht.clock.Now())
	stepUp.RequiredScope = "mcp:admin"
	if err := ht.store.SaveCredential(ctx, stepUp); err != nil {
		t.Fatal(err)
	}
	if c := decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...)).Connections[0]; c.RequiredScope != "mcp:admin" || c.ReauthRequired {
		t.Errorf("default with a step-up: %+v, want required_scope mcp:admin", c)
	}
	page = ht.do(http.MethodGet, p, &user, nil).Body.String()
	for _, want := range []string{"to grant the access the server asked for: <code>mcp:admin</code>", "<button type=\"submit\">Connect default</button>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page with a step-up lacks %s:\n%s", want, page)
		}
	}
}

func TestHandlerSetsSecurityHeaders(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	for _, rec := range []*httptest.ResponseRecorder{
		ht.do(http.MethodGet, ht.prefix, &user, nil),
		ht.do(http.MethodGet, ht.prefix, nil, nil, jsonAccept...),
		ht.do(http.MethodGet, ht.prefix+"/nope/tools", &user, nil),
		ht.connect(user, DefaultServerKey),
		ht.connect(user, DefaultServerKey, "Sec-Fetch-Site", "cross-site"),
	} {
		for name, want := range map[string]string{
			"Cache-Control":           "no-store",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": "frame-ancestors 'none'",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := rec.Header().Get(name); got != want {
				t.Errorf("%d answer: %s %q, want %q", rec.Code, name, got, want)
			}
		}
	}
}

func TestHandlerConnectRedirectsToTheAuthorizationServer(t *testing.T) {
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	user := seedUser(t, ht.db)

	wantRedirect(t, ht.connect(user, "other"), ht.flow.authURL)
	wantRedirect(t, ht.do(http.MethodPost, p+"/connect", &user, url.Values{}), ht.flow.authURL)
	wantRedirect(t, ht.do(http.MethodPost, p+"/connect", &user,
		url.Values{"server": {DefaultServerKey}, "scope": {"mcp:read  mcp:admin"}}), ht.flow.authURL)
	// A scope in the request is not the browser's to choose: the flow
	// asks for the configured, challenged and recorded ones alone.
	starts := ht.flow.starts()
	if len(starts) != 3 || starts[0].user != user || starts[0].server != "other" || starts[1].server != DefaultServerKey ||
		len(starts[2].scopes) != 0 {
		t.Errorf("flows started: %+v", starts)
	}

	// An API client gets the location in the body too.
	rec := ht.connect(user, "other", jsonAccept...)
	wantRedirect(t, rec, ht.flow.authURL)
	if got := decode[map[string]string](t, rec)["location"]; got != ht.flow.authURL {
		t.Errorf("location in the body: %q", got)
	}

	// A form too large to be a connect form is refused.
	rec = ht.do(http.MethodPost, p+"/connect", &user, url.Values{"server": {strings.Repeat("x", maxFormBytes)}}, jsonAccept...)
	wantStatus(t, rec, http.StatusBadRequest)
	if n := len(ht.flow.starts()); n != 4 {
		t.Errorf("%d flows started, want 4", n)
	}
}

func TestHandlerConnectWithoutDefaultServer(t *testing.T) {
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) {
		servers, err := NewRegistry(Server{Key: "other", URL: handlerOtherServer}, Server{Key: "third", URL: handlerServer})
		if err != nil {
			t.Fatal(err)
		}
		c.Servers, c.Flow.Servers = servers, servers
	})
	user := seedUser(t, ht.db)
	rec := ht.do(http.MethodPost, ht.prefix+"/connect", &user, url.Values{}, jsonAccept...)
	wantStatus(t, rec, http.StatusBadRequest)
	if e := decode[ErrorResponse](t, rec); e.Error != "bad_request" || !strings.Contains(e.Message, "Choose") {
		t.Errorf("error %+v", e)
	}
}

func TestHandlerUnknownServer(t *testing.T) {
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	user := seedUser(t, ht.db)
	for _, rec := range []*httptest.ResponseRecorder{
		ht.connect(user, "nope", jsonAccept...),
		ht.connect(user, "../default", jsonAccept...),
		ht.do(http.MethodPost, p+"/nope/disconnect", &user, nil, jsonAccept...),
		ht.do(http.MethodPost, p+"/nope/refresh", &user, nil, jsonAccept...),
		ht.do(http.MethodGet, p+"/nope/tools", &user, nil, jsonAccept...),
	} {
		wantStatus(t, rec, http.StatusNotFound)
		if e := decode[ErrorResponse](t, rec); e.Error != "not_found" {
			t.Errorf("error %q", e.Error)
		}
	}
	if s := ht.flow.starts(); len(s) != 0 {
		t.Errorf("flows started for unknown servers: %v", s)
	}
	// Other paths under the prefix are not found, and GET is no way to connect.
	wantStatus(t, ht.do(http.MethodGet, p+"/nope", &user, nil), http.StatusNotFound)
	wantStatus(t, ht.do(http.MethodGet, p+"/connect", &user, nil), http.StatusMethodNotAllowed)
	wantStatus(t, ht.do(http.MethodGet, "/elsewhere", &user, nil), http.StatusNotFound)

	// The browser's 404 page.
	rec := ht.do(http.MethodGet, p+"/nope/tools", &user, nil)
	wantStatus(t, rec, http.StatusNotFound)
	if page := rec.Body.String(); !strings.Contains(page, "<title>No such MCP server</title>") || !strings.Contains(page, `<a href="`+p+`">`) {
		t.Errorf("404 page:\n%s", page)
	}
}

func TestHandlerRateLimitsConnect(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user, other := seedUser(t, ht.db), seedUser(t, ht.db)
	ht.flow.complete = func(url.Values) (*Credential[testUser], error) {
		return &Credential[testUser]{UserID: user, ServerURL: handlerServer}, nil
	}
	callback := func(u testUser) *httptest.ResponseRecorder {
		return ht.do(http.MethodGet, ht.prefix+"/default/callback?code=c&state=s", &u, nil, jsonAccept...)
	}

	// Five a minute; callbacks spend the states connects made, and are
	// not counted.
	for range 5 {
		wantRedirect(t, ht.connect(user, DefaultServerKey), ht.flow.authURL)
		wantStatus(t, callback(user), http.StatusSeeOther)
	}
	for _, rec := range []*httptest.ResponseRecorder{ht.connect(user, DefaultServerKey, jsonAccept...)} {
		wantStatus(t, rec, http.StatusTooManyRequests)
		// The clock is at 09:00:30: the minute's window ends in 30 seconds.
		if ra := rec.Header().Get("Retry-After"); ra != "30" {
			t.Errorf("Retry-After %q, want 30", ra)
		}
		e := decode[ErrorResponse](t, rec)
		if e.Error != "rate_limited" || !strings.Contains(e.Message, "30 seconds") {
			t.Errorf("error %+v", e)
		}
	}
	if n := len(ht.flow.starts()); n != 5 {
		t.Errorf("%d flows started, want 5: a refused request must not reach the flow", n)
	}
	// Another user has limits of their own.
	wantStatus(t, ht.connect(other, DefaultServerKey), http.StatusSeeOther)

	// Twenty a day: refused requests do not count, so fifteen more fit,
	// three a minute.
	for i := range 15 {
		if i%3 == 0 {
			ht.clock.Advance(time.Minute)
		}
		wantStatus(t, ht.connect(user, DefaultServerKey), http.StatusSeeOther)
	}
	ht.clock.Advance(time.Minute)
	rec := ht.connect(user, DefaultServerKey, jsonAccept...)
	wantStatus(t, rec, http.StatusTooManyRequests)
	now := ht.clock.Now()
	untilMidnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now)
	if ra := rec.Header().Get("Retry-After"); ra != strconv.Itoa(int(untilMidnight/time.Second)) {
		t.Errorf("Retry-After %q, want %d (the end of the day's window)", ra, int(untilMidnight/time.Second))
	}
	if e := decode[ErrorResponse](t, rec); !strings.Contains(e.Message, "15 hours") {
		t.Errorf("message %q, want the wait in hours", e.Message)
	}
	// The list and the other routes are not limited.
	wantStatus(t, ht.do(http.MethodGet, ht.prefix, &user, nil), http.StatusOK)
	wantStatus(t, ht.do(http.MethodPost, ht.prefix+"/default/disconnect", &user, nil), http.StatusSeeOther)
}

// Attack 4: another site sending the browser to the callback with bogus
// states used up the connect limit, locking the user out for a day.
// Callbacks count nothing now: the user can still connect.
func TestAttackCallbacksDoNotLockTheUserOut(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	ht.flow.complete = func(url.Values) (*Credential[testUser], error) { return nil, ErrStateInvalid }
	for range 30 {
		rec := ht.do(http.MethodGet, ht.prefix+"/default/callback?code=c&state=forged", &user, nil, jsonAccept...)
		if rec.Code == http.StatusTooManyRequests {
			t.Fatal("a forged callback was rate limited: it counted against the user")
		}
	}
	wantRedirect(t, ht.connect(user, DefaultServerKey), ht.flow.authURL)
}

// Attack 4: Refresh and the tools page had no limit (30 refresh POSTs
// were 30 refresh grants; 10 tools pages, 10 MCP sessions). They share
// DefaultCallRateLimits now; refused requests reach nothing.
func TestAttackRefreshAndToolsAreRateLimited(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	listed := 0
	ht.h.listTools = func(context.Context, testUser, string) ([]*mcp.Tool, error) { listed++; return nil, nil }
	limit := DefaultCallRateLimits[0].Max
	ok, limited := 0, 0
	for i := range 30 {
		var rec *httptest.ResponseRecorder
		if i%2 == 0 {
			rec = ht.do(http.MethodPost, ht.prefix+"/default/refresh", &user, nil, jsonAccept...)
		} else {
			rec = ht.do(http.MethodGet, ht.prefix+"/default/tools", &user, nil, jsonAccept...)
		}
		if rec.Code == http.StatusTooManyRequests {
			limited++
			if e := decode[ErrorResponse](t, rec); e.Error != "rate_limited" || !strings.Contains(e.Message, "MCP server") {
				t.Errorf("refused: %+v", e)
			}
		} else {
			ok++
		}
	}
	if ok != limit || limited != 30-limit {
		t.Errorf("%d answered, %d refused; want %d and %d", ok, limited, limit, 30-limit)
	}
	if refreshes := ht.flow.refreshes(); refreshes+listed != limit {
		t.Errorf("%d refreshes and %d tool lists reached the servers, want %d in all", refreshes, listed, limit)
	}
	// Connecting has a limit of its own.
	wantRedirect(t, ht.connect(user, DefaultServerKey), ht.flow.authURL)
}

func TestHandlerUsesTheConfiguredRateLimiter(t *testing.T) {
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) {
		l, err := NewRateLimiter(c.Store, RateLimit{Name: "strict", Max: 1, Window: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c.RateLimiter = l
	})
	user := seedUser(t, ht.db)
	wantStatus(t, ht.connect(user, DefaultServerKey), http.StatusSeeOther)
	rec := ht.connect(user, DefaultServerKey, jsonAccept...)
	wantStatus(t, rec, http.StatusTooManyRequests)
	// 09:00:30: the hour's window ends in 59 minutes 30 seconds.
	if ra := rec.Header().Get("Retry-After"); ra != "3570" {
		t.Errorf("Retry-After %q, want 3570", ra)
	}
	if e := decode[ErrorResponse](t, rec); !strings.Contains(e.Message, "60 minutes") {
		t.Errorf("message %q", e.Message)
	}
}

func TestHandlerSweepsEndedRateWindows(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	wantStatus(t, ht.connect(user, DefaultServerKey), http.StatusSeeOther)
	counts := func() int {
		ht.db.mu.Lock()
		defer ht.db.mu.Unlock()
		return len(ht.db.counts)
	}
	if n := counts(); n != 2 {
		t.Fatalf("%d counts, want 2: the minute's and the day's", n)
	}
	// Two days on, the next request sweeps the ended windows away.
	ht.clock.Advance(48 * time.Hour)
	wantStatus(t, ht.connect(user, DefaultServerKey), http.StatusSeeOther)
	if n := counts(); n != 2 {
		t.Errorf("%d counts after the sweep, want 2: today's", n)
	}
}

func TestHandlerRefusesCrossOriginPosts(t *testing.T) {
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	user := seedUser(t, ht.db)
	for _, header := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"}, // the test request's host is example.com
	} {
		for _, target := range []string{"/connect", "/default/disconnect", "/default/refresh"} {
			rec := ht.do(http.MethodPost, p+target, &user, url.Values{"server": {DefaultServerKey}}, append(header, jsonAccept...)...)
			wantStatus(t, rec, http.StatusForbidden)
			if e := decode[ErrorResponse](t, rec); e.Error != "cross_origin" {
				t.Errorf("%s %v: error %q", target, header, e.Error)
			}
		}
	}
	if s := ht.flow.starts(); len(s) != 0 {
		t.Fatalf("a cross-origin post started a flow: %v", s)
	}
	// A browser gets the error page.
	rec := ht.connect(user, DefaultServerKey, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, rec, http.StatusForbidden)
	if page := rec.Body.String(); !strings.Contains(page, "<title>Request refused</title>") {
		t.Errorf("cross-origin page:\n%s", page)
	}
	wantStatus(t, ht.connect(user, DefaultServerKey, "Sec-Fetch-Site", "same-origin"), http.StatusSeeOther)
	wantStatus(t, ht.connect(user, DefaultServerKey, "Origin", "http://example.com"), http.StatusSeeOther)
}

func TestHandlerUsesTheConfiguredCrossOriginProtection(t *testing.T) {
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) {
		c.CrossOrigin = http.NewCrossOriginProtection()
		if err := c.CrossOrigin.AddTrustedOrigin("https://admin.example.com"); err != nil {
			t.Fatal(err)
		}
	})
	user := seedUser(t, ht.db)
	wantStatus(t, ht.connect(user, DefaultServerKey, "Origin", "https://admin.example.com"), http.StatusSeeOther)
	// The app's protection answers the refusal its own way.
	wantStatus(t, ht.connect(user, DefaultServerKey, "Origin", "https://evil.example"), http.StatusForbidden)
	if n := len(ht.flow.starts()); n != 1 {
		t.Errorf("%d flows started, want 1", n)
	}
}

func TestHandlerCallbackShowsAuthorizationServerErrorsEscaped(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	desc := `<script>alert("owned")</script>` + "\x1b[2J\r\n"
	ht.flow.complete = func(cb url.Values) (*Credential[testUser], error) {
		return nil, &CallbackError{Code: cb.Get("error"), Description: cb.Get("error_description")}
	}
	target := ht.prefix + "/default/callback?" + url.Values{"error": {"access_denied"}, "error_description": {desc}, "state": {"s"}}.Encode()

	rec := ht.do(http.MethodGet, target, &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusBadRequest)
	if bytes.Contains(rec.Body.Bytes(), []byte("<script>")) {
		t.Errorf("JSON answer holds raw HTML:\n%s", rec.Body)
	}
	e := decode[ErrorResponse](t, rec)
	if e.Error != "authorization_failed" || e.AuthorizationServer == nil || e.AuthorizationServer.Code != "access_denied" ||
		e.AuthorizationServer.Description != `<script>alert("owned")</script>[2J` || !strings.Contains(e.Message, "denied") {
		t.Errorf("error %+v %+v", e, e.AuthorizationServer)
	}

	// Also when the flow does not say it was the server's error.
	ht.flow.complete = func(url.Values) (*Credential[testUser], error) { return nil, ErrStateInvalid }
	e = decode[ErrorResponse](t, ht.do(http.MethodGet, target, &user, nil, jsonAccept...))
	if e.Error != "authorization_failed" || e.AuthorizationServer == nil || e.AuthorizationServer.Code != "access_denied" {
		t.Errorf("error %+v", e)
	}

	// Long texts are cut.
	long := ht.prefix + "/default/callback?" + url.Values{"error": {"server_error"}, "error_description": {strings.Repeat("é", 500)}}.Encode()
	e = decode[ErrorResponse](t, ht.do(http.MethodGet, long, &user, nil, jsonAccept...))
	if d := e.AuthorizationServer.Description; d != strings.Repeat("é", maxASText)+"…" || e.Message != authorizationMessages["server_error"] {
		t.Errorf("long description: %q (%q)", d, e.Message)
	}

	rec = ht.do(http.MethodGet, target, &user, nil)
	wantStatus(t, rec, http.StatusBadRequest)
	page := rec.Body.String()
	if strings.Contains(page, "<script>") || strings.Contains(page, "\x1b") {
		t.Errorf("error page holds the description raw:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;") || !strings.Contains(page, "<code>access_denied</code>") {
		t.Errorf("error page does not show the description escaped:\n%s", page)
	}
}

func TestHandlerCallbackCompletes(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	var got url.Values
	ht.flow.complete = func(cb url.Values) (*Credential[testUser], error) {
		got = cb
		return &Credential[testUser]{UserID: user, ServerURL: handlerOtherServer}, nil
	}
	wantRedirect(t, ht.do(http.MethodGet, ht.prefix+"/default/callback?code=c1&state=s1&iss=https%3A%2F%2Fauth.example.com", &user, nil),
		ht.prefix+"?connected=other")
	if got.Get("code") != "c1" || got.Get("state") != "s1" || got.Get("iss") != "https://auth.example.com" {
		t.Errorf("flow completed with %v", got)
	}
	if rp := ht.do(http.MethodGet, ht.prefix+"/default/callback?code=c1&state=s1", &user, nil).Header().Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q: the callback URL holds the code", rp)
	}
}

func TestHandlerCallbackErrors(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("complete: %w", ErrStateInvalid), http.StatusBadRequest, "invalid_state"},
		{fmt.Errorf("complete: %w: %w", ErrStateInvalid, ErrStateExpired), http.StatusBadRequest, "invalid_state"},
		{fmt.Errorf("complete: %w", ErrIssuerMismatch), http.StatusBadRequest, "authorization_failed"},
		{errors.New("token endpoint: 500 secret-looking-detail"), http.StatusBadGateway, "upstream_error"},
	} {
		ht.flow.complete = func(url.Values) (*Credential[testUser], error) { return nil, tc.err }
		rec := ht.do(http.MethodGet, ht.prefix+"/default/callback?code=c&state=s", &user, nil, jsonAccept...)
		wantStatus(t, rec, tc.status)
		if e := decode[ErrorResponse](t, rec); e.Error != tc.code {
			t.Errorf("%v: error %q, want %q", tc.err, e.Error, tc.code)
		}
		if strings.Contains(rec.Body.String(), "secret-looking-detail") {
			t.Errorf("%v: the answer shows the internal error", tc.err)
		}
	}
	if !strings.Contains(ht.logs.String(), "secret-looking-detail") {
		t.Errorf("the internal error was not logged:\n%s", ht.logs)
	}
	rec := ht.do(http.MethodGet, ht.prefix+"/default/callback?code=c&state=s", &user, nil)
	if page := rec.Body.String(); !strings.Contains(page, "<title>MCP server unavailable</title>") {
		t.Errorf("502 page:\n%s", page)
	}
}

func TestHandlerDisconnect(t *testing.T) {
	ctx := context.Background()
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	user := seedUser(t, ht.db)
	// Never connected: nothing to do, and it says done.
	wantRedirect(t, ht.do(http.MethodPost, p+"/default/disconnect", &user, nil), p+"?disconnected=default")
	list := decode[ConnectionList](t, ht.do(http.MethodGet, p+"?disconnected=default", &user, nil, jsonAccept...))
	if list.Notice == nil || list.Notice.Kind != "disconnected" || list.Connections[0].Connected {
		t.Errorf("list after disconnect: %+v", list)
	}

	// Connected: the credential is gone (the test issuer is not reached:
	// it publishes no revocation endpoint anyone could find).
	if err := ht.store.SaveCredential(ctx, handlerCredential(user, handlerOtherServer, ht.clock.Now())); err != nil {
		t.Fatal(err)
	}
	ht.h.clients.HTTPClient = &http.Client{Transport: noNetwork{t}}
	ht.flow.Flow.HTTPClient = &http.Client{Transport: errTransport{}}
	rec := ht.do(http.MethodPost, p+"/other/disconnect", &user, nil, jsonAccept...)
	wantRedirect(t, rec, p+"?disconnected=other")
	if got := decode[map[string]string](t, rec)["location"]; got != p+"?disconnected=other" {
		t.Errorf("location in the body: %q", got)
	}
	if ok, err := ht.store.HasCredential(ctx, user, handlerOtherServer); err != nil || ok {
		t.Errorf("after disconnecting, HasCredential = %v, %v", ok, err)
	}
}

// errTransport fails every request, as an unreachable server does.
type errTransport struct{}

func (errTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("unreachable")
}

func TestHandlerRefreshErrors(t *testing.T) {
	ctx := context.Background()
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	rec := ht.do(http.MethodPost, ht.prefix+"/default/refresh", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusConflict)
	if e := decode[ErrorResponse](t, rec); e.Error != "not_connected" || e.Server != DefaultServerKey || !e.Reconnect() {
		t.Errorf("error %+v", e)
	}

	// A credential marked for re-authorization is not refreshed.
	if err := ht.store.SaveCredential(ctx, handlerCredential(user, handlerServer, ht.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := ht.store.MarkReauthRequired(ctx, user, handlerServer); err != nil {
		t.Fatal(err)
	}
	ht.flow.Flow.HTTPClient = &http.Client{Transport: noNetwork{t}}
	rec = ht.do(http.MethodPost, ht.prefix+"/default/refresh", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusConflict)
	if e := decode[ErrorResponse](t, rec); e.Error != "reauth_required" || e.Server != DefaultServerKey {
		t.Errorf("error %+v", e)
	}
	page := ht.do(http.MethodPost, ht.prefix+"/default/refresh", &user, nil).Body.String()
	for _, want := range []string{"<title>Connect again</title>", `<input type="hidden" name="server" value="default">`, `<button type="submit">Connect default</button>`} {
		if !strings.Contains(page, want) {
			t.Errorf("reauth page lacks %s:\n%s", want, page)
		}
	}
}

func TestHandlerTools(t *testing.T) {
	ht := newHandlerTest(t, nil)
	p := ht.prefix
	user := seedUser(t, ht.db)

	// Not connected: the real client factory says so without a request.
	ht.h.clients.HTTPClient = &http.Client{Transport: noNetwork{t}}
	rec := ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusConflict)
	if e := decode[ErrorResponse](t, rec); e.Error != "not_connected" || e.Server != DefaultServerKey {
		t.Errorf("error %+v", e)
	}

	var asked []string
	ht.h.listTools = func(_ context.Context, u testUser, key string) ([]*mcp.Tool, error) {
		asked = append(asked, key)
		return []*mcp.Tool{
			{Name: "echo", Description: "Echoes <its> input"},
			{Name: "add", Annotations: &mcp.ToolAnnotations{Title: "Add numbers"}},
		}, nil
	}
	rec = ht.do(http.MethodGet, p+"/other/tools", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusOK)
	tools := decode[ToolList](t, rec)
	if tools.Server != "other" || len(tools.Tools) != 2 || tools.Tools[0] != (ToolSummary{Name: "echo", Description: "Echoes <its> input"}) ||
		tools.Tools[1].Title != "Add numbers" || len(asked) != 1 || asked[0] != "other" {
		t.Errorf("tools %+v (asked %v)", tools, asked)
	}
	page := ht.do(http.MethodGet, p+"/other/tools", &user, nil).Body.String()
	for _, want := range []string{"<title>Tools of other</title>", "<caption>", `<th scope="row"><code>echo</code></th>`, "Echoes &lt;its&gt; input", `href="` + p + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("tools page lacks %s:\n%s", want, page)
		}
	}

	// None: an empty list, not null.
	ht.h.listTools = func(context.Context, testUser, string) ([]*mcp.Tool, error) { return nil, nil }
	rec = ht.do(http.MethodGet, p+"/other/tools", &user, nil, jsonAccept...)
	if !strings.Contains(rec.Body.String(), `"tools":[]`) {
		t.Errorf("no tools: %s", rec.Body)
	}

	// A server asking for more scope: connect again, asking for it.
	ht.h.listTools = func(context.Context, testUser, string) ([]*mcp.Tool, error) {
		return nil, fmt.Errorf("list tools: %w", &InsufficientScopeError{ServerKey: DefaultServerKey, Scope: "mcp:read mcp:admin"})
	}
	rec = ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusForbidden)
	if e := decode[ErrorResponse](t, rec); e.Error != "insufficient_scope" || e.Scope != "mcp:read mcp:admin" || e.Server != DefaultServerKey {
		t.Errorf("error %+v", e)
	}
	page = ht.do(http.MethodGet, p+"/default/tools", &user, nil).Body.String()
	for _, want := range []string{
		`<form method="post" action="` + p + `/connect">`,
		`<input type="hidden" name="server" value="default">`,
		`<button type="submit">Connect default with more access</button>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("insufficient scope page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, `name="scope"`) {
		t.Errorf("the page lets the browser choose the scope:\n%s", page)
	}
	wantStatus(t, ht.do(http.MethodPost, p+"/connect", &user,
		url.Values{"server": {DefaultServerKey}, "scope": {"mcp:read mcp:admin"}}), http.StatusSeeOther)
	if s := ht.flow.starts(); len(s) != 1 || len(s[0].scopes) != 0 {
		t.Errorf("reconnect started %+v: want no scope from the request", s)
	}

	// Other failures: logged, a generic message shown.
	ht.h.listTools = func(context.Context, testUser, string) ([]*mcp.Tool, error) {
		return nil, errors.New("connection refused by 10.0.0.7")
	}
	rec = ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusBadGateway)
	if strings.Contains(rec.Body.String(), "10.0.0.7") || !strings.Contains(ht.logs.String(), "10.0.0.7") {
		t.Errorf("internal error shown or not logged:\n%s\n%s", rec.Body, ht.logs)
	}
}

func TestHandlerServesClientMetadata(t *testing.T) {
	const cimd = handlerAppURL + handlerPrefix + "/client-metadata.json"
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Flow.ClientMetadataURL = cimd })
	rec := ht.do(http.MethodGet, handlerPrefix+"/client-metadata.json", nil, nil) // authorization servers are anonymous
	wantStatus(t, rec, http.StatusOK)
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", cc)
	}
	doc := decode[ClientMetadataDocument](t, rec)
	if doc.ClientID != cimd || !slices.Equal(doc.RedirectURIs, []string{handlerAppURL + handlerPrefix + "/default/callback", handlerAppURL + handlerPrefix + "/other/callback"}) {
		t.Errorf("document %+v", doc)
	}

	ht = newHandlerTest(t, nil)
	wantStatus(t, ht.do(http.MethodGet, handlerPrefix+"/client-metadata.json", nil, nil), http.StatusNotFound)
}

func TestHandlerUnderAnotherPrefix(t *testing.T) {
	const p = handlerAdminPrefix
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) {
		c.Prefix = p
		c.Flow.RedirectURL = handlerAppURL + p + "/callback"
		c.Flow.ClientMetadataURL = handlerAppURL + p + "/client-metadata.json"
		c.LoginURL = "/login"
	})
	user := seedUser(t, ht.db)
	ht.flow.complete = func(url.Values) (*Credential[testUser], error) {
		return &Credential[testUser]{UserID: user, ServerURL: handlerServer}, nil
	}
	if strings.Contains(ht.logs.String(), "redirect URL") {
		t.Errorf("a warning for the right redirect URL:\n%s", ht.logs)
	}

	// Every route is under the prefix, and the redirects go back there.
	wantRedirect(t, ht.connect(user, DefaultServerKey), ht.flow.authURL)
	wantRedirect(t, ht.do(http.MethodGet, p+"/default/callback?code=c&state=s", &user, nil), p+"?connected=default")
	wantRedirect(t, ht.do(http.MethodPost, p+"/other/disconnect", &user, nil), p+"?disconnected=other")
	wantStatus(t, ht.do(http.MethodPost, p+"/default/refresh", &user, nil, jsonAccept...), http.StatusConflict)
	wantStatus(t, ht.do(http.MethodGet, p+"/client-metadata.json", nil, nil), http.StatusOK)
	wantRedirect(t, ht.do(http.MethodGet, p, nil, nil), "/login?return_to="+url.QueryEscape(p))
	rec := ht.do(http.MethodGet, p+"?disconnected=other", &user, nil)
	wantStatus(t, rec, http.StatusOK)
	page := rec.Body.String()
	for _, want := range []string{
		`<p role="status">Disconnected from other.</p>`,
		`<form method="post" action="` + p + `/connect">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, `"`+handlerPrefix) {
		t.Errorf("page links to the default prefix:\n%s", page)
	}
	// Nothing is served at the default prefix.
	for _, target := range []string{handlerPrefix, handlerPrefix + "/default/tools", handlerPrefix + "/client-metadata.json"} {
		wantStatus(t, ht.do(http.MethodGet, target, &user, nil), http.StatusNotFound)
	}

	// Registered on the app's mux beside its own routes.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the app's admin") })
	mux.HandleFunc("GET /mcp_connections", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the app's page") })
	ht.h.Register(mux)
	for target, want := range map[string]string{
		"/admin/users":     "the app's admin",
		"/mcp_connections": "the app's page",
		p:                  `"connections":[`,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(http.MethodGet, target, &user, nil, jsonAccept...))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: %d %s, want %s", target, rec.Code, rec.Body, want)
		}
	}
}

func TestHandlerWithoutViewsAnswersJSON(t *testing.T) {
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Views = nil; c.LoginURL = "/login" })
	user := seedUser(t, ht.db)
	// A browser gets JSON too.
	rec := ht.do(http.MethodGet, ht.prefix, &user, nil, "Accept", "text/html")
	wantStatus(t, rec, http.StatusOK)
	if list := decode[ConnectionList](t, rec); len(list.Connections) != 2 {
		t.Errorf("list %+v", list)
	}
	rec = ht.connect(user, DefaultServerKey, "Accept", "text/html")
	wantRedirect(t, rec, ht.flow.authURL)
	if got := decode[map[string]string](t, rec)["location"]; got != ht.flow.authURL {
		t.Errorf("location in the body: %q", got)
	}
	rec = ht.do(http.MethodGet, ht.prefix+"/nope/tools", &user, nil)
	wantStatus(t, rec, http.StatusNotFound)
	if e := decode[ErrorResponse](t, rec); e.Error != "not_found" {
		t.Errorf("error %+v", e)
	}
	// Anonymous browsers still go to the login page.
	wantRedirect(t, ht.do(http.MethodGet, ht.prefix, nil, nil), "/login?return_to="+url.QueryEscape(ht.prefix))
}

// failingViews writes half a page and fails.
type failingViews struct{}

func (failingViews) Render(w io.Writer, page string, _ *ViewData) error {
	io.WriteString(w, "<html>half of "+page)
	return errors.New("the view broke")
}

// recordingViews records what it renders.
type recordingViews struct {
	pages []string
	data  []*ViewData
}

func (v *recordingViews) Render(w io.Writer, page string, data *ViewData) error {
	v.pages, v.data = append(v.pages, page), append(v.data, data)
	_, err := io.WriteString(w, "page "+page)
	return err
}

func TestHandlerViews(t *testing.T) {
	views := &recordingViews{}
	ht := newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Views = views; c.Prefix = handlerAdminPrefix })
	user := seedUser(t, ht.db)
	ht.h.listTools = func(context.Context, testUser, string) ([]*mcp.Tool, error) { return nil, nil }
	wantStatus(t, ht.do(http.MethodGet, ht.prefix, &user, nil), http.StatusOK)
	wantStatus(t, ht.do(http.MethodGet, ht.prefix+"/other/tools", &user, nil), http.StatusOK)
	wantStatus(t, ht.do(http.MethodGet, ht.prefix+"/nope/tools", &user, nil), http.StatusNotFound)
	ht.h.listTools = func(context.Context, testUser, string) ([]*mcp.Tool, error) { return nil, errors.New("teapot") }
	wantStatus(t, ht.do(http.MethodGet, ht.prefix+"/other/tools", &user, nil), http.StatusBadGateway)
	if !slices.Equal(views.pages, []string{"index", "tools", "error", "error"}) {
		t.Fatalf("pages %v", views.pages)
	}
	for i, d := range views.data {
		if d.Prefix != handlerAdminPrefix {
			t.Errorf("page %d: prefix %q", i, d.Prefix)
		}
	}
	if d := views.data[0]; d.Title != "MCP connections" || d.List == nil || d.Tools != nil || d.Error != nil {
		t.Errorf("index data %+v", d)
	}
	if d := views.data[1]; d.Title != "Tools of other" || d.Tools == nil || d.Tools.Server != "other" || d.List != nil {
		t.Errorf("tools data %+v", d)
	}
	if d := views.data[2]; d.Title != "No such MCP server" || d.Error == nil || d.Error.Error != "not_found" {
		t.Errorf("error data %+v", d)
	}
	if d := views.data[3]; d.Title != "MCP server unavailable" || d.Error.Server != "other" {
		t.Errorf("error data %+v", d)
	}

	// A view that fails: 500, and nothing of the half page.
	ht = newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Views = failingViews{} })
	rec := ht.do(http.MethodGet, ht.prefix, &user, nil)
	wantStatus(t, rec, http.StatusInternalServerError)
	if strings.Contains(rec.Body.String(), "half") || !strings.Contains(ht.logs.String(), "the view broke") {
		t.Errorf("failed view: %s\nlogs: %s", rec.Body, ht.logs)
	}
}

func TestParseViews(t *testing.T) {
	files := fstest.MapFS{}
	for _, name := range []string{"layout", "index", "tools", "error"} {
		b, err := os.ReadFile("testdata/views/" + name + ".html")
		if err != nil {
			t.Fatal(err)
		}
		files["app/views/mcp_connections/"+name+".html"] = &fstest.MapFile{Data: b}
	}
	v, err := ParseViews(files, "app/views/mcp_connections")
	if err != nil {
		t.Fatalf("ParseViews: %v", err)
	}
	var buf bytes.Buffer
	err = v.Render(&buf, "error", &ViewData{Prefix: "/x", Title: "T<itle>", Error: &ErrorResponse{Error: "not_connected", Server: "s", Message: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>T&lt;itle&gt;</title>", `action="/x/connect"`, `<a href="/x">`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("error page lacks %s:\n%s", want, buf.String())
		}
	}
	if err := v.Render(io.Discard, "nope", &ViewData{}); err == nil {
		t.Error("an unknown page rendered")
	}

	broken := func(edit func(fstest.MapFS)) fstest.MapFS {
		fs := fstest.MapFS{}
		for k, f := range files {
			fs[k] = f
		}
		edit(fs)
		return fs
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no tools page": broken(func(fs fstest.MapFS) { delete(fs, "app/views/mcp_connections/tools.html") }),
		"no layout":     broken(func(fs fstest.MapFS) { delete(fs, "app/views/mcp_connections/layout.html") }),
		"layout defines no layout": broken(func(fs fstest.MapFS) {
			fs["app/views/mcp_connections/layout.html"] = &fstest.MapFile{Data: []byte(`{{define "page"}}{{end}}`)}
		}),
		"syntax error": broken(func(fs fstest.MapFS) {
			fs["app/views/mcp_connections/index.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.List}`)}
		}),
		"unknown function": broken(func(fs fstest.MapFS) {
			fs["app/views/mcp_connections/index.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{shout .Title}}{{end}}`)}
		}),
	} {
		if _, err := ParseViews(fsys, "app/views/mcp_connections"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ParseViews(files, "elsewhere"); err == nil {
		t.Error("another folder: no error")
	}
	if _, err := ParseViews(nil, "."); err == nil {
		t.Error("no file system: no error")
	}
}

func TestUnavailable(t *testing.T) {
	const reason = "MCP connections are not configured: MCP_OAUTH_KEYS is not set"
	for _, prefix := range []string{handlerPrefix, handlerAdminPrefix} {
		u := Unavailable(prefix, reason)
		mux := http.NewServeMux()
		mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the app") })
		for _, p := range RoutePatterns(prefix) {
			mux.Handle(p, u)
		}
		serve := func(method, target string, header ...string) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, request(method, target, nil, nil, header...))
			return rec
		}
		for _, tc := range []struct{ method, target string }{
			{http.MethodGet, prefix},
			{http.MethodPost, prefix + "/connect"},
			{http.MethodGet, prefix + "/default/callback?code=c&state=s"},
			{http.MethodPost, prefix + "/default/disconnect"},
			{http.MethodPost, prefix + "/default/refresh"},
			{http.MethodGet, prefix + "/default/tools"},
			{http.MethodGet, prefix + "/client-metadata.json"},
		} {
			rec := serve(tc.method, tc.target)
			wantStatus(t, rec, http.StatusServiceUnavailable)
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || !strings.Contains(rec.Body.String(), reason) {
				t.Errorf("%s %s: %q %s", tc.method, tc.target, rec.Header().Get("Content-Type"), rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: Cache-Control %q", tc.method, tc.target, rec.Header().Get("Cache-Control"))
			}
			rec = serve(tc.method, tc.target, jsonAccept...)
			wantStatus(t, rec, http.StatusServiceUnavailable)
			if e := decode[ErrorResponse](t, rec); e.Error != "unavailable" || e.Message != reason {
				t.Errorf("%s %s: %+v", tc.method, tc.target, e)
			}
		}
		// Other paths and methods are the app's.
		for _, target := range []string{"/home", prefix + "/nope", prefix + "/connect"} {
			if rec := serve(http.MethodGet, target); rec.Body.String() != "the app" {
				t.Errorf("GET %s: %d %s, want the app's page", target, rec.Code, rec.Body)
			}
		}
	}
	// On its own, or mounted on the subtree, it answers the same.
	u := Unavailable(handlerAdminPrefix, reason)
	mux := http.NewServeMux()
	mux.Handle(handlerAdminPrefix+"/", u)
	for target, status := range map[string]int{
		handlerAdminPrefix + "/default/tools": http.StatusServiceUnavailable,
		handlerAdminPrefix + "/default/other": http.StatusNotFound,
		handlerAdminPrefix + "/connect":       http.StatusMethodNotAllowed,
	} {
		for _, h := range []http.Handler{u, mux} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
			wantStatus(t, rec, status)
		}
	}
	if RoutePatterns("/mcp/") != nil {
		t.Error("RoutePatterns of a malformed prefix")
	}
	if got, want := RoutePatterns(handlerAdminPrefix), newHandlerTest(t, func(c *HandlerConfig[testUser]) { c.Prefix = handlerAdminPrefix }).h.Patterns(); !slices.Equal(got, want) {
		t.Errorf("RoutePatterns %q, Patterns %q", got, want)
	}

	// A malformed prefix: everything is unavailable.
	rec := httptest.NewRecorder()
	Unavailable("mcp", reason).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/anything", nil))
	wantStatus(t, rec, http.StatusServiceUnavailable)
}

// TestHandlerEndToEnd runs the handler with the real Flow and Clients
// against the test authorization server (see oauthserver_test.go), under
// a non-default prefix: connect, callback, tools, refresh, step-up to a
// wider scope, disconnect. No token reaches the logs.
func TestHandlerEndToEnd(t *testing.T) {
	const p = handlerAdminPrefix
	f := newFlowFixture(t)
	f.flow.RedirectURL = "http://127.0.0.1:8080" + p + "/callback"
	logs := &syncBuffer{}
	h, err := NewHandler(HandlerConfig[testUser]{Flow: f.flow, Clients: f.clients, Store: f.store, Servers: f.servers,
		Prefix: p, Views: testViews(t),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ht := &handlerTest{t: t, h: h, prefix: p, store: f.store, db: f.db, clock: f.clock, logs: logs}
	user := seedUser(t, f.db)
	connect := func(form url.Values) {
		t.Helper()
		f.clock.Advance(time.Minute) // a connection is two requests of five a minute
		rec := ht.do(http.MethodPost, p+"/connect", &user, form)
		wantStatus(t, rec, http.StatusSeeOther)
		callback := f.as.authorize(t, rec.Header().Get("Location"))
		wantRedirect(t, ht.do(http.MethodGet, p+"/default/callback?"+callback.Encode(), &user, nil), p+"?connected=default")
	}
	connect(url.Values{"server": {DefaultServerKey}})

	list := decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...))
	if c := list.Connections[0]; c.Server != DefaultServerKey || !c.Connected || c.GrantedScope != "mcp:read mcp:write" || c.ExpiresAt == nil {
		t.Errorf("after connecting: %+v", c)
	}
	tools := decode[ToolList](t, ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...))
	if len(tools.Tools) != 1 || tools.Tools[0].Name != "whoami" {
		t.Errorf("tools %+v", tools)
	}
	if page := ht.do(http.MethodGet, p+"/default/tools", &user, nil).Body.String(); !strings.Contains(page, "<code>whoami</code>") {
		t.Errorf("tools page:\n%s", page)
	}
	wantRedirect(t, ht.do(http.MethodPost, p+"/default/refresh", &user, nil), p+"?refreshed=default")
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}

	// The server now wants mcp:admin: the tools page says so, and
	// connecting again asks for it on top of what was granted.
	f.as.RequiredScope = "mcp:admin"
	rec := ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusForbidden)
	e := decode[ErrorResponse](t, rec)
	if e.Error != "insufficient_scope" || e.Scope != "mcp:admin" {
		t.Fatalf("error %+v", e)
	}
	connect(url.Values{"server": {e.Server}, "scope": {e.Scope}})
	tools = decode[ToolList](t, ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...))
	if len(tools.Tools) != 1 {
		t.Errorf("tools after the step-up: %+v", tools)
	}

	// A refresh refused while the access token is valid: it keeps
	// working, and the list does not ask to connect again.
	f.as.RefuseRefresh = true
	rec = ht.do(http.MethodPost, p+"/default/refresh", &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusConflict)
	if e := decode[ErrorResponse](t, rec); e.Error != "refresh_refused_early" {
		t.Errorf("refresh refused early: %+v", e)
	}
	list = decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...))
	if list.Connections[0].ReauthRequired {
		t.Errorf("after a refresh refused early: %+v", list.Connections[0])
	}
	if tools = decode[ToolList](t, ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...)); len(tools.Tools) != 1 {
		t.Errorf("tools after a refresh refused early: %+v", tools)
	}
	// Once the server rejects the token too, refused again: connect again.
	f.as.invalidateAccessTokens()
	rec = ht.do(http.MethodGet, p+"/default/tools", &user, nil, jsonAccept...)
	if e := decode[ErrorResponse](t, rec); e.Error != "reauth_required" {
		t.Errorf("refused refresh of a rejected token: %d %+v", rec.Code, e)
	}
	list = decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...))
	if !list.Connections[0].ReauthRequired {
		t.Errorf("after a refused refresh: %+v", list.Connections[0])
	}
	f.as.RefuseRefresh = false
	connect(url.Values{"server": {DefaultServerKey}})

	wantRedirect(t, ht.do(http.MethodPost, p+"/default/disconnect", &user, nil), p+"?disconnected=default")
	if len(f.as.Revoked()) == 0 {
		t.Error("disconnect revoked nothing")
	}
	list = decode[ConnectionList](t, ht.do(http.MethodGet, p, &user, nil, jsonAccept...))
	if list.Connections[0].Connected {
		t.Errorf("after disconnecting: %+v", list.Connections[0])
	}

	// A replayed callback: the state was used.
	f.clock.Advance(time.Minute)
	rec = ht.do(http.MethodPost, p+"/connect", &user, url.Values{"server": {DefaultServerKey}})
	callback := f.as.authorize(t, rec.Header().Get("Location"))
	wantStatus(t, ht.do(http.MethodGet, p+"/default/callback?"+callback.Encode(), &user, nil), http.StatusSeeOther)
	rec = ht.do(http.MethodGet, p+"/default/callback?"+callback.Encode(), &user, nil, jsonAccept...)
	wantStatus(t, rec, http.StatusBadRequest)
	if e := decode[ErrorResponse](t, rec); e.Error != "invalid_state" {
		t.Errorf("replayed callback: %+v", e)
	}

	issued := f.as.Issued()
	if len(issued) == 0 {
		t.Fatal("the test server issued nothing")
	}
	for _, secret := range issued {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the handler's log holds %s:\n%s", secret, logs)
		}
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the flow's log holds %s", secret)
		}
	}
}
