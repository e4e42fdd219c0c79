package mcpoauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testRedirectURL is the app's callback. The tests never serve it: the
// test authorization server redirects there and the test reads where.
const testRedirectURL = "http://127.0.0.1:8080/mcp_connections/callback"

// flowFixture is an app wired to a test authorization server: its Flow
// (the browser side) and Clients (the background side) over a migrated
// test database, logging into logs.
type flowFixture struct {
	as      *testAuthServer
	store   *Store[testUser]
	db      *MemoryStorage[testUser]
	clock   *testClock
	servers *Registry
	flow    *Flow[testUser]
	clients *Clients[testUser]
	logs    *bytes.Buffer
}

func newFlowFixture(t testing.TB, servers ...Server) *flowFixture {
	t.Helper()
	store, db, clock := newTestStore(t)
	return newFlowFixtureWith(t, store, db, clock, servers...)
}

// newFlowFixtureWith is newFlowFixture over a store of the caller's, on
// the migrated test database db, its clock read from clock.
func newFlowFixtureWith(t testing.TB, store *Store[testUser], db *MemoryStorage[testUser], clock *testClock, servers ...Server) *flowFixture {
	t.Helper()
	as := newTestAuthServer(t)
	if len(servers) == 0 {
		servers = []Server{
			{Key: "default", URL: as.MCPURL},
			{Key: "sse", URL: as.SSEURL},
		}
	}
	for i := range servers {
		if servers[i].URL == "" {
			servers[i].URL = as.MCPURL
		}
	}
	reg, err := NewRegistry(servers...)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &flowFixture{
		as: as, store: store, db: db, clock: clock, servers: reg, logs: logs,
		flow:    &Flow[testUser]{Store: store, Servers: reg, RedirectURL: testRedirectURL, Logger: logger},
		clients: &Clients[testUser]{Store: store, Servers: reg, Logger: logger},
	}
}

// connect runs the whole browser flow for user on the server with key.
func (f *flowFixture) connect(t testing.TB, user testUser, key string) *Credential[testUser] {
	t.Helper()
	authURL, err := f.flow.Start(context.Background(), user, key)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if key == "" {
		key = "default"
	}
	cred, err := f.flow.Complete(context.Background(), user, key, f.as.authorize(t, authURL))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return cred
}

// startParams starts a flow and returns the authorization request's query.
func (f *flowFixture) startParams(t *testing.T, user testUser) url.Values {
	t.Helper()
	authURL, err := f.flow.Start(context.Background(), user, "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// whoami calls the test server's whoami tool through session.
func whoami(t testing.TB, session *mcp.ClientSession) string {
	t.Helper()
	res, err := session.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("whoami returned %d contents, want 1", len(res.Content))
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("whoami returned %T, want text", res.Content[0])
	}
	return text.Text
}

// noNetwork is an HTTP transport that fails the test when used.
type noNetwork struct{ t *testing.T }

func (n noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected request to %s", r.URL)
	return nil, errors.New("no network in this test")
}

func TestFlowDiscoversFromTheChallenge(t *testing.T) {
	f := newFlowFixture(t)
	f.as.ChallengeMetadata = true // metadata only at the URL the 401 names
	user := seedUser(t, f.db)
	q := f.startParams(t, user)

	for name, want := range map[string]string{
		"response_type":         "code",
		"redirect_uri":          "http://127.0.0.1:8080/mcp_connections/default/callback", // the server's own
		"resource":              f.as.MCPURL,
		"code_challenge_method": "S256",
		"scope":                 "mcp:read mcp:write", // all the server supports: none configured
	} {
		if got := q.Get(name); got != want {
			t.Errorf("authorization request %s = %q, want %q", name, got, want)
		}
	}
	if q.Get("state") == "" || q.Get("code_challenge") == "" || q.Get("client_id") == "" {
		t.Errorf("authorization request lacks state, code_challenge or client_id: %v", q)
	}
}

func TestFlowDiscoversFromTheWellKnownURL(t *testing.T) {
	f := newFlowFixture(t) // the 401 names no metadata
	cred := f.connect(t, seedUser(t, f.db), "")
	if cred.Issuer != f.as.Issuer {
		t.Errorf("credential issuer = %q, want %q", cred.Issuer, f.as.Issuer)
	}
}

func TestFlowRefusesMetadataOfAnotherResource(t *testing.T) {
	f := newFlowFixture(t)
	f.as.ResourceOverride = "https://elsewhere.example.com/mcp"
	_, err := f.flow.Start(context.Background(), seedUser(t, f.db), "")
	if !errors.Is(err, ErrDiscovery) {
		t.Fatalf("Start with metadata for another resource: err = %v, want ErrDiscovery", err)
	}
}

func TestFlowRefusesServerWithoutS256(t *testing.T) {
	for name, methods := range map[string][]string{
		"no PKCE":    {},
		"plain only": {"plain"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFlowFixture(t)
			f.as.ChallengeMethods = methods
			user := seedUser(t, f.db)
			if _, err := f.flow.Start(context.Background(), user, ""); !errors.Is(err, ErrNoS256) {
				t.Fatalf("Start: err = %v, want ErrNoS256", err)
			}
			if n := countRows(t, f.db, "mcp_oauth_states", user); n != 0 {
				t.Errorf("a refused flow left %d state rows", n)
			}
		})
	}
}

func TestFlowRefusesUnknownServer(t *testing.T) {
	f := newFlowFixture(t)
	if _, err := f.flow.Start(context.Background(), seedUser(t, f.db), "nope"); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("Start with an unknown key: err = %v, want ErrUnknownServer", err)
	}
}

func TestFlowRegistersOncePerIssuer(t *testing.T) {
	f := newFlowFixture(t)
	first := f.startParams(t, seedUser(t, f.db))
	second := f.startParams(t, seedUser(t, f.db))

	if n := f.as.Registrations(); n != 1 {
		t.Errorf("two users caused %d registrations, want 1", n)
	}
	if first.Get("client_id") != second.Get("client_id") {
		t.Errorf("users got clients %q and %q, want the same", first.Get("client_id"), second.Get("client_id"))
	}
	stored, err := f.store.FindClient(context.Background(), f.as.Issuer)
	if err != nil || stored.ClientID != first.Get("client_id") || stored.ClientSecret == "" {
		t.Errorf("stored client = %v, %v; want %s with its secret", stored, err, first.Get("client_id"))
	}
}

func TestFlowUsesPreRegisteredClient(t *testing.T) {
	f := newFlowFixture(t, Server{Key: "default", ClientID: testStaticClientID, ClientSecret: testStaticClientSecret})
	user := seedUser(t, f.db)
	if got := f.startParams(t, user).Get("client_id"); got != testStaticClientID {
		t.Errorf("client_id = %q, want %q", got, testStaticClientID)
	}
	cred := f.connect(t, user, "")
	if f.as.Registrations() != 0 {
		t.Error("a pre-registered client registered dynamically")
	}
	if cred.Client.ClientID != testStaticClientID || cred.Client.ClientSecret != "" {
		t.Errorf("credential client = %v, want %s without the configured secret", cred.Client, testStaticClientID)
	}
	if _, err := f.flow.Refresh(context.Background(), user, ""); err != nil {
		t.Errorf("Refresh with the configured secret: %v", err)
	}
}

func TestFlowUsesClientIDMetadataDocument(t *testing.T) {
	f := newFlowFixture(t)
	f.as.SupportCIMD = true
	f.flow.ClientMetadataURL = "https://app.example.com/mcp_connections/client-metadata.json"
	user := seedUser(t, f.db)
	if got := f.startParams(t, user).Get("client_id"); got != f.flow.ClientMetadataURL {
		t.Errorf("client_id = %q, want the metadata document URL", got)
	}
	f.connect(t, user, "")
	if f.as.Registrations() != 0 {
		t.Error("registered dynamically though the server takes metadata documents")
	}
	doc, err := f.flow.ClientMetadata()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{f.flow.RedirectURLFor("default"), f.flow.RedirectURLFor("sse")}; doc.ClientID != f.flow.ClientMetadataURL || !slices.Equal(doc.RedirectURIs, want) {
		t.Errorf("client metadata document = %+v", doc)
	}
}

func TestFlowRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)

	authURL, err := f.flow.Start(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	// An abandoned flow must not look connected.
	if ok, err := f.store.HasCredential(ctx, user, f.as.MCPURL); err != nil || ok {
		t.Fatalf("after Start, HasCredential = %v, %v; want false", ok, err)
	}
	cred, err := f.flow.Complete(ctx, user, "default", f.as.authorize(t, authURL))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	stored, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Token.AccessToken == "" || stored.Token.RefreshToken == "" || stored.Token.AccessToken != cred.Token.AccessToken {
		t.Errorf("stored token = %v, want the exchanged one", stored.Token)
	}
	if stored.Issuer != f.as.Issuer || stored.GrantedScope != "mcp:read mcp:write" || stored.Client == nil {
		t.Errorf("stored credential = %v", stored)
	}
	if want := f.clock.Now().Add(time.Hour); !stored.Token.Expiry.Equal(want) {
		t.Errorf("token expiry = %v, want %v (expires_in on the app's clock)", stored.Token.Expiry, want)
	}
	if n := countRows(t, f.db, "mcp_oauth_states", user); n != 0 {
		t.Errorf("%d state rows left after the callback", n)
	}
}

func TestFlowKeepsSeveralPendingFlows(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	first, err := f.flow.Start(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.flow.Start(ctx, user, "") // another tab
	if err != nil {
		t.Fatal(err)
	}
	for _, authURL := range []string{second, first} {
		if _, err := f.flow.Complete(ctx, user, "default", f.as.authorize(t, authURL)); err != nil {
			t.Errorf("Complete: %v", err)
		}
	}
}

func TestFlowChecksIssuer(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*testAuthServer)
	}{
		{"missing though advertised", func(as *testAuthServer) { as.OmitIss = true }},
		{"another issuer", func(as *testAuthServer) { as.WrongIss = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFlowFixture(t)
			tc.set(f.as)
			user := seedUser(t, f.db)
			authURL, err := f.flow.Start(ctx, user, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.flow.Complete(ctx, user, "default", f.as.authorize(t, authURL)); !errors.Is(err, ErrIssuerMismatch) {
				t.Errorf("Complete: err = %v, want ErrIssuerMismatch", err)
			}
			if ok, _ := f.store.HasCredential(ctx, user, f.as.MCPURL); ok {
				t.Error("a credential was stored")
			}
		})
	}
}

func TestFlowRejectsAnotherUsersState(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	alice, mallory := seedUser(t, f.db), seedUser(t, f.db)
	authURL, err := f.flow.Start(ctx, alice, "")
	if err != nil {
		t.Fatal(err)
	}
	callback := f.as.authorize(t, authURL)
	if _, err := f.flow.Complete(ctx, mallory, "default", callback); !errors.Is(err, ErrStateInvalid) {
		t.Fatalf("Complete by another user: err = %v, want ErrStateInvalid", err)
	}
	if ok, _ := f.store.HasCredential(ctx, mallory, f.as.MCPURL); ok {
		t.Error("the other user got a credential")
	}
	if _, err := f.flow.Complete(ctx, alice, "default", callback); err != nil {
		t.Errorf("Complete by the user who started it, afterwards: %v", err)
	}
}

func TestFlowRejectsExpiredState(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	authURL, err := f.flow.Start(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	callback := f.as.authorize(t, authURL)
	f.clock.Advance(DefaultStateTTL + time.Second)
	_, err = f.flow.Complete(ctx, user, "default", callback)
	if !errors.Is(err, ErrStateInvalid) || !errors.Is(err, ErrStateExpired) {
		t.Errorf("Complete after expiry: err = %v, want ErrStateInvalid and ErrStateExpired", err)
	}
}

func TestFlowStateIsSingleUse(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	authURL, err := f.flow.Start(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	callback := f.as.authorize(t, authURL)
	if _, err := f.flow.Complete(ctx, user, "default", callback); err != nil {
		t.Fatal(err)
	}
	if _, err := f.flow.Complete(ctx, user, "default", callback); !errors.Is(err, ErrStateInvalid) {
		t.Errorf("second Complete: err = %v, want ErrStateInvalid", err)
	}
}

func TestFlowRejectsMalformedCallbacks(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	for name, cb := range map[string]url.Values{
		"no state":       {"code": {"x"}},
		"repeated state": {"state": {"a", "b"}, "code": {"x"}},
		"long state":     {"state": {strings.Repeat("s", 600)}, "code": {"x"}},
		"control bytes":  {"state": {"a\x00b"}, "code": {"x"}},
	} {
		if _, err := f.flow.Complete(ctx, user, "default", cb); !errors.Is(err, ErrStateInvalid) {
			t.Errorf("%s: err = %v, want ErrStateInvalid", name, err)
		}
	}
}

func TestFlowReportsCallbackError(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	state := f.startParams(t, user).Get("state")
	denied := url.Values{"state": {state}, "iss": {f.as.Issuer},
		"error": {"access_denied"}, "error_description": {"The user said <b>no</b>\x07"}}

	_, err := f.flow.Complete(ctx, user, "default", denied)
	var cbErr *CallbackError
	if !errors.As(err, &cbErr) {
		t.Fatalf("Complete: err = %v, want a *CallbackError", err)
	}
	if cbErr.Code != "access_denied" || cbErr.Description != "The user said <b>no</b>" {
		t.Errorf("CallbackError = %+v", cbErr)
	}
	if _, err := f.flow.Complete(ctx, user, "default", denied); !errors.Is(err, ErrStateInvalid) {
		t.Errorf("the error answer did not use up the state: err = %v", err)
	}
}

func TestClientsRefreshSendsResourceAndStoresRotatedToken(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	before := f.connect(t, user, "")

	if _, err := f.clients.Refresh(ctx, user, ""); err != nil || len(f.as.RefreshRequests()) != 0 {
		t.Fatalf("Refresh of a fresh token: err = %v after %d requests; want no request", err, len(f.as.RefreshRequests()))
	}
	f.clock.Advance(time.Hour - DefaultRefreshWindow/2) // expiring soon
	after, err := f.clients.Refresh(ctx, user, "")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	reqs := f.as.RefreshRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d refresh requests, want 1", len(reqs))
	}
	if got := reqs[0].Get("resource"); got != f.as.MCPURL {
		t.Errorf("refresh request resource = %q, want %q", got, f.as.MCPURL)
	}
	stored, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Token.AccessToken == before.Token.AccessToken || stored.Token.RefreshToken == before.Token.RefreshToken {
		t.Error("the rotated tokens were not stored")
	}
	if stored.Token != after.Token || !stored.LastRefreshedAt.Equal(f.clock.Now()) {
		t.Errorf("stored %v refreshed at %v, want %v at %v", stored.Token, stored.LastRefreshedAt, after.Token, f.clock.Now())
	}
}

func TestConcurrentRefreshesCoalesce(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	f.as.RefreshDelay = 50 * time.Millisecond
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.clock.Advance(time.Hour)

	// Two "processes": separate Stores and Clients over one database, so
	// only the database lock keeps them apart.
	other := &Clients[testUser]{Store: NewStore[testUser](f.db, f.store.keys, WithClock(f.clock.Now)), Servers: f.servers}
	var wg sync.WaitGroup
	tokens := make([]string, 10)
	for i := range tokens {
		c := f.clients
		if i%2 == 1 {
			c = other
		}
		wg.Go(func() {
			cred, err := c.Refresh(ctx, user, "")
			if err != nil {
				t.Errorf("Refresh %d: %v", i, err)
				return
			}
			tokens[i] = cred.Token.AccessToken
		})
	}
	wg.Wait()
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d concurrent callers sent %d refresh requests, want 1", len(tokens), n)
	}
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Errorf("caller %d got another token than caller 0", i)
		}
	}
}

func TestRefusedRefreshRequiresReauthorization(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.as.RefuseRefresh = true
	f.clock.Advance(time.Hour)

	if _, err := f.clients.Refresh(ctx, user, ""); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("Refresh: err = %v, want ErrReauthRequired", err)
	}
	stored, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
	if err != nil || !stored.ReauthRequired() {
		t.Fatalf("credential after refusal = %v, %v; want reauth required", stored, err)
	}
	if _, err := f.clients.Refresh(ctx, user, ""); !errors.Is(err, ErrReauthRequired) {
		t.Errorf("second Refresh: err = %v, want ErrReauthRequired", err)
	}
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d refresh requests, want 1: a refused grant is not retried", n)
	}

	// Connecting again clears it.
	f.as.RefuseRefresh = false
	if cred := f.connect(t, user, ""); cred.ReauthRequired() {
		t.Error("reconnecting did not clear the reauth mark")
	}
}

func TestForNeedsAUsableCredential(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	connected, stranger := seedUser(t, f.db), seedUser(t, f.db)
	f.connect(t, connected, "")
	if err := f.store.MarkReauthRequired(ctx, connected, f.as.MCPURL); err != nil {
		t.Fatal(err)
	}
	offline := &Clients[testUser]{Store: f.store, Servers: f.servers, HTTPClient: &http.Client{Transport: noNetwork{t}}}
	if _, err := offline.For(ctx, stranger, nil); !errors.Is(err, ErrNotAuthenticated) {
		t.Errorf("For a user who never connected: err = %v, want ErrNotAuthenticated", err)
	}
	if _, err := offline.For(ctx, connected, nil); !errors.Is(err, ErrReauthRequired) {
		t.Errorf("For a user who must reconnect: err = %v, want ErrReauthRequired", err)
	}
	if _, err := offline.For(ctx, connected, &ClientOptions{Server: "nope"}); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("For an unknown server: err = %v, want ErrUnknownServer", err)
	}
}

func TestForCallsToolsAsTheUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ClientOptions
		want string
	}{
		{"streamable", ClientOptions{}, "hello, resource-owner"},
		{"sse", ClientOptions{Server: "sse", Transport: SSE}, "hello, someone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlowFixture(t)
			user := seedUser(t, f.db)
			f.connect(t, user, tc.opts.Server)
			session, err := f.clients.For(context.Background(), user, &tc.opts)
			if err != nil {
				t.Fatalf("For: %v", err)
			}
			defer session.Close()
			if got := whoami(t, session); got != tc.want {
				t.Errorf("whoami = %q", got)
			}
		})
	}
}

func TestForRefreshesAheadOfExpiry(t *testing.T) {
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.clock.Advance(time.Hour - time.Minute)
	session, err := f.clients.For(context.Background(), user, nil)
	if err != nil {
		t.Fatalf("For: %v", err)
	}
	defer session.Close()
	whoami(t, session)
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
}

func TestForRefreshesOnceAfter401(t *testing.T) {
	t.Run("refresh helps", func(t *testing.T) {
		f := newFlowFixture(t)
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.as.invalidateAccessTokens() // revoked server-side: the app cannot tell
		session, err := f.clients.For(context.Background(), user, nil)
		if err != nil {
			t.Fatalf("For: %v", err)
		}
		defer session.Close()
		whoami(t, session)
		if n := len(f.as.RefreshRequests()); n != 1 {
			t.Errorf("%d refresh requests, want 1", n)
		}
	})
	t.Run("refresh refused", func(t *testing.T) {
		f := newFlowFixture(t)
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.as.invalidateAccessTokens()
		f.as.RefuseRefresh = true
		if _, err := f.clients.For(context.Background(), user, nil); !errors.Is(err, ErrReauthRequired) {
			t.Errorf("For: err = %v, want ErrReauthRequired", err)
		}
	})
	t.Run("fresh token refused too", func(t *testing.T) {
		ctx := context.Background()
		f := newFlowFixture(t)
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.as.RejectTokens = true
		if _, err := f.clients.For(ctx, user, nil); !errors.Is(err, ErrReauthRequired) {
			t.Errorf("For: err = %v, want ErrReauthRequired", err)
		}
		if n := len(f.as.RefreshRequests()); n != 1 {
			t.Errorf("%d refresh requests, want exactly 1", n)
		}
		if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || !c.ReauthRequired() {
			t.Errorf("credential = %v, %v; want reauth required", c, err)
		}
	})
}

func TestForReportsInsufficientScope(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	f.as.RequiredScope = "mcp:admin"
	user := seedUser(t, f.db)
	f.connect(t, user, "")

	_, err := f.clients.For(ctx, user, nil)
	var scopeErr *InsufficientScopeError
	if !errors.As(err, &scopeErr) || !errors.Is(err, ErrInsufficientScope) {
		t.Fatalf("For: err = %v, want an *InsufficientScopeError", err)
	}
	if scopeErr.Scope != "mcp:admin" || scopeErr.ServerKey != "default" || !scopeErr.StepUp {
		t.Errorf("InsufficientScopeError = %+v", scopeErr)
	}

	// The challenge's scope is recorded on the credential, where the
	// list shows it and the next connect asks for it, keeping what was
	// granted: the step-up needs nothing from the browser.
	if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || c.RequiredScope != "mcp:admin" {
		t.Fatalf("credential after the 403: %v, %v; want RequiredScope mcp:admin", c, err)
	}
	authURL, err := f.flow.Start(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	if got := u.Query().Get("scope"); got != "mcp:read mcp:write mcp:admin" {
		t.Errorf("step-up scope = %q, want %q", got, "mcp:read mcp:write mcp:admin")
	}

	// Connecting again grants it and clears the record.
	testScopes = append(testScopes, "mcp:admin")
	t.Cleanup(func() { testScopes = testScopes[:len(testScopes)-1] })
	cred := f.connect(t, user, "")
	if cred.RequiredScope != "" || !strings.Contains(cred.GrantedScope, "mcp:admin") {
		t.Errorf("after the step-up: granted %q, required %q", cred.GrantedScope, cred.RequiredScope)
	}
	session, err := f.clients.For(ctx, user, nil)
	if err != nil {
		t.Fatalf("For after the step-up: %v", err)
	}
	session.Close()
}

// A server refusing a call for a scope the user granted already gets no
// step-up: connecting again would only loop (the suite's
// auth/scope-retry-limit).
func TestInsufficientScopeAlreadyGranted(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.as.RefusedScope = "mcp:read"
	_, err := f.clients.For(ctx, user, nil)
	var scopeErr *InsufficientScopeError
	if !errors.As(err, &scopeErr) || scopeErr.StepUp {
		t.Fatalf("For: %v (%+v), want an InsufficientScopeError without a step-up", err, scopeErr)
	}
	if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || c.RequiredScope != "" {
		t.Errorf("credential: %v, %v; want no required scope", c, err)
	}
}

// A challenge naming an invalid scope is not recorded.
func TestInsufficientScopeWithAnInvalidScope(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	f.as.RequiredScope = `mcp:"admin"`
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	if _, err := f.clients.For(ctx, user, nil); err == nil {
		t.Fatal("For succeeded without the scope")
	}
	if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || c.RequiredScope != "" {
		t.Errorf("credential: %v, %v; want no required scope", c, err)
	}
}

func TestFlowRefreshNow(t *testing.T) {
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	before := f.connect(t, user, "")
	after, err := f.flow.Refresh(context.Background(), user, "")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if after.Token.AccessToken == before.Token.AccessToken {
		t.Error("Refresh kept the old access token")
	}
	if reqs := f.as.RefreshRequests(); len(reqs) != 1 || reqs[0].Get("resource") != f.as.MCPURL {
		t.Errorf("refresh requests = %v, want one with resource %s", reqs, f.as.MCPURL)
	}
}

func TestFlowDisconnectRevokes(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	cred := f.connect(t, user, "")
	if err := f.flow.Disconnect(ctx, user, ""); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if ok, _ := f.store.HasCredential(ctx, user, f.as.MCPURL); ok {
		t.Error("the credential is still there")
	}
	if revoked := f.as.Revoked(); len(revoked) != 1 || revoked[0] != cred.Token.RefreshToken {
		t.Errorf("revoked %d tokens, want the refresh token", len(revoked))
	}
	if err := f.flow.Disconnect(ctx, user, ""); err != nil {
		t.Errorf("Disconnect again: %v", err)
	}
}

func TestFlowNeverLogsSecrets(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.as.invalidateAccessTokens()
	session, err := f.clients.For(ctx, user, nil)
	if err != nil {
		t.Fatal(err)
	}
	session.Close()
	f.as.RefuseRefresh = true
	_, _ = f.flow.Refresh(ctx, user, "")
	_ = f.flow.Disconnect(ctx, user, "")

	logs := f.logs.String()
	if !strings.Contains(logs, "user connected") || !strings.Contains(logs, "refresh refused") {
		t.Errorf("the flow's events are not logged:\n%s", logs)
	}
	for _, s := range f.as.Issued() {
		if strings.Contains(logs, s) {
			t.Errorf("a code, token or secret (%.6s…) appears in the logs", s)
		}
	}
}

// Refresh in the field: some servers refuse a refresh while the access
// token is still valid. The token serves until it expires, the session
// does not ask again before then, and only a refusal after expiry ends
// the connection.
func TestRefreshRefusedEarlyKeepsTheToken(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.as.RefuseRefresh = true
	f.clock.Advance(56 * time.Minute) // within the 5-minute window of the hour's token

	session, err := f.clients.For(ctx, user, nil)
	if err != nil {
		t.Fatalf("For with a refresh refused early: %v", err)
	}
	for range 3 {
		if who := whoami(t, session); who == "" {
			t.Error("whoami answered nobody")
		}
	}
	session.Close()
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d refresh requests, want 1: a session does not ask again before the token expires", n)
	}
	if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || c.ReauthRequired() {
		t.Fatalf("credential after an early refusal: %v, %v; want it usable", c, err)
	}

	f.clock.Advance(5 * time.Minute) // expired
	if _, err := f.clients.For(ctx, user, nil); !errors.Is(err, ErrReauthRequired) {
		t.Errorf("For after expiry with refreshes refused: %v, want ErrReauthRequired", err)
	}
	if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || !c.ReauthRequired() {
		t.Errorf("credential after a refusal at expiry: %v, %v; want reauth required", c, err)
	}
}

// Refresh in the field: a bad minute at the token endpoint (5xx, 429
// with Retry-After, a connection reset) logs nobody out, even with the
// access token expired: the refresh fails, the credential is neither
// marked reauth-required nor deleted, and once the server is back the
// next refresh succeeds with the same refresh token.
func TestTransientRefreshFailuresKeepTheConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*testAuthServer, bool)
	}{
		{"500", func(as *testAuthServer, on bool) { as.RefreshStatus = map[bool]int{true: 500}[on] }},
		{"503", func(as *testAuthServer, on bool) { as.RefreshStatus = map[bool]int{true: 503}[on] }},
		{"429", func(as *testAuthServer, on bool) { as.RefreshStatus = map[bool]int{true: 429}[on] }},
		{"reset", func(as *testAuthServer, on bool) { as.RefreshReset = on }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFlowFixture(t)
			user := seedUser(t, f.db)
			f.connect(t, user, "")
			f.clock.Advance(2 * time.Hour) // expired for the app
			tc.fault(f.as, true)
			for range 3 {
				_, err := f.clients.Refresh(ctx, user, "")
				if !errors.Is(err, ErrRefreshUnavailable) || errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrNotAuthenticated) {
					t.Fatalf("Refresh during the fault: %v, want ErrRefreshUnavailable", err)
				}
			}
			c, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
			if err != nil || c.ReauthRequired() {
				t.Fatalf("credential during the fault: %v, %v; want it kept and usable", c, err)
			}
			tc.fault(f.as, false)
			f.clock.Advance(maxRetryAfter) // past any backoff
			if _, err := f.clients.Refresh(ctx, user, ""); err != nil {
				t.Fatalf("Refresh once the server is back: %v", err)
			}
		})
	}
}
