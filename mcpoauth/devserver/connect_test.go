package devserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth"
	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
)

// TestConnect connects a user through the runtime's pages mounted on an
// app's router, as an app's own test would.
func TestConnect(t *testing.T) {
	auth := devserver.StartTest(t, devserver.Config{})
	keys, err := mcpoauth.NewKeyring(make([]byte, mcpoauth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	servers, err := mcpoauth.NewRegistry(mcpoauth.Server{Key: "default", URL: auth.URLs().MCP})
	if err != nil {
		t.Fatal(err)
	}
	store := mcpoauth.NewStore(mcpoauth.NewMemoryStorage[string](), keys)
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	const prefix = "/mcp_connections"
	h, err := mcpoauth.NewHandler(mcpoauth.HandlerConfig[string]{
		Flow:    &mcpoauth.Flow[string]{Store: store, Servers: servers, RedirectURL: app.URL + prefix + "/callback"},
		Clients: &mcpoauth.Clients[string]{Store: store, Servers: servers},
		Store:   store, Servers: servers, Prefix: prefix,
		CurrentUser: func(r *http.Request) (string, bool) { u := r.Header.Get("X-User"); return u, u != "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(mux)

	signIn := func(r *http.Request) { r.Header.Set("X-User", "u1") }
	ctx := context.Background()
	if err := devserver.Connect(ctx, app.URL+prefix, "default", "alice", signIn); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.HasCredential(ctx, "u1", auth.URLs().MCP); err != nil || !ok {
		t.Fatalf("after Connect: connected = %v, %v; want a stored credential", ok, err)
	}
	// A signed-out browser is not redirected to the authorization server.
	if err := devserver.Connect(ctx, app.URL+prefix, "default", "alice", func(*http.Request) {}); err == nil {
		t.Fatal("Connect signed out: no error")
	}
}
