package mcpoauth_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgen/mcpgen/mcpoauth"
	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
)

// devFixture is one user's storage shared by two Clients (two processes'
// worth of in-process coalescing) against a dev server of the test's own.
type devFixture struct {
	auth    *devserver.Server
	store   *mcpoauth.Store[string]
	clients [2]*mcpoauth.Clients[string]
}

func newDevFixture(t *testing.T, cfg devserver.Config, scopes ...string) *devFixture {
	t.Helper()
	auth := devserver.StartTest(t, cfg)
	keys, err := mcpoauth.NewKeyring(make([]byte, mcpoauth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	servers, err := mcpoauth.NewRegistry(mcpoauth.Server{Key: "default", URL: auth.URLs().MCP, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	f := &devFixture{auth: auth, store: mcpoauth.NewStore(mcpoauth.NewMemoryStorage[string](), keys)}
	for i := range f.clients {
		f.clients[i] = &mcpoauth.Clients[string]{Store: f.store, Servers: servers}
	}
	ctx := context.Background()
	flow := &mcpoauth.Flow[string]{Store: f.store, Servers: servers, RedirectURL: "http://127.0.0.1:1/callback"}
	authURL, err := flow.Start(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	callback, err := devserver.Approve(ctx, authURL, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flow.Complete(ctx, "alice", "default", callback); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestShortTokensRefreshOncePerLifetime calls tools for three seconds from
// two Clients with 2-second tokens and the default 5-minute refresh
// window: the window shrinks to a quarter of the lifetime, so each token
// is renewed once, not on every request.
func TestShortTokensRefreshOncePerLifetime(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs for three seconds")
	}
	f := newDevFixture(t, devserver.Config{AccessTokenTTL: 2 * time.Second})
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, len(f.clients))
	calls := make([]int, len(f.clients))
	for i, c := range f.clients {
		wg.Go(func() {
			session, err := c.For(ctx, "alice", nil)
			if err != nil {
				errs <- err
				return
			}
			defer session.Close()
			for time.Now().Before(deadline) {
				if _, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err != nil {
					errs <- err
					return
				}
				calls[i]++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Renewed 0.5 s before expiry, a token lives 1.5 s: two renewals in
	// three seconds, three at most on a slow machine.
	st := f.auth.Stats()
	if st.Refreshes < 1 || st.Refreshes > 3 || len(st.TokenErrors) != 0 {
		t.Errorf("%d calls made %d refreshes, token errors %v; want one per token lifetime (1 to 3)", calls[0]+calls[1], st.Refreshes, st.TokenErrors)
	}
}

func TestTokenExpiresSoonWithinAQuarterOfItsLifetime(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	short := mcpoauth.Token{IssuedAt: now, Expiry: now.Add(4 * time.Second)}
	long := mcpoauth.Token{IssuedAt: now, Expiry: now.Add(time.Hour)}
	unknown := mcpoauth.Token{Expiry: now.Add(4 * time.Second)} // stored before IssuedAt existed
	for _, tc := range []struct {
		name string
		tok  mcpoauth.Token
		at   time.Duration
		want bool
	}{
		{"short, fresh", short, 2 * time.Second, false},
		{"short, last quarter", short, 3 * time.Second, true},
		{"long, before the window", long, 54 * time.Minute, false},
		{"long, in the window", long, 56 * time.Minute, true},
		{"issue time unknown: the whole window", unknown, 0, true},
	} {
		if got := tc.tok.ExpiresSoon(now.Add(tc.at), 5*time.Minute); got != tc.want {
			t.Errorf("%s: ExpiresSoon = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOfflineAccessWhenAdvertised connects with configured scopes to a
// server that issues refresh tokens only for offline_access, and lists
// it: the flow asks for it too.
func TestOfflineAccessWhenAdvertised(t *testing.T) {
	f := newDevFixture(t, devserver.Config{OfflineAccess: true}, devserver.ScopeRead)
	srv, _ := f.clients[0].Servers.Default()
	cred, err := f.store.FindCredential(context.Background(), "alice", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Token.RefreshToken == "" || !slices.Contains(strings.Fields(cred.GrantedScope), "offline_access") {
		t.Errorf("granted %q, refresh token issued: %v; want offline_access and a refresh token", cred.GrantedScope, cred.Token.RefreshToken != "")
	}
}
