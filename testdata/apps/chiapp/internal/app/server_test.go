package app

// This test runs once mcpgen is installed: it checks that the connections
// pages answer through the app's own router, for a signed-in account only.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth/devserver"

	"example.com/chiapp/internal/mcpoauth"
	"example.com/chiapp/internal/mcpoauth/mcpoauthtest"
)

func TestConnectionsThroughTheAppsRouter(t *testing.T) {
	auth := devserver.StartTest(t, devserver.Config{})
	t.Setenv("MCP_OAUTH_ENCRYPTION_KEYS", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("DEFAULT_MCP_SERVER_URL", auth.URLs().MCP)
	t.Setenv("MCP_OAUTH_BASE_URL", "http://127.0.0.1:1")
	db := mcpoauthtest.Open(t)
	account := mcpoauthtest.SeedUser(t, db.DB) // accounts has required, unique columns
	srv := httptest.NewServer(New(db.DB).Routes())
	t.Cleanup(srv.Close)

	get := func(signedIn bool) *http.Response {
		req, err := http.NewRequest(http.MethodGet, srv.URL+mcpoauth.RoutePrefix, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		if signedIn {
			req.Header.Set("X-Account-ID", strconv.FormatInt(account, 10))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	resp := get(true)
	var list struct {
		Connections []struct{ Server string } `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); resp.StatusCode != http.StatusOK || err != nil ||
		len(list.Connections) != 1 || list.Connections[0].Server != "default" {
		t.Fatalf("signed in: %s, %+v (%v); want 200 listing the default server", resp.Status, list, err)
	}
	if resp := get(false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("signed out: %s, want 401", resp.Status)
	}
}
