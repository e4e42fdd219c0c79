package api

// This test runs once mcpgen is installed: the connections pages answer
// through gin, for a signed-in user only.

import (
	"encoding/base64"
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
	t.Setenv("MCP_OAUTH_ENCRYPTION_KEYS", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("DEFAULT_MCP_SERVER_URL", auth.URLs().MCP)
	t.Setenv("MCP_OAUTH_BASE_URL", "http://127.0.0.1:1")
	db := mcpoauthtest.Open(t)
	user := strconv.FormatInt(mcpoauthtest.SeedUser(t, db.DB), 10)
	srv := httptest.NewServer(Router(db.DB))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path, user string
		want       int
	}{
		{mcpoauth.RoutePrefix, user, http.StatusOK},
		{mcpoauth.RoutePrefix + "/default/tools", "", http.StatusUnauthorized},
		{mcpoauth.RoutePrefix, "", http.StatusUnauthorized},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		if tc.user != "" {
			req.Header.Set("X-User-ID", tc.user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s as %q: %s, want %d", tc.path, tc.user, resp.Status, tc.want)
		}
	}
}
