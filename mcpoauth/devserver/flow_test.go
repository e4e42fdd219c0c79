package devserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// TestFullFlow walks the life of a connection as a web app lives it:
// discovery, registration, authorization with PKCE, tool calls, expiry,
// rotation, and a replayed refresh token revoking the family.
func TestFullFlow(t *testing.T) {
	s := start(t, Config{AutoApprove: true, AccessTokenTTL: time.Second})
	u := s.URLs()
	ctx := ctxT(t)

	// An unauthenticated MCP request is challenged towards the metadata.
	resp := mcpPost(t, u.MCP, "", initializeBody)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: status %d, want 401", resp.StatusCode)
	}
	ch := challenge(t, resp)
	if ch["resource_metadata"] != u.ResourceMetadata {
		t.Fatalf("resource_metadata = %q, want %q", ch["resource_metadata"], u.ResourceMetadata)
	}
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, ch["resource_metadata"], u.MCP, nil)
	if err != nil {
		t.Fatal(err)
	}
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], nil)
	if err != nil || asm == nil {
		t.Fatalf("authorization server metadata: %v, %v", asm, err)
	}

	reg, err := oauthex.RegisterClient(ctx, asm.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		RedirectURIs: []string{testRedirect}, TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code", "refresh_token"}, ClientName: "Shop",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{
		ClientID: reg.ClientID, RedirectURL: testRedirect, Scopes: strings.Fields(ch["scope"]),
		Endpoint: oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", prm.Resource))
	resp, err = noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := redirected(t, s, resp, testRedirect)
	if cb.Get("state") != "state-1" || cb.Get("code") == "" {
		t.Fatalf("callback %v: want state-1 and a code", cb)
	}
	tok, err := cfg.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", prm.Resource))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token: type %q, refresh %v, expiry %v", tok.TokenType, tok.RefreshToken != "", tok.Expiry)
	}

	// Tools, with the user and client the token was issued to.
	b := &bearer{token: tok.AccessToken}
	cs := connect(t, u.MCP, b)
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if want := []string{"add", "admin_stats", "echo", "sleep", "whoami"}; !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v", names, want)
	}
	if got, err := callText(t, cs, "echo", map[string]any{"text": "héllo"}); err != nil || got != "héllo" {
		t.Errorf("echo = %q, %v", got, err)
	}
	if got, err := callText(t, cs, "add", map[string]any{"a": 2, "b": 40.5}); err != nil || got != "42.5" {
		t.Errorf("add = %q, %v", got, err)
	}
	who := whoami(t, cs)
	if who.User != "alice" || who.ClientID != reg.ClientID || !slices.Equal(who.Scopes, []string{"mcp:read", "mcp:write"}) || who.Resource != u.MCP {
		t.Errorf("whoami = %+v", who)
	}

	// The access token expires: the next call is challenged.
	time.Sleep(time.Until(tok.Expiry) + 50*time.Millisecond)
	if _, err := callText(t, cs, "echo", map[string]any{"text": "late"}); err == nil {
		t.Fatal("a call with an expired token succeeded")
	}
	last := b.lastResponse()
	if last == nil || last.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired token: last response %v, want 401", last)
	}
	ch = challenge(t, last)
	if ch["error"] != "invalid_token" || ch["resource_metadata"] != u.ResourceMetadata {
		t.Errorf("expired token challenge %v", ch)
	}

	// Refresh rotates the refresh token.
	c := testClient{id: reg.ClientID, redirect: testRedirect}
	r1 := refresh(t, s, c, tok.RefreshToken)
	if r1.status != http.StatusOK {
		t.Fatalf("refresh: %d %s %s", r1.status, r1.Error, r1.Description)
	}
	if r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken || r1.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate both tokens")
	}
	b.set(r1.AccessToken)
	cs2 := connect(t, u.MCP, b)
	if who := whoami(t, cs2); who.User != "alice" {
		t.Errorf("after refresh whoami = %+v", who)
	}

	// Replaying the spent refresh token revokes the family.
	wantError(t, refresh(t, s, c, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if _, err := callText(t, cs2, "echo", map[string]any{"text": "x"}); err == nil {
		t.Error("the family's access token still works after reuse detection")
	}
	wantError(t, refresh(t, s, c, r1.RefreshToken), http.StatusBadRequest, "invalid_grant")

	st := s.Stats()
	if st.Registrations != 1 || st.CodeExchanges != 1 || st.Refreshes != 1 || st.ReuseDetections != 1 ||
		st.InvalidGrants != 2 || st.TokensIssued != 2 || st.RefreshesByUser["alice"] != 1 || st.MissingResource != 0 {
		t.Errorf("stats %+v", st)
	}
	if len(st.Families) != 1 || !st.Families[0].Revoked || st.Families[0].RevokedReason != revokedReuse ||
		st.Families[0].Refreshes != 1 || len(st.Families[0].RefreshedAt) != 1 || st.Families[0].RefreshedAt[0].Before(st.Families[0].Created) {
		t.Errorf("families %+v", st.Families)
	}
	if st.ToolCallsByTool["echo"] != 1 || st.ToolCallsByUser["alice"] != 4 || st.Unauthorized < 2 {
		t.Errorf("tool stats %+v, unauthorized %d", st.ToolCallsByTool, st.Unauthorized)
	}
}

// TestSDKClient lets the SDK's own OAuth handler do everything: discovery
// from the 401, DCR, authorization, exchange, and step-up on the 403 of
// admin_stats.
func TestSDKClient(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	var authorizations []string
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName: "SDK client", RedirectURIs: []string{testRedirect}, TokenEndpointAuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"},
			},
		},
		RedirectURL: testRedirect,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			u, _ := url.Parse(args.URL)
			authorizations = append(authorizations, u.Query().Get("scope"))
			resp, err := noRedirect.Get(args.URL)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			if q.Get("error") != "" {
				return nil, errors.New(q.Get("error") + ": " + q.Get("error_description"))
			}
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "sdk", Version: "1"}, nil)
	cs, err := c.Connect(ctxT(t), &mcp.StreamableClientTransport{Endpoint: s.URLs().MCP, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	// The SDK's client asks for the scopes in no fixed order.
	if who := whoami(t, cs); who.User != "alice" || !slices.Equal(slices.Sorted(slices.Values(who.Scopes)), []string{"mcp:read", "mcp:write"}) {
		t.Errorf("whoami = %+v", who)
	}
	if _, err := callText(t, cs, "admin_stats", map[string]any{}); err != nil {
		t.Fatalf("admin_stats after step-up: %v", err)
	}
	for i, a := range authorizations {
		f := strings.Fields(a)
		slices.Sort(f)
		authorizations[i] = strings.Join(f, " ")
	}
	if want := []string{"mcp:read mcp:write", "mcp:admin mcp:read mcp:write"}; !slices.Equal(authorizations, want) {
		t.Errorf("authorization scopes %q, want %q (step-up keeps granted scopes)", authorizations, want)
	}
	if st := s.Stats(); st.InsufficientScope != 1 || st.CodeExchanges != 2 || st.ToolCallsByTool["admin_stats"] != 1 {
		t.Errorf("stats: insufficient_scope %d, code exchanges %d, tools %v", st.InsufficientScope, st.CodeExchanges, st.ToolCallsByTool)
	}
}

// TestConsentForm drives the consent page as a browser would: Approve as
// a typed user, Deny, and a form posted without the page's cookie.
func TestConsentForm(t *testing.T) {
	s := start(t, Config{})
	c := publicClient(t, s)

	t.Run("approve as another user", func(t *testing.T) {
		br := browser(t)
		p := newPKCE()
		q := authParams(s, c, p)
		q.Set("login_hint", "carol")
		q.Set("scope", "mcp:read mcp:admin")
		form, page := consentForm(t, s, br, q)
		for _, want := range []string{"Test App", c.id, "mcp:read", "mcp:admin", `value="carol"`, "Approve", "Deny", `<label for="user">`} {
			if !strings.Contains(page, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
		form.Set("user", "bob")
		form.Set("decision", "approve")
		resp, err := br.PostForm(s.URLs().Issuer+"/authorize/consent", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve: status %d, want 303", resp.StatusCode)
		}
		cb := redirected(t, s, resp, c.redirect)
		if cb.Get("state") != q.Get("state") {
			t.Errorf("state %q, want %q", cb.Get("state"), q.Get("state"))
		}
		a := exchange(t, s, c, cb.Get("code"), p)
		if a.status != http.StatusOK || a.Scope != "mcp:read mcp:admin" {
			t.Fatalf("exchange: %d %s %s, scope %q", a.status, a.Error, a.Description, a.Scope)
		}
		if who := whoami(t, connect(t, s.URLs().MCP, &bearer{token: a.AccessToken})); who.User != "bob" {
			t.Errorf("whoami user %q, want bob", who.User)
		}

		// The form answers once.
		resp, err = br.PostForm(s.URLs().Issuer+"/authorize/consent", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("second answer: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("deny", func(t *testing.T) {
		br := browser(t)
		q := authParams(s, c, newPKCE())
		form, _ := consentForm(t, s, br, q)
		form.Set("decision", "deny")
		resp, err := br.PostForm(s.URLs().Issuer+"/authorize/consent", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb := redirected(t, s, resp, c.redirect)
		if cb.Get("error") != "access_denied" || cb.Get("state") != q.Get("state") || cb.Get("code") != "" {
			t.Errorf("deny callback %v", cb)
		}
	})

	t.Run("no cookie", func(t *testing.T) {
		form, _ := consentForm(t, s, browser(t), authParams(s, c, newPKCE()))
		form.Set("decision", "approve")
		form.Set("user", "mallory")
		resp, err := browser(t).PostForm(s.URLs().Issuer+"/authorize/consent", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("form without its cookie: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("cross-site post", func(t *testing.T) {
		br := browser(t)
		form, _ := consentForm(t, s, br, authParams(s, c, newPKCE()))
		form.Set("decision", "approve")
		req, _ := http.NewRequest(http.MethodPost, s.URLs().Issuer+"/authorize/consent", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := br.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site consent: status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("bad user name", func(t *testing.T) {
		br := browser(t)
		form, _ := consentForm(t, s, br, authParams(s, c, newPKCE()))
		form.Set("decision", "approve")
		form.Set("user", "<script>")
		resp, err := br.PostForm(s.URLs().Issuer+"/authorize/consent", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("bad user: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	if st := s.Stats(); st.Denials != 1 || st.Approvals != 1 {
		t.Errorf("denials %d, approvals %d", st.Denials, st.Approvals)
	}
}

// TestUsers gives two users their own tokens through login_hint.
func TestUsers(t *testing.T) {
	s := start(t, Config{AutoApprove: true, DefaultUser: "dora"})
	c := publicClient(t, s)
	for _, user := range []string{"", "bob", "carol@example.com"} {
		extra := url.Values{}
		if user != "" {
			extra.Set("login_hint", user)
		}
		a := mustToken(t, s, c, extra)
		want := user
		if want == "" {
			want = "dora"
		}
		if who := whoami(t, connect(t, s.URLs().MCP, &bearer{token: a.AccessToken})); who.User != want {
			t.Errorf("login_hint %q: whoami %q, want %q", user, who.User, want)
		}
	}
	q := authParams(s, c, newPKCE())
	q.Set("login_hint", "no spaces allowed")
	if cb := redirected(t, s, authorize(t, s, q), c.redirect); cb.Get("error") != "invalid_request" {
		t.Errorf("bad login_hint: %v", cb)
	}
}
