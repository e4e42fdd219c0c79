package api

// This test runs once mcpgen is installed: a signed-in user connects
// through gin (devserver.Connect: connect, consent,
// callback) and is listed as connected; an anonymous request is refused.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth/devserver"

	"example.com/ginapp/internal/mcpoauth"
	"example.com/ginapp/internal/mcpoauth/mcpoauthtest"
)

func TestConnectionsThroughTheAppsRouter(t *testing.T) {
	auth := devserver.StartTest(t, devserver.Config{})
	db := mcpoauthtest.Open(t)
	user := mcpoauthtest.SeedUser(t, db.DB) // users has a required, unique column
	var app http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	t.Setenv("MCP_OAUTH_ENCRYPTION_KEYS", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("DEFAULT_MCP_SERVER_URL", auth.URLs().MCP)
	t.Setenv("MCP_OAUTH_BASE_URL", srv.URL)
	app = Router(db.DB)

	signIn := func(r *http.Request) { r.Header.Set("X-User-ID", strconv.FormatInt(user, 10)) }
	if err := devserver.Connect(context.Background(), srv.URL+mcpoauth.RoutePrefix, "default", "alice", signIn); err != nil {
		t.Fatal(err)
	}
	list := func(signedIn bool) (*http.Response, []struct{ Connected bool }) {
		req := httptest.NewRequest(http.MethodGet, mcpoauth.RoutePrefix, nil)
		req.Header.Set("Accept", "application/json")
		if signedIn {
			signIn(req)
		}
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		var body struct{ Connections []struct{ Connected bool } }
		_ = json.NewDecoder(rec.Body).Decode(&body)
		return rec.Result(), body.Connections
	}
	if resp, conns := list(true); resp.StatusCode != http.StatusOK || len(conns) != 1 || !conns[0].Connected {
		t.Fatalf("list after connecting: %s %+v; want the default server connected", resp.Status, conns)
	}
	if resp, _ := list(false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("signed out: %s, want 401", resp.Status)
	}
}
