package mcpoauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The attack cases of a security review, each a test that failed before
// its fix. SECURITY.md lists them with their defences.

// evilServer counts every request an attacker's server receives.
func evilServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "evil", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// Attack 1: a row's plaintext issuer column, changed in the database to
// an attacker's server, steered Refresh (the refresh token and the client
// secret) and Disconnect (revocation) there. The ciphertexts are bound to
// the issuer now: the tampered row does not open, and nothing is sent.
func TestAttackTamperedIssuerColumn(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	evil, hits := evilServer(t)

	tamper := func() {
		f.db.mu.Lock()
		defer f.db.mu.Unlock()
		for _, r := range f.db.creds {
			r.Issuer = evil
		}
	}
	tamper()
	if _, err := f.flow.Refresh(ctx, user, ""); err == nil {
		t.Error("Refresh of a row whose issuer was changed succeeded")
	}
	if session, err := f.clients.For(ctx, user, nil); err == nil {
		session.Close()
		t.Error("For with a row whose issuer was changed succeeded")
	}
	if err := f.flow.Disconnect(ctx, user, ""); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the attacker's server got %d requests", n)
	}
	if n := len(f.as.RefreshRequests()) + len(f.as.Revoked()); n != 0 {
		t.Errorf("%d refresh or revocation requests reached the real server", n)
	}
}

// Attack 1, pending flows: a state row's issuer or redirect URI changed
// between the redirect and the callback sent the code and its verifier
// to another token endpoint. The verifier is bound to them now.
func TestAttackTamperedStateColumns(t *testing.T) {
	for _, column := range []string{"issuer", "redirect_uri", "server_url", "requested_scope"} {
		t.Run(column, func(t *testing.T) {
			ctx := context.Background()
			f := newFlowFixture(t)
			user := seedUser(t, f.db)
			evil, hits := evilServer(t)
			authURL, err := f.flow.Start(ctx, user, "")
			if err != nil {
				t.Fatal(err)
			}
			callback := f.as.authorize(t, authURL)
			f.db.mu.Lock()
			for _, r := range f.db.states {
				switch column {
				case "issuer":
					r.Issuer = evil
				case "redirect_uri":
					r.RedirectURI = evil + "/callback"
				case "server_url":
					r.ServerURL = f.as.SSEURL
				case "requested_scope":
					r.RequestedScope += " mcp:admin"
				}
			}
			f.db.mu.Unlock()
			if _, err := f.flow.Complete(ctx, user, "default", callback); err == nil {
				t.Errorf("Complete with the state's %s changed succeeded", column)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the attacker's server got %d requests", n)
			}
		})
	}
}

// Endpoints the app sends secrets to must be https, but on loopback (local
// development); user info and fragments are refused.
func TestEndpointsMustBeHTTPS(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://as.example.com/token":      true,
		"http://127.0.0.1:8080/token":       true,
		"http://localhost/token":            true,
		"http://as.example.com/token":       false,
		"http://10.0.0.1/token":             false,
		"https://user:pw@as.example.com/t":  false,
		"https://as.example.com/token#frag": false,
		"javascript:alert(1)":               false,
		"/token":                            false,
	} {
		if err := checkEndpoint(raw); (err == nil) != ok {
			t.Errorf("checkEndpoint(%q) = %v, want ok %v", raw, err, ok)
		}
	}
	asm := legacyEndpoints("https://as.example.com")
	asm.TokenEndpoint = "http://as.example.com/token"
	if err := checkAuthServerMetadata(asm, "https://as.example.com"); err == nil {
		t.Error("metadata with an http token endpoint accepted")
	}
}

// Attack 5: the error page presented the authorization server's
// error_description as the app's own words and showed any error_uri. The
// app's message depends on the code alone, the server's text is marked
// as the server's, and a non-https error_uri is dropped.
func TestAttackSpoofedErrorPage(t *testing.T) {
	ht := newHandlerTest(t, nil)
	user := seedUser(t, ht.db)
	ht.flow.complete = func(cb url.Values) (*Credential[testUser], error) {
		return nil, &CallbackError{Code: cb.Get("error"), Description: cb.Get("error_description"), URI: cb.Get("error_uri")}
	}
	callback := func(code, desc, uri string) string {
		return ht.prefix + "/default/callback?" + url.Values{"error": {code}, "error_description": {desc}, "error_uri": {uri}, "state": {"s"}}.Encode()
	}
	const scam = "Your account is suspended. Call 555-0100 now."
	page := ht.do(http.MethodGet, callback("access_denied", scam, "http://evil.example/pay"), &user, nil).Body.String()
	for _, want := range []string{
		"<p>Access was denied at the authorization server, so nothing was connected.</p>",
		"<dt>In its own words (not this app's, and not checked)</dt>",
		"<dd><q>" + scam + "</q></dd>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("error page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "evil.example") || strings.Contains(page, "<p>"+scam) {
		t.Errorf("error page shows the server's text as the app's or a non-https link:\n%s", page)
	}

	e := decode[ErrorResponse](t, ht.do(http.MethodGet, callback("invalid_scope", scam, "https://as.example.com/errors/scope"), &user, nil, jsonAccept...))
	if e.Message != authorizationMessages["invalid_scope"] || e.AuthorizationServer.URI != "https://as.example.com/errors/scope" {
		t.Errorf("invalid_scope: %q, uri %q", e.Message, e.AuthorizationServer.URI)
	}
	page = ht.do(http.MethodGet, callback("invalid_scope", scam, "https://as.example.com/errors/scope"), &user, nil).Body.String()
	if strings.Contains(page, `href="https://as.example.com`) {
		t.Errorf("the error page links the server's page:\n%s", page)
	}
}

// Attack 2: discovery followed URLs a malicious server handed out to
// loopback, private and link-local addresses (the cloud metadata service
// at 169.254.169.254), and our client had switched off go-sdk's guard.
// The registry's client checks every resolved address at dial time.
func TestAttackDiscoveryReachesInternalAddresses(t *testing.T) {
	evil, hits := evilServer(t)
	reg, err := NewRegistry(Server{Key: "default", URL: "https://mcp.example.com/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := reg.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	get := func(c *http.Client, target string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	port := evil[strings.LastIndex(evil, ":"):]
	for _, target := range []string{
		evil,                      // 127.0.0.1
		"http://localhost" + port, // a name resolving to loopback
		"http://[::ffff:127.0.0.1]" + port,
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/token",
		"http://192.168.1.1/",
		"http://0.0.0.0" + port,
		"http://100.64.0.1/",
	} {
		if err := get(hc, target); !errors.Is(err, errInternalAddress) {
			t.Errorf("GET %s: %v, want it refused as an internal address", target, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal server got %d requests", n)
	}

	// The allow list opens a host or a network, for an authorization
	// server inside the company network.
	g, err := newDialGuard(reg, " 127.0.0.0/8 , as.internal")
	if err != nil {
		t.Fatal(err)
	}
	if err := get(guardedHTTPClient(g), evil); err != nil || hits.Load() != 1 {
		t.Errorf("GET %s with 127.0.0.0/8 allowed: %v, %d requests", evil, err, hits.Load())
	}
	if _, err := newDialGuard(reg, "10.0.0.0/99"); err == nil || !strings.Contains(err.Error(), AllowPrivateHostsEnv) {
		t.Errorf("a bad network in the allow list: %v", err)
	}
}

// Local development: a configured MCP server on loopback lets the app
// reach loopback (its authorization server is usually there too), but a
// redirect to another host is refused.
func TestDialGuardForLocalDevelopment(t *testing.T) {
	evil, hits := evilServer(t)
	var other string
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+"/elsewhere", http.StatusFound)
	}))
	defer redirector.Close()
	other = strings.Replace(evil, "127.0.0.1", "localhost", 1)
	reg, err := NewRegistry(Server{Key: "default", URL: redirector.URL + "/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := reg.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(evil)
	if err != nil {
		t.Fatalf("GET %s with a loopback MCP server configured: %v", evil, err)
	}
	resp.Body.Close()
	if _, err := hc.Get(redirector.URL + "/mcp"); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Errorf("a redirect to another host: %v, want it refused", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests reached the other host, want only the direct one", n)
	}
}

// Attack 3, mix-up (RFC 9700 section 4.4): one redirect URI served every
// server, so an authorization server that sends no iss could bounce the
// victim to another server's authorization server and have the code
// come back as its own flow's, to be exchanged, with the verifier, at
// its token endpoint. Each server has its own redirect URI now, and a
// flow completes only at its own.
func TestAttackMixUpAcrossServers(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	if a, b := f.flow.RedirectURLFor("default"), f.flow.RedirectURLFor("sse"); a == b {
		t.Fatalf("both servers have the redirect URI %s", a)
	}
	authURL, err := f.flow.Start(ctx, user, "sse")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	if got := u.Query().Get("redirect_uri"); got != f.flow.RedirectURLFor("sse") {
		t.Errorf("redirect_uri %q, want the server's own %q", got, f.flow.RedirectURLFor("sse"))
	}
	callback := f.as.authorize(t, authURL)
	issued := len(f.as.Issued())
	if _, err := f.flow.Complete(ctx, user, "default", callback); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("the sse flow completed at default's redirect URI: %v, want ErrIssuerMismatch", err)
	}
	if n := len(f.as.Issued()) - issued; n != 0 {
		t.Errorf("%d tokens issued: the code was exchanged", n)
	}
	// The state was spent: not even its own callback completes it now.
	if _, err := f.flow.Complete(ctx, user, "sse", callback); !errors.Is(err, ErrStateInvalid) {
		t.Errorf("the spent state at its own redirect URI: %v, want ErrStateInvalid", err)
	}
}

// TestAttackConfigErrorsKeepSecrets: a server URL configured with
// credentials in it (user info, an API key in the query) is refused, and
// the error, which the app logs, names the problem without them.
func TestAttackConfigErrorsKeepSecrets(t *testing.T) {
	for _, raw := range []string{
		"https://admin:hunter2@mcp.example.com/mcp",
		"https://mcp.example.com/mcp?api_key=sk-live-secret",
		"http://admin:hunter2@mcp.example.com/mcp?api_key=sk-live-secret#sk-frag",
		"https://mcp.example.com/mcp#sk-frag",
		"://admin:hunter2@bad url",
	} {
		_, err := CanonicalServerURL(raw)
		if err == nil {
			t.Fatalf("CanonicalServerURL(%q) accepted it", raw)
		}
		_, rerr := NewRegistry(Server{Key: "default", URL: raw})
		for _, e := range []error{err, rerr} {
			for _, secret := range []string{"hunter2", "sk-live-secret", "sk-frag", "admin"} {
				if e != nil && strings.Contains(e.Error(), secret) {
					t.Errorf("the error for %q tells %q: %v", raw, secret, e)
				}
			}
		}
	}
}
