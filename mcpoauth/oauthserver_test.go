package mcpoauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testAuthServer is an OAuth 2.1 authorization server and the MCP server
// it protects, on one loopback httptest server: just enough of both for
// the flow's tests, checking every request the app sends, with knobs to
// make it misbehave. The issuer has a path, so metadata discovery has to
// insert it.
type testAuthServer struct {
	t      testing.TB
	srv    *httptest.Server
	Issuer string // srv.URL + "/as-<random>"
	MCPURL string // streamable HTTP endpoint
	SSEURL string // SSE endpoint

	// Knobs; set them before the flow runs.
	ChallengeMethods  []string      // code_challenge_methods_supported; nil: S256
	ChallengeMetadata bool          // name the resource metadata in the 401 challenge only, not at the well-known URL
	SupportCIMD       bool          // take client ID metadata document URLs as client IDs
	OmitIss           bool          // advertise RFC 9207 iss, but leave it out of the callback
	WrongIss          bool          // send another issuer's iss
	RefuseRefresh     bool          // answer every refresh with invalid_grant
	RefreshStatus     int           // answer every refresh with this status (5xx, 429 with Retry-After), nothing rotated
	RefreshReset      bool          // close the connection of every refresh without answering
	RefreshDelay      time.Duration // hold refresh answers, so that concurrent callers overlap
	RetryAfter        string        // Retry-After of a 429 RefreshStatus; "30" when empty
	RefreshHang       bool          // hold every refresh until the client gives up
	LoseAnswers       int           // rotate this many refreshes as usual, then drop each one's answer
	RefreshGrace      bool          // a rotated refresh token works once more (a grace period, as many servers keep)
	StatusAfterLoss   int           // RefreshStatus from the first lost answer on
	RequiredScope     string        // MCP requests without it get 403 insufficient_scope
	RefusedScope      string        // every MCP request gets 403 insufficient_scope asking for it, granted or not
	RejectTokens      bool          // the MCP server refuses every access token, even fresh ones
	ResourceOverride  string        // resource metadata names this resource instead of the real one
	AccessTTL         time.Duration // lifetime of access tokens; an hour when zero

	mu              sync.Mutex
	clients         map[string]testClientReg // by client_id
	codes           map[string]*testGrant
	accessTokens    map[string]*testGrant
	refreshTokens   map[string]*testGrant
	registrations   int
	refreshRequests []url.Values // forms of the refresh requests, without the refresh token
	revoked         []string
	issued          []string // every token and code handed out, for the no-secrets-in-logs check
	seq             int

	conns          atomic.Int64 // TCP connections accepted
	refreshesOpen  atomic.Int64 // refresh requests being answered now
	answersLost    int
	graceRefreshes int
}

// testClientReg is a client the test server knows.
type testClientReg struct {
	secret       string // "" for a public client
	redirectURIs []string
}

// testGrant is what an authorization code, access token or refresh token
// stands for.
type testGrant struct {
	clientID, redirectURI, challenge, resource, scope string
	used                                              bool // codes and refresh tokens work once
	regraced                                          bool // a used refresh token presented again in RefreshGrace
	expires                                           time.Time
}

// testScopes are the scopes the test server supports.
var testScopes = []string{"mcp:read", "mcp:write"}

// Pre-registered clients the test server knows from the start.
const (
	testStaticClientID     = "static-client"
	testStaticClientSecret = "static-secret-1111111111"
)

// newTestAuthServer starts the test servers; they stop when the test ends.
func newTestAuthServer(t testing.TB) *testAuthServer {
	t.Helper()
	as := &testAuthServer{
		t:             t,
		clients:       map[string]testClientReg{},
		codes:         map[string]*testGrant{},
		accessTokens:  map[string]*testGrant{},
		refreshTokens: map[string]*testGrant{},
	}
	issuerPath := fmt.Sprintf("/as-%08x", rand.Uint32())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server"+issuerPath, as.serveAuthServerMetadata)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", as.serveResourceMetadata(false, "/mcp"))
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/sse", as.serveResourceMetadata(false, "/sse"))
	mux.HandleFunc("GET /resource-metadata/mcp", as.serveResourceMetadata(true, "/mcp"))
	mux.HandleFunc("GET "+issuerPath+"/authorize", as.serveAuthorize)
	mux.HandleFunc("POST "+issuerPath+"/token", as.serveToken)
	mux.HandleFunc("POST "+issuerPath+"/register", as.serveRegister)
	mux.HandleFunc("POST "+issuerPath+"/revoke", as.serveRevoke)

	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "test-mcp-server", Version: "1"}, nil)
	mcp.AddTool(mcpServer, &mcp.Tool{Name: "whoami", Description: "Says whose token called it."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			who := "someone" // go-sdk's SSE transport does not pass the token on
			if req.Extra != nil && req.Extra.TokenInfo != nil {
				who = req.Extra.TokenInfo.UserID
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, " + who}}}, struct{}{}, nil
		})
	getServer := func(*http.Request) *mcp.Server { return mcpServer }
	mux.Handle("/mcp", as.protect(mcp.NewStreamableHTTPHandler(getServer, nil)))
	mux.Handle("/sse", as.protect(mcp.NewSSEHandler(getServer, nil)))

	as.srv = httptest.NewUnstartedServer(mux)
	as.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			as.conns.Add(1)
		}
	}
	as.srv.Start()
	t.Cleanup(as.srv.Close)
	as.Issuer = as.srv.URL + issuerPath
	as.MCPURL = as.srv.URL + "/mcp"
	as.SSEURL = as.srv.URL + "/sse"
	as.clients[testStaticClientID] = testClientReg{secret: testStaticClientSecret}
	return as
}

// authorize plays the browser and the consenting user: it opens the
// authorization URL the flow made and returns the query of the callback
// the server redirects to.
func (as *testAuthServer) authorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatalf("open the authorization URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.Fatalf("authorization endpoint answered %s, want a redirect: %s", resp.Status, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("redirect location: %v", err)
	}
	return loc.Query()
}

// invalidateAccessTokens makes the MCP server refuse every access token
// issued so far, as after a server-side revocation.
func (as *testAuthServer) invalidateAccessTokens() {
	as.mu.Lock()
	defer as.mu.Unlock()
	clear(as.accessTokens)
}

// Conns returns how many TCP connections the servers accepted: a client
// that reuses its connections opens few.
func (as *testAuthServer) Conns() int64 { return as.conns.Load() }

// Registrations returns how many clients registered dynamically.
func (as *testAuthServer) Registrations() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.registrations
}

// RefreshRequests returns the forms of the refresh requests received.
func (as *testAuthServer) RefreshRequests() []url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.refreshRequests)
}

// Revoked returns the tokens revoked at the revocation endpoint.
func (as *testAuthServer) Revoked() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.revoked)
}

// Issued returns every code and token handed out.
func (as *testAuthServer) Issued() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.issued)
}

func (as *testAuthServer) serveAuthServerMetadata(w http.ResponseWriter, _ *http.Request) {
	m := map[string]any{
		"issuer":                                         as.Issuer,
		"authorization_endpoint":                         as.Issuer + "/authorize",
		"token_endpoint":                                 as.Issuer + "/token",
		"registration_endpoint":                          as.Issuer + "/register",
		"revocation_endpoint":                            as.Issuer + "/revoke",
		"scopes_supported":                               testScopes,
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"authorization_response_iss_parameter_supported": true,
		"client_id_metadata_document_supported":          as.SupportCIMD,
	}
	m["code_challenge_methods_supported"] = []string{"S256"}
	if as.ChallengeMethods != nil {
		m["code_challenge_methods_supported"] = as.ChallengeMethods
	}
	as.writeJSON(w, http.StatusOK, m)
}

// serveResourceMetadata serves the RFC 9728 metadata of the resource at
// path: at the well-known URL, or (challengeOnly) at the URL only the 401
// challenge names.
func (as *testAuthServer) serveResourceMetadata(challengeOnly bool, path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if as.ChallengeMetadata != challengeOnly {
			http.NotFound(w, r)
			return
		}
		resource := as.srv.URL + path
		if as.ResourceOverride != "" {
			resource = as.ResourceOverride
		}
		as.writeJSON(w, http.StatusOK, map[string]any{
			"resource":                 resource,
			"authorization_servers":    []string{as.Issuer},
			"scopes_supported":         testScopes,
			"bearer_methods_supported": []string{"header"},
		})
	}
}

// protect puts the MCP endpoint behind go-sdk's bearer token check, and
// adds the 403 insufficient_scope challenge go-sdk does not send.
func (as *testAuthServer) protect(h http.Handler) http.Handler {
	scoped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if as.RefusedScope != "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, as.RefusedScope))
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		if as.RequiredScope != "" && !slices.Contains(auth.TokenInfoFromContext(r.Context()).Scopes, as.RequiredScope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, as.RequiredScope))
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var opts auth.RequireBearerTokenOptions
		if as.ChallengeMetadata {
			opts.ResourceMetadataURL = as.srv.URL + "/resource-metadata/mcp"
		}
		auth.RequireBearerToken(as.verifyToken, &opts)(scoped).ServeHTTP(w, r)
	})
}

func (as *testAuthServer) verifyToken(_ context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
	as.mu.Lock()
	defer as.mu.Unlock()
	g := as.accessTokens[token]
	if g == nil || !time.Now().Before(g.expires) || as.RejectTokens {
		return nil, auth.ErrInvalidToken
	}
	if want := as.srv.URL + r.URL.Path; g.resource != want {
		return nil, fmt.Errorf("%w: token for %s used at %s", auth.ErrInvalidToken, g.resource, want)
	}
	return &auth.TokenInfo{Scopes: strings.Fields(g.scope), Expiration: g.expires, UserID: "resource-owner"}, nil
}

func (as *testAuthServer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	as.mu.Lock()
	defer as.mu.Unlock()
	client, known := as.clients[q.Get("client_id")]
	if as.SupportCIMD && strings.HasPrefix(q.Get("client_id"), "https://") {
		client, known = testClientReg{redirectURIs: []string{q.Get("redirect_uri")}}, true
	}
	switch {
	case !known:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case client.redirectURIs != nil && !slices.Contains(client.redirectURIs, q.Get("redirect_uri")):
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code", q.Get("state") == "",
		q.Get("code_challenge_method") != "S256", q.Get("code_challenge") == "":
		http.Error(w, "want response_type=code, a state and an S256 code challenge", http.StatusBadRequest)
		return
	case q.Get("resource") != as.MCPURL && q.Get("resource") != as.SSEURL:
		http.Error(w, "resource (RFC 8707) missing or not served here", http.StatusBadRequest)
		return
	}
	code := as.newSecretLocked("code")
	as.codes[code] = &testGrant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), resource: q.Get("resource"), scope: q.Get("scope"),
		expires: time.Now().Add(time.Minute)}
	cb := url.Values{"code": {code}, "state": {q.Get("state")}}
	switch {
	case as.WrongIss:
		cb.Set("iss", "https://attacker.example.com")
	case !as.OmitIss:
		cb.Set("iss", as.Issuer)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+cb.Encode(), http.StatusFound)
}

func (as *testAuthServer) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		as.oauthError(w, "invalid_request", "unreadable form")
		return
	}
	form := r.PostForm
	if len(form["resource"]) != 1 {
		as.oauthError(w, "invalid_target", "one resource (RFC 8707) is required")
		return
	}
	as.mu.Lock()
	clientID, ok := as.authenticateLocked(r, form)
	as.mu.Unlock()
	if !ok {
		as.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	switch form.Get("grant_type") {
	case "authorization_code":
		as.exchangeCode(w, clientID, form)
	case "refresh_token":
		as.refresh(w, r, clientID, form)
	default:
		as.oauthError(w, "unsupported_grant_type", form.Get("grant_type"))
	}
}

func (as *testAuthServer) exchangeCode(w http.ResponseWriter, clientID string, form url.Values) {
	as.mu.Lock()
	defer as.mu.Unlock()
	g := as.codes[form.Get("code")]
	sum := sha256.Sum256([]byte(form.Get("code_verifier")))
	switch {
	case g == nil || g.used || !time.Now().Before(g.expires):
		as.oauthError(w, "invalid_grant", "unknown, used or expired code")
	case g.clientID != clientID || g.redirectURI != form.Get("redirect_uri"):
		as.oauthError(w, "invalid_grant", "code issued to another client or redirect URI")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		as.oauthError(w, "invalid_grant", "PKCE verifier does not match")
	case form.Get("resource") != g.resource:
		as.oauthError(w, "invalid_target", "resource differs from the authorized one")
	default:
		g.used = true
		as.issueTokensLocked(w, g)
	}
}

func (as *testAuthServer) refresh(w http.ResponseWriter, r *http.Request, clientID string, form url.Values) {
	as.refreshesOpen.Add(1)
	defer as.refreshesOpen.Add(-1)
	time.Sleep(as.RefreshDelay)
	if as.RefreshHang {
		<-r.Context().Done()
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	logged := url.Values{}
	for k, v := range form {
		if k != "refresh_token" && k != "client_secret" {
			logged[k] = v
		}
	}
	as.refreshRequests = append(as.refreshRequests, logged)
	g := as.refreshTokens[form.Get("refresh_token")]
	switch {
	case as.RefreshReset:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	case as.RefreshStatus == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", cmp.Or(as.RetryAfter, "30"))
		as.writeJSON(w, as.RefreshStatus, map[string]string{"error": "slow_down"})
	case as.RefreshStatus != 0:
		as.writeJSON(w, as.RefreshStatus, map[string]string{"error": "temporarily_unavailable"})
	case as.RefuseRefresh:
		as.oauthError(w, "invalid_grant", "refresh token revoked")
	case g != nil && g.used && !g.regraced && as.RefreshGrace && g.clientID == clientID && form.Get("resource") == g.resource:
		g.regraced = true
		as.graceRefreshes++
		as.issueTokensLocked(w, g)
	case g == nil || g.used || g.clientID != clientID:
		// A replayed rotating refresh token: real servers revoke the family.
		as.oauthError(w, "invalid_grant", "unknown or already used refresh token")
	case form.Get("resource") != g.resource:
		as.oauthError(w, "invalid_target", "resource differs from the authorized one")
	case as.LoseAnswers > 0:
		as.LoseAnswers--
		as.answersLost++
		as.RefreshStatus = as.StatusAfterLoss
		g.used = true
		as.issueTokensLocked(httptest.NewRecorder(), g) // rotated; the answer never leaves
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	default:
		g.used = true
		as.issueTokensLocked(w, g)
	}
}

// issueTokensLocked answers a new access token and rotated refresh token
// for the grant g stands for.
func (as *testAuthServer) issueTokensLocked(w http.ResponseWriter, g *testGrant) {
	ttl := as.AccessTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	access, refresh := as.newSecretLocked("at"), as.newSecretLocked("rt")
	next := *g
	next.used, next.expires = false, time.Now().Add(ttl)
	as.accessTokens[access] = &next
	as.refreshTokens[refresh] = &next
	w.Header().Set("Cache-Control", "no-store")
	as.writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    int(ttl.Seconds()),
		"refresh_token": refresh,
		"scope":         g.scope,
	})
}

func (as *testAuthServer) serveRegister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RedirectURIs            []string `json:"redirect_uris"`
		TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.RedirectURIs) == 0 {
		as.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client_metadata"})
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.registrations++
	id, secret := fmt.Sprintf("client-%d", as.registrations), as.newSecretLocked("cs")
	as.clients[id] = testClientReg{secret: secret, redirectURIs: req.RedirectURIs}
	as.writeJSON(w, http.StatusCreated, map[string]any{
		"client_id":                  id,
		"client_secret":              secret,
		"client_secret_expires_at":   0,
		"redirect_uris":              req.RedirectURIs,
		"token_endpoint_auth_method": req.TokenEndpointAuthMethod,
	})
}

func (as *testAuthServer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		as.oauthError(w, "invalid_request", "unreadable form")
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if _, ok := as.authenticateLocked(r, r.PostForm); !ok {
		as.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tok := r.PostForm.Get("token")
	as.revoked = append(as.revoked, tok)
	delete(as.refreshTokens, tok)
	w.WriteHeader(http.StatusOK)
}

// authenticateLocked returns the client a token or revocation request
// authenticates as: Basic with a secret, the secret in the form, or a
// public client's client_id alone.
func (as *testAuthServer) authenticateLocked(r *http.Request, form url.Values) (string, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if as.SupportCIMD && strings.HasPrefix(id, "https://") && secret == "" {
		return id, true
	}
	c, ok := as.clients[id]
	return id, ok && c.secret == secret
}

func (as *testAuthServer) newSecretLocked(kind string) string {
	as.seq++
	s := fmt.Sprintf("%s-%d-%016x", kind, as.seq, rand.Uint64())
	as.issued = append(as.issued, s)
	return s
}

func (as *testAuthServer) oauthError(w http.ResponseWriter, code, description string) {
	as.writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func (as *testAuthServer) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		as.t.Errorf("test server: encode answer: %v", err)
	}
}
