package devserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The tests run the server on a free loopback port and talk to it over
// HTTP, as a client would.

const testRedirect = "http://127.0.0.1:9999/callback" // never contacted: redirects are not followed

// start runs a server for the test.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
	})
	return s
}

// noRedirect is an HTTP client that returns redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type testClient struct {
	id, secret, redirect string
}

// register registers a client by DCR with the SDK's helper.
func register(t *testing.T, s *Server, meta oauthex.ClientRegistrationMetadata) testClient {
	t.Helper()
	if meta.RedirectURIs == nil {
		meta.RedirectURIs = []string{testRedirect}
	}
	resp, err := oauthex.RegisterClient(ctxT(t), s.URLs().Register, &meta, nil)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return testClient{id: resp.ClientID, secret: resp.ClientSecret, redirect: meta.RedirectURIs[0]}
}

// publicClient registers a public client (token_endpoint_auth_method none).
func publicClient(t *testing.T, s *Server) testClient {
	return register(t, s, oauthex.ClientRegistrationMetadata{
		ClientName: "Test App", TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code", "refresh_token"},
	})
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := strings.ReplaceAll(rand.Text()+rand.Text(), "=", "") // 52 characters
	return pkce{v, s256(v)}
}

// authParams are a valid authorization request of c.
func authParams(s *Server, c testClient, p pkce) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {c.id},
		"redirect_uri":          {c.redirect},
		"code_challenge":        {p.challenge},
		"code_challenge_method": {"S256"},
		"state":                 {"st-" + rand.Text()},
		"resource":              {s.URLs().MCP},
	}
}

// authorize GETs the authorization endpoint and returns the answer.
func authorize(t *testing.T, s *Server, q url.Values) *http.Response {
	t.Helper()
	resp, err := noRedirect.Get(s.URLs().Authorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// redirected checks that resp redirects to the client's redirect URI and
// returns the query it carries.
func redirected(t *testing.T, s *Server, resp *http.Response, redirectURI string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want a redirect; body: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	base := *loc
	base.RawQuery = ""
	if base.String() != redirectURI {
		t.Fatalf("redirected to %s, want %s", base.String(), redirectURI)
	}
	q := loc.Query()
	if got := q.Get("iss"); got != s.URLs().Issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", got, s.URLs().Issuer)
	}
	return q
}

// code runs an auto-approved authorization request and returns the code.
func code(t *testing.T, s *Server, c testClient, p pkce, extra url.Values) string {
	t.Helper()
	q := authParams(s, c, p)
	for k, v := range extra {
		q[k] = v
	}
	got := redirected(t, s, authorize(t, s, q), c.redirect)
	if got.Get("error") != "" {
		t.Fatalf("authorization failed: %s: %s", got.Get("error"), got.Get("error_description"))
	}
	if got.Get("state") != q.Get("state") {
		t.Errorf("state = %q, want %q", got.Get("state"), q.Get("state"))
	}
	return got.Get("code")
}

type tokenAnswer struct {
	status int
	header http.Header
	tokenResponse
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// postForm POSTs form to endpoint, with Basic credentials when basic is set.
func postForm(t *testing.T, endpoint string, form url.Values, basic *[2]string) tokenAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header}
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("token endpoint answered %d with non-JSON %q", resp.StatusCode, body)
		}
	}
	return a
}

// exchange redeems a code as the public client c.
func exchange(t *testing.T, s *Server, c testClient, code string, p pkce) tokenAnswer {
	t.Helper()
	return postForm(t, s.URLs().Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect},
		"code_verifier": {p.verifier}, "client_id": {c.id}, "resource": {s.URLs().MCP},
	}, nil)
}

// mustToken runs a whole auto-approved flow for the public client c.
func mustToken(t *testing.T, s *Server, c testClient, extra url.Values) tokenAnswer {
	t.Helper()
	p := newPKCE()
	a := exchange(t, s, c, code(t, s, c, p, extra), p)
	if a.status != http.StatusOK {
		t.Fatalf("exchange: %d %s: %s", a.status, a.Error, a.Description)
	}
	return a
}

func refresh(t *testing.T, s *Server, c testClient, rt string) tokenAnswer {
	t.Helper()
	return postForm(t, s.URLs().Token, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.id}, "resource": {s.URLs().MCP},
	}, nil)
}

func wantError(t *testing.T, a tokenAnswer, status int, code string) {
	t.Helper()
	if a.status != status || a.Error != code {
		t.Errorf("got %d %q (%s), want %d %q", a.status, a.Error, a.Description, status, code)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// bearer adds a token to requests and records the last response.
type bearer struct {
	mu    sync.Mutex
	token string
	last  *http.Response
}

func (b *bearer) set(tok string) {
	b.mu.Lock()
	b.token = tok
	b.mu.Unlock()
}

func (b *bearer) lastResponse() *http.Response {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	tok := b.token
	b.mu.Unlock()
	r = r.Clone(r.Context())
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.StatusCode >= 400 {
		b.mu.Lock()
		b.last = resp
		b.mu.Unlock()
	}
	return resp, err
}

// connect opens an MCP session over streamable HTTP with b's token.
func connect(t *testing.T, endpoint string, b *bearer) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "devserver-test", Version: "1"}, nil)
	cs, err := c.Connect(ctxT(t), &mcp.StreamableClientTransport{
		Endpoint: endpoint, HTTPClient: &http.Client{Transport: b}, MaxRetries: -1, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, tool string, args any) (string, error) {
	t.Helper()
	res, err := cs.CallTool(ctxT(t), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", &toolError{res}
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String(), nil
}

type toolError struct{ res *mcp.CallToolResult }

func (e *toolError) Error() string {
	b, _ := json.Marshal(e.res.Content)
	return "tool error: " + string(b)
}

func whoami(t *testing.T, cs *mcp.ClientSession) Whoami {
	t.Helper()
	text, err := callText(t, cs, "whoami", map[string]any{})
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	var w Whoami
	if err := json.Unmarshal([]byte(text), &w); err != nil {
		t.Fatalf("whoami answered %q: %v", text, err)
	}
	return w
}

// mcpPost sends one raw JSON-RPC message to endpoint with token.
func mcpPost(t *testing.T, endpoint, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// challenge parses the Bearer challenge of resp.
func challenge(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", resp.Header.Values("WWW-Authenticate"), err)
	}
	for _, c := range cs {
		if c.Scheme == "bearer" {
			return c.Params
		}
	}
	t.Fatalf("no Bearer challenge in %q", resp.Header.Values("WWW-Authenticate"))
	return nil
}

// browser is an HTTP client with cookies that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: noRedirect.CheckRedirect}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// consentForm GETs the consent page of q in br and returns its hidden fields.
func consentForm(t *testing.T, s *Server, br *http.Client, q url.Values) (url.Values, string) {
	t.Helper()
	resp, err := br.Get(s.URLs().Authorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d %s", resp.StatusCode, body)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("request_id") == "" || form.Get("csrf_token") == "" {
		t.Fatalf("consent page lacks its hidden fields:\n%s", body)
	}
	return form, string(body)
}

// oauthexMeta is registration metadata with testRedirect.
func oauthexMeta(authMethod, scope string) oauthex.ClientRegistrationMetadata {
	return oauthexMetaRedirect(authMethod, scope, testRedirect)
}

func oauthexMetaRedirect(authMethod, scope, redirect string) oauthex.ClientRegistrationMetadata {
	return oauthex.ClientRegistrationMetadata{
		ClientName: "Test App", TokenEndpointAuthMethod: authMethod, Scope: scope,
		RedirectURIs: []string{redirect}, GrantTypes: []string{"authorization_code", "refresh_token"},
	}
}
