package devserver

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAuthorizeErrors checks what the authorization endpoint refuses and
// how: problems with the client or redirect URI as a page, never
// redirected; the rest back to the client with error, state and iss.
func TestAuthorizeErrors(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	narrow := register(t, s, oauthexMeta("none", "mcp:read"))

	pages := []struct {
		name string
		edit func(url.Values)
		want string
	}{
		{"no client_id", func(q url.Values) { q.Del("client_id") }, "client_id is missing"},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, "not registered"},
		{"no redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, "redirect_uri is missing"},
		{"other redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }, "not one of the URIs"},
		{"redirect_uri with a trailing slash", func(q url.Values) { q.Set("redirect_uri", testRedirect+"/") }, "must match exactly"},
		{"redirect_uri with a query", func(q url.Values) { q.Set("redirect_uri", testRedirect+"?x=1") }, "not one of the URIs"},
		{"repeated redirect_uri", func(q url.Values) { q.Add("redirect_uri", testRedirect) }, "repeated"},
		{"http client_id URL without CIMD over http", func(q url.Values) { q.Set("client_id", "http://127.0.0.1:1/client.json") }, "only https"},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			q := authParams(s, c, newPKCE())
			tc.edit(q)
			resp := authorize(t, s, q)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q: want a 400 page, not a redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("page lacks %q:\n%s", tc.want, body)
			}
		})
	}

	redirects := []struct {
		name   string
		client testClient
		edit   func(url.Values)
		want   string
	}{
		{"no response_type", c, func(q url.Values) { q.Del("response_type") }, "invalid_request"},
		{"implicit grant", c, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"no code_challenge", c, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"no code_challenge_method", c, func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"plain PKCE", c, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"short challenge", c, func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request"},
		{"wrong resource", c, func(q url.Values) { q.Set("resource", "https://other.example/mcp") }, "invalid_target"},
		{"resource with a trailing slash", c, func(q url.Values) { q.Set("resource", s.URLs().MCP+"/") }, "invalid_target"},
		{"two resources", c, func(q url.Values) { q.Add("resource", s.URLs().SSE) }, "invalid_target"},
		{"unknown scope", c, func(q url.Values) { q.Set("scope", "mcp:read files:write") }, "invalid_scope"},
		{"scope beyond the registration", narrow, func(q url.Values) { q.Set("scope", "mcp:read mcp:write") }, "invalid_scope"},
		{"repeated state", c, func(q url.Values) { q.Add("state", "again") }, "invalid_request"},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			q := authParams(s, tc.client, newPKCE())
			tc.edit(q)
			cb := redirected(t, s, authorize(t, s, q), tc.client.redirect)
			if cb.Get("error") != tc.want || cb.Get("code") != "" {
				t.Errorf("error %q (%s), code %q; want %s", cb.Get("error"), cb.Get("error_description"), cb.Get("code"), tc.want)
			}
			if cb.Get("error_description") == "" {
				t.Error("no error_description")
			}
			if st := q["state"]; len(st) == 1 && cb.Get("state") != st[0] {
				t.Errorf("state %q, want %q", cb.Get("state"), st[0])
			}
		})
	}

	if st := s.Stats(); st.AuthorizeErrors != len(pages)+len(redirects) || st.Approvals != 0 {
		t.Errorf("authorize errors %d, want %d; approvals %d", st.AuthorizeErrors, len(pages)+len(redirects), st.Approvals)
	}
}

// TestAuthorizeDefaults: no scope means the default scopes; no resource
// means the MCP URL, counted, or refused with RequireResource; a
// redirect URI's own query is kept.
func TestAuthorizeDefaults(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := register(t, s, oauthexMetaRedirect("none", "", "http://localhost:8080/cb?tenant=7"))
	p := newPKCE()
	q := authParams(s, c, p)
	q.Del("resource")
	q.Del("state")
	resp := authorize(t, s, q)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("tenant") != "7" || loc.Query().Has("state") {
		t.Errorf("callback %s: want the registered query kept and no state", loc)
	}
	a := exchange(t, s, c, loc.Query().Get("code"), p)
	if a.status != http.StatusOK || a.Scope != "mcp:read mcp:write" {
		t.Fatalf("exchange %d %s, scope %q", a.status, a.Error, a.Scope)
	}
	if who := whoami(t, connect(t, s.URLs().MCP, &bearer{token: a.AccessToken})); who.Resource != s.URLs().MCP {
		t.Errorf("resource %q", who.Resource)
	}
	if n := s.Stats().MissingResource; n != 1 {
		t.Errorf("missing resource counted %d times, want 1", n)
	}

	strict := start(t, Config{AutoApprove: true, RequireResource: true})
	c = publicClient(t, strict)
	q = authParams(strict, c, newPKCE())
	q.Del("resource")
	if cb := redirected(t, strict, authorize(t, strict, q), c.redirect); cb.Get("error") != "invalid_target" {
		t.Errorf("RequireResource: %v", cb)
	}
}
