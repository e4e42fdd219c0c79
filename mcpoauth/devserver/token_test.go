package devserver

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// mcpStatus is the status of an initialize request with token.
func mcpStatus(t *testing.T, s *Server, token string) int {
	t.Helper()
	return mcpPost(t, s.URLs().MCP, token, initializeBody).StatusCode
}

func TestCodeExchange(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	other := publicClient(t, s)
	form := func(c testClient, code string, p pkce) url.Values {
		return url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect},
			"code_verifier": {p.verifier}, "client_id": {c.id}, "resource": {s.URLs().MCP},
		}
	}

	t.Run("wrong verifier spends the code", func(t *testing.T) {
		p := newPKCE()
		cd := code(t, s, c, p, nil)
		wantError(t, exchange(t, s, c, cd, newPKCE()), http.StatusBadRequest, "invalid_grant")
		wantError(t, exchange(t, s, c, cd, p), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("the challenge as verifier", func(t *testing.T) {
		p := newPKCE()
		cd := code(t, s, c, p, nil)
		wantError(t, exchange(t, s, c, cd, pkce{verifier: p.challenge}), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("reuse revokes the tokens", func(t *testing.T) {
		p := newPKCE()
		cd := code(t, s, c, p, nil)
		first := exchange(t, s, c, cd, p)
		if first.status != http.StatusOK {
			t.Fatalf("first exchange %d %s", first.status, first.Description)
		}
		wantError(t, exchange(t, s, c, cd, p), http.StatusBadRequest, "invalid_grant")
		if got := mcpStatus(t, s, first.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("access token after code reuse: %d, want 401", got)
		}
		wantError(t, refresh(t, s, c, first.RefreshToken), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("missing or other redirect_uri", func(t *testing.T) {
		for _, ru := range []string{"", "http://127.0.0.1:9999/other"} {
			p := newPKCE()
			f := form(c, code(t, s, c, p, nil), p)
			f.Set("redirect_uri", ru)
			if ru == "" {
				f.Del("redirect_uri")
			}
			wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_grant")
		}
	})
	t.Run("wrong resource", func(t *testing.T) {
		p := newPKCE()
		f := form(c, code(t, s, c, p, nil), p)
		f.Set("resource", s.URLs().SSE) // served here, but not the one authorized
		wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_target")
	})
	t.Run("another client's code", func(t *testing.T) {
		p := newPKCE()
		cd := code(t, s, c, p, nil)
		wantError(t, postForm(t, s.URLs().Token, form(other, cd, p), nil), http.StatusBadRequest, "invalid_grant")
		if a := exchange(t, s, c, cd, p); a.status != http.StatusOK {
			t.Errorf("the code's own client: %d %s", a.status, a.Description)
		}
	})
	t.Run("missing verifier or code", func(t *testing.T) {
		p := newPKCE()
		f := form(c, code(t, s, c, p, nil), p)
		f.Del("code_verifier")
		wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_request")
		f = form(c, "", p)
		wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_request")
		wantError(t, postForm(t, s.URLs().Token, form(c, "mcpdev_ac_UNKNOWN", p), nil), http.StatusBadRequest, "invalid_grant")
	})

	st := s.Stats()
	if st.ReuseDetections != 1 || st.FamiliesRevoked != 1 || st.Families[0].RevokedReason != revokedCodeReuse {
		t.Errorf("reuse %d, families revoked %d, families %+v", st.ReuseDetections, st.FamiliesRevoked, st.Families)
	}
}

func TestCodeExpires(t *testing.T) {
	s := start(t, Config{AutoApprove: true, CodeTTL: 50 * time.Millisecond})
	c := publicClient(t, s)
	p := newPKCE()
	cd := code(t, s, c, p, nil)
	time.Sleep(80 * time.Millisecond)
	wantError(t, exchange(t, s, c, cd, p), http.StatusBadRequest, "invalid_grant")
}

func TestTokenRequestShape(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)

	resp, err := http.Get(s.URLs().Token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /token: %d", resp.StatusCode)
	}

	p := newPKCE()
	good := url.Values{
		"grant_type": {"authorization_code"}, "code": {code(t, s, c, p, nil)}, "redirect_uri": {c.redirect},
		"code_verifier": {p.verifier}, "client_id": {c.id}, "resource": {s.URLs().MCP},
	}
	wantError(t, postForm(t, s.URLs().Token+"?code=x", good, nil), http.StatusBadRequest, "invalid_request")

	req, _ := http.NewRequest(http.MethodPost, s.URLs().Token, strings.NewReader(`{"grant_type":"authorization_code"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON body: %d", resp.StatusCode)
	}

	twice := url.Values{}
	for k, v := range good {
		twice[k] = v
	}
	twice.Add("code_verifier", p.verifier)
	wantError(t, postForm(t, s.URLs().Token, twice, nil), http.StatusBadRequest, "invalid_request")
	wantError(t, postForm(t, s.URLs().Token, url.Values{"client_id": {c.id}}, nil), http.StatusBadRequest, "invalid_request")
	wantError(t, postForm(t, s.URLs().Token, url.Values{"client_id": {c.id}, "grant_type": {"password"}}, nil), http.StatusBadRequest, "unsupported_grant_type")
	wantError(t, postForm(t, s.URLs().Token, url.Values{"grant_type": {"authorization_code"}}, nil), http.StatusUnauthorized, "invalid_client")
	wantError(t, postForm(t, s.URLs().Token, url.Values{"grant_type": {"authorization_code"}, "client_id": {"nobody"}}, nil), http.StatusUnauthorized, "invalid_client")

	a := postForm(t, s.URLs().Token, good, nil) // nothing above spent the code
	if a.status != http.StatusOK || a.header.Get("Cache-Control") != "no-store" || a.TokenType != "Bearer" || a.ExpiresIn != 3600 {
		t.Errorf("exchange: %d %s, Cache-Control %q, type %q, expires_in %d", a.status, a.Description, a.header.Get("Cache-Control"), a.TokenType, a.ExpiresIn)
	}
	if st := s.Stats(); st.TokenErrors["invalid_request"] != 5 || st.TokenErrors["invalid_client"] != 2 || st.TokenErrors["unsupported_grant_type"] != 1 {
		t.Errorf("token errors %v", st.TokenErrors)
	}
}

func TestClientAuthentication(t *testing.T) {
	s := start(t, Config{AutoApprove: true, Clients: []ClientConfig{
		{ID: "pre-public", Name: "Pre", RedirectURIs: []string{testRedirect}},
		{ID: "pre-secret", Secret: "s3cret", Name: "Pre", RedirectURIs: []string{testRedirect}},
	}})
	basic := register(t, s, oauthexMeta("client_secret_basic", ""))
	post := register(t, s, oauthexMeta("client_secret_post", ""))
	public := publicClient(t, s)
	if basic.secret == "" || post.secret == "" || public.secret != "" {
		t.Fatalf("secrets: basic %v, post %v, public %v", basic.secret != "", post.secret != "", public.secret != "")
	}

	// try redeems a fresh code of c, authenticating as auth says.
	try := func(c testClient, auth func(url.Values) *[2]string) tokenAnswer {
		p := newPKCE()
		f := url.Values{
			"grant_type": {"authorization_code"}, "code": {code(t, s, c, p, nil)}, "redirect_uri": {c.redirect},
			"code_verifier": {p.verifier}, "resource": {s.URLs().MCP},
		}
		return postForm(t, s.URLs().Token, f, auth(f))
	}
	withBasic := func(id, secret string) func(url.Values) *[2]string {
		return func(url.Values) *[2]string { return &[2]string{id, secret} }
	}
	inBody := func(id, secret string) func(url.Values) *[2]string {
		return func(f url.Values) *[2]string {
			f.Set("client_id", id)
			if secret != "" {
				f.Set("client_secret", secret)
			}
			return nil
		}
	}
	ok := []struct {
		name string
		c    testClient
		auth func(url.Values) *[2]string
	}{
		{"basic", basic, withBasic(basic.id, basic.secret)},
		{"post", post, inBody(post.id, post.secret)},
		{"public in the body", public, inBody(public.id, "")},
		{"public as Basic without password", public, withBasic(public.id, "")},
		{"pre-registered public", testClient{id: "pre-public", redirect: testRedirect}, inBody("pre-public", "")},
		{"pre-registered with Basic", testClient{id: "pre-secret", redirect: testRedirect}, withBasic("pre-secret", "s3cret")},
		{"pre-registered with post", testClient{id: "pre-secret", redirect: testRedirect}, inBody("pre-secret", "s3cret")},
	}
	for _, tc := range ok {
		if a := try(tc.c, tc.auth); a.status != http.StatusOK {
			t.Errorf("%s: %d %s: %s", tc.name, a.status, a.Error, a.Description)
		}
	}

	bad := []struct {
		name   string
		c      testClient
		auth   func(url.Values) *[2]string
		status int
		code   string
	}{
		{"basic client with post", basic, inBody(basic.id, basic.secret), 401, "invalid_client"},
		{"basic client without secret", basic, inBody(basic.id, ""), 401, "invalid_client"},
		{"basic client, wrong secret", basic, withBasic(basic.id, "wrong"), 401, "invalid_client"},
		{"post client with basic", post, withBasic(post.id, post.secret), 401, "invalid_client"},
		{"public client with a secret", public, inBody(public.id, "made-up"), 401, "invalid_client"},
		{"two methods at once", basic, func(f url.Values) *[2]string {
			f.Set("client_secret", basic.secret)
			return &[2]string{basic.id, basic.secret}
		}, 400, "invalid_request"},
		{"body client_id differs from Basic", basic, func(f url.Values) *[2]string {
			f.Set("client_id", post.id)
			return &[2]string{basic.id, basic.secret}
		}, 400, "invalid_request"},
	}
	for _, tc := range bad {
		a := try(tc.c, tc.auth)
		if a.status != tc.status || a.Error != tc.code {
			t.Errorf("%s: %d %q (%s), want %d %s", tc.name, a.status, a.Error, a.Description, tc.status, tc.code)
		}
	}
	a := try(basic, withBasic(basic.id, "wrong"))
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("failed Basic authentication without a Basic challenge: %q", a.header.Get("WWW-Authenticate"))
	}

	// x/oauth2's auto-detection settles on the registered method.
	p := newPKCE()
	cfg := &oauth2.Config{ClientID: post.id, ClientSecret: post.secret, RedirectURL: testRedirect, Endpoint: oauth2.Endpoint{TokenURL: s.URLs().Token}}
	if _, err := cfg.Exchange(ctxT(t), code(t, s, post, p, nil), oauth2.VerifierOption(p.verifier), oauth2.SetAuthURLParam("resource", s.URLs().MCP)); err != nil {
		t.Errorf("x/oauth2 auto-detected style: %v", err)
	}
}

func TestRefreshRotation(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	other := publicClient(t, s)
	a := mustToken(t, s, c, url.Values{"scope": {"mcp:read mcp:write mcp:admin"}})

	// A chain of rotations; every new token works.
	rt := a.RefreshToken
	seen := map[string]bool{rt: true}
	for i := range 3 {
		r := refresh(t, s, c, rt)
		if r.status != http.StatusOK || seen[r.RefreshToken] || r.Scope != "mcp:read mcp:write mcp:admin" {
			t.Fatalf("refresh %d: %d %s, scope %q, repeated %v", i, r.status, r.Description, r.Scope, seen[r.RefreshToken])
		}
		if got := mcpStatus(t, s, r.AccessToken); got != http.StatusOK {
			t.Fatalf("refreshed access token: MCP %d", got)
		}
		seen[r.RefreshToken] = true
		rt = r.RefreshToken
	}

	// Refusals that leave the token usable.
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.id}, "resource": {"https://elsewhere.example/mcp"}}
	wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_target")
	f.Set("resource", s.URLs().SSE)
	wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_target")
	f.Set("resource", s.URLs().MCP)
	f.Set("scope", "mcp:read offline_access")
	wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_scope")
	f.Set("client_id", other.id)
	f.Del("scope")
	wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_grant")

	// A narrower scope on refresh.
	f.Set("client_id", c.id)
	f.Set("scope", "mcp:read")
	r := postForm(t, s.URLs().Token, f, nil)
	if r.status != http.StatusOK || r.Scope != "mcp:read" {
		t.Fatalf("narrowed refresh: %d %s, scope %q", r.status, r.Description, r.Scope)
	}
	if who := whoami(t, connect(t, s.URLs().MCP, &bearer{token: r.AccessToken})); strings.Join(who.Scopes, " ") != "mcp:read" {
		t.Errorf("narrowed token scopes %v", who.Scopes)
	}

	// Expired refresh tokens.
	if _, n := s.Expire("alice", true); n != 1 {
		t.Errorf("expired %d refresh tokens, want 1", n)
	}
	wantError(t, refresh(t, s, c, r.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if st := s.Stats(); st.Refreshes != 4 || st.ReuseDetections != 0 || st.FamiliesRevoked != 0 {
		t.Errorf("refreshes %d, reuse %d, revoked %d", st.Refreshes, st.ReuseDetections, st.FamiliesRevoked)
	}
}

func TestRefreshPolicy(t *testing.T) {
	s := start(t, Config{AutoApprove: true, RequireResource: true})
	c := publicClient(t, s)
	a := mustToken(t, s, c, nil)
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "client_id": {c.id}}
	wantError(t, postForm(t, s.URLs().Token, f, nil), http.StatusBadRequest, "invalid_target")
	if r := refresh(t, s, c, a.RefreshToken); r.status != http.StatusOK {
		t.Errorf("refresh with resource after a refusal: %d %s", r.status, r.Description)
	}

	// A client that did not register refresh_token gets none.
	m := oauthexMeta("none", "")
	m.GrantTypes = []string{"authorization_code"}
	noRefresh := register(t, s, m)
	b := mustToken(t, s, noRefresh, nil)
	if b.RefreshToken != "" {
		t.Error("a refresh token for a client without the refresh_token grant")
	}
	wantError(t, refresh(t, s, noRefresh, a.RefreshToken), http.StatusBadRequest, "unauthorized_client")
}

// TestConcurrentRefresh is the classic worker race: several refreshes of
// one token at once. One wins; the others are replays, which revoke the
// family, the winner's new tokens included.
func TestConcurrentRefresh(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	a := mustToken(t, s, c, nil)
	const n = 8
	answers := make([]tokenAnswer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = refresh(t, s, c, a.RefreshToken) })
	}
	wg.Wait()
	wins := 0
	for _, r := range answers {
		switch {
		case r.status == http.StatusOK:
			wins++
		case r.Error != "invalid_grant":
			t.Errorf("loser answered %d %s", r.status, r.Error)
		}
	}
	st := s.Stats()
	if wins != 1 || st.ReuseDetections < 1 || !st.Families[0].Revoked {
		t.Errorf("wins %d, reuse detections %d, family %+v", wins, st.ReuseDetections, st.Families[0])
	}
}

func TestRevoke(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	other := publicClient(t, s)
	revoke := func(c testClient, token, hint string) tokenAnswer {
		f := url.Values{"token": {token}, "client_id": {c.id}}
		if hint != "" {
			f.Set("token_type_hint", hint)
		}
		return postForm(t, s.URLs().Revoke, f, nil)
	}

	// An access token, with a misleading hint: only it goes.
	a := mustToken(t, s, c, nil)
	if r := revoke(c, a.AccessToken, "refresh_token"); r.status != http.StatusOK {
		t.Fatalf("revoke access token: %d %s", r.status, r.Description)
	}
	if got := mcpStatus(t, s, a.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("revoked access token: MCP %d", got)
	}
	r := refresh(t, s, c, a.RefreshToken)
	if r.status != http.StatusOK || mcpStatus(t, s, r.AccessToken) != http.StatusOK {
		t.Fatalf("refresh after revoking the access token: %d %s", r.status, r.Description)
	}

	// Another client's token is refused and stays valid.
	wantError(t, revoke(other, r.AccessToken, ""), http.StatusBadRequest, "unauthorized_client")
	if got := mcpStatus(t, s, r.AccessToken); got != http.StatusOK {
		t.Errorf("after another client's revocation attempt: MCP %d", got)
	}

	// A refresh token takes its family.
	if rr := revoke(c, r.RefreshToken, ""); rr.status != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", rr.status)
	}
	if got := mcpStatus(t, s, r.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("access token of a revoked family: MCP %d", got)
	}
	wantError(t, refresh(t, s, c, r.RefreshToken), http.StatusBadRequest, "invalid_grant")

	if rr := revoke(c, "mcpdev_rt_NEVERISSUED", ""); rr.status != http.StatusOK {
		t.Errorf("unknown token: %d, want 200", rr.status)
	}
	wantError(t, revoke(c, "", ""), http.StatusBadRequest, "invalid_request")
	wantError(t, postForm(t, s.URLs().Revoke, url.Values{"token": {"x"}}, nil), http.StatusUnauthorized, "invalid_client")

	st := s.Stats()
	if st.Revocations != 2 || st.FamiliesRevoked != 1 || st.ReuseDetections != 0 || st.Families[0].RevokedReason != revokedByClient {
		t.Errorf("revocations %d, families revoked %d, reuse %d, families %+v", st.Revocations, st.FamiliesRevoked, st.ReuseDetections, st.Families)
	}
}
