package web

// This test runs once mcpgen is installed: the connections pages answer
// through the app's router, behind its session middleware, for a signed-in
// member only.

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth/devserver"

	"example.com/gorillaapp/internal/mcpoauth"
	"example.com/gorillaapp/internal/mcpoauth/mcpoauthtest"
)

func TestConnectionsThroughTheAppsRouter(t *testing.T) {
	auth := devserver.StartTest(t, devserver.Config{})
	t.Setenv("MCP_OAUTH_ENCRYPTION_KEYS", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("DEFAULT_MCP_SERVER_URL", auth.URLs().MCP)
	t.Setenv("MCP_OAUTH_BASE_URL", "http://127.0.0.1:1")
	db := mcpoauthtest.Open(t) // PostgreSQL: skips without MCP_OAUTH_TEST_DATABASE_URL
	member := mcpoauthtest.SeedUser(t, db.DB)
	srv := httptest.NewServer(NewRouter(&App{DB: db.DB}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		header string
		want   int
	}{{strconv.FormatInt(member, 10), http.StatusOK}, {"", http.StatusUnauthorized}} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+mcpoauth.RoutePrefix, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		if tc.header != "" {
			req.Header.Set("X-Member-ID", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("X-Member-ID %q: %s, want %d", tc.header, resp.Status, tc.want)
		}
	}
}
