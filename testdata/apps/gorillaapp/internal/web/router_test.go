package web

// This test runs once mcpgen is installed: a signed-in member connects
// through the app's gorilla router and session middleware (connect, consent at the dev server,
// callback) and is listed as connected; an anonymous request is refused.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth/devserver"

	"example.com/gorillaapp/internal/mcpoauth"
	"example.com/gorillaapp/internal/mcpoauth/mcpoauthtest"
)

func TestConnectionsThroughTheAppsRouter(t *testing.T) {
	auth := devserver.StartTest(t, devserver.Config{})
	db := mcpoauthtest.Open(t)
	member := mcpoauthtest.SeedUser(t, db.DB) // members has required, unique columns; PostgreSQL: skips without MCP_OAUTH_TEST_DATABASE_URL
	var app http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	t.Setenv("MCP_OAUTH_ENCRYPTION_KEYS", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv("DEFAULT_MCP_SERVER_URL", auth.URLs().MCP)
	t.Setenv("MCP_OAUTH_BASE_URL", srv.URL)
	app = NewRouter(&App{DB: db.DB})

	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values, signedIn bool) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if form != nil {
			req, err = http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		if signedIn {
			req.Header.Set("X-Member-ID", strconv.FormatInt(member, 10))
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	if resp := do(http.MethodGet, mcpoauth.RoutePrefix, nil, false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("signed out: %s, want 401", resp.Status)
	}
	resp := do(http.MethodPost, mcpoauth.RoutePrefix+"/connect", url.Values{"server": {"default"}}, true)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %s, want 303 to the authorization server", resp.Status)
	}
	callback, err := devserver.Approve(context.Background(), resp.Header.Get("Location"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if resp := do(http.MethodGet, mcpoauth.RoutePrefix+"/callback?"+callback.Encode(), nil, true); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %s, want 303 to the list", resp.Status)
	}
	var list struct {
		Connections []struct {
			Server    string `json:"server"`
			Connected bool   `json:"connected"`
		} `json:"connections"`
	}
	resp = do(http.MethodGet, mcpoauth.RoutePrefix, nil, true)
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Connections) != 1 || !list.Connections[0].Connected {
		t.Fatalf("list after connecting: %s, %+v (%v); want the default server connected", resp.Status, list, err)
	}
}
