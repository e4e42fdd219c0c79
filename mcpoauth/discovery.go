package mcpoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Limits on what the OAuth code sends and reads.
const (
	// oauthRequestTimeout bounds each request to an authorization server
	// or a metadata endpoint, and the unauthenticated probe.
	oauthRequestTimeout = 30 * time.Second

	// maxOAuthResponseBytes bounds the token and revocation responses read.
	// (Metadata and registration responses are bounded by go-sdk, the code
	// exchange by golang.org/x/oauth2, to the same 1 MiB.)
	maxOAuthResponseBytes = 1 << 20

	// maxDiscardBytes is how much of an unwanted body is drained so that
	// the connection can be reused.
	maxDiscardBytes = 64 << 10

	// metadataTTL is how long authorization server metadata is reused.
	metadataTTL = 10 * time.Minute
)

// ErrDiscovery is wrapped by the errors of finding how an MCP server is
// protected: no usable protected resource metadata, or authorization server
// metadata that is missing or fails validation.
var ErrDiscovery = errors.New("OAuth discovery failed")

// oauthEnv is what the flow, the token source and the client factory
// share: the store, the HTTP client, the clock and the caches.
type oauthEnv[U comparable] struct {
	store  *Store[U]
	hc     *http.Client // discovery and MCP requests
	now    func() time.Time
	log    *slog.Logger
	meta   *metadataCache
	shared *refreshShared
	window time.Duration // renew tokens expiring within this long
	// refreshTimeout bounds each refresh request; see lockHold.
	refreshTimeout time.Duration
}

func newOAuthEnv[U comparable](store *Store[U], hc *http.Client, now func() time.Time, log *slog.Logger, meta *metadataCache, shared *refreshShared, window, refreshTimeout time.Duration) *oauthEnv[U] {
	if window <= 0 {
		window = DefaultRefreshWindow
	}
	if refreshTimeout <= 0 {
		refreshTimeout = DefaultRefreshTimeout
	}
	if shared == nil {
		shared = &refreshShared{}
	}
	if hc == nil {
		hc = sharedHTTPClient()
	}
	if now == nil {
		now = store.now
	}
	if log == nil {
		log = slog.Default()
	}
	return &oauthEnv[U]{store: store, hc: hc, now: now, log: log, meta: meta, shared: shared, window: window, refreshTimeout: refreshTimeout}
}

// sharedHTTPClient is the client of every Clients and Flow configured with
// none: one per process, like http.DefaultClient, so that successive jobs
// and requests reuse its connections instead of each dialling (and then
// leaving idle) connections of its own.
var sharedHTTPClient = sync.OnceValue(defaultHTTPClient)

// defaultHTTPClient is the client used when none is configured: dial and
// TLS handshake timeouts, but no overall or response-header timeout, which
// would cut MCP's long-lived event streams and slow tool calls. Each OAuth
// request gets its own deadline instead (oauthRequestTimeout); MCP calls
// are bounded by their caller's context. It keeps up to 64 idle
// connections per host, not 2: nearly every request goes to the few MCP
// servers, and jobs running at once would otherwise keep dialling them.
func defaultHTTPClient() *http.Client {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Client{Transport: http.DefaultTransport}
	}
	t := base.Clone()
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

// oauthClient is hc without redirects: token, registration and revocation
// requests carry secrets, and an authorization server never redirects them.
func (e *oauthEnv[U]) oauthClient() *http.Client {
	c := *e.hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// resourceInfo is what discovery learnt about an MCP server.
type resourceInfo struct {
	metadata       *oauthex.ProtectedResourceMetadata
	challengeScope []string // scope of the server's 401 challenge, if any
}

// issuer is the authorization server the flow uses: the first listed.
func (ri *resourceInfo) issuer() string { return ri.metadata.AuthorizationServers[0] }

// discoverResource finds the protected resource metadata (RFC 9728) of the
// MCP server at serverURL, a canonical URL from the registry: from the
// resource_metadata of the 401 challenge an unauthenticated request gets,
// else at the path-inserted well-known URL, else at the root one. The
// metadata's resource must be serverURL, or at the root URL the server's
// origin (RFC 9728 section 3.3: the identifier the well-known path was
// inserted into). A server that publishes no metadata anywhere and names
// none in its challenge is a server of the 2025-03-26 specification: its
// origin is its authorization server.
func (e *oauthEnv[U]) discoverResource(ctx context.Context, serverURL string) (*resourceInfo, error) {
	challenges, err := e.probe(ctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	ri := &resourceInfo{}
	var candidates []string
	if c := bearerChallenge(challenges); c != nil {
		if u := c.Params["resource_metadata"]; u != "" {
			candidates = append(candidates, u)
		}
		if s := c.Params["scope"]; s != "" {
			ri.challengeScope = strings.Fields(s)
		}
	}
	for _, s := range ri.challengeScope {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("%w: the 401 challenge of %s has an invalid scope %q", ErrDiscovery, serverURL, s)
		}
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("%w: server URL: %w", ErrDiscovery, err)
	}
	origin := u.Scheme + "://" + u.Host
	named := len(candidates) > 0 // the challenge named its metadata
	if p := strings.Trim(u.Path, "/"); p != "" {
		candidates = append(candidates, origin+"/.well-known/oauth-protected-resource/"+p)
	}
	root := origin + "/.well-known/oauth-protected-resource"
	candidates = append(candidates, root)

	var errs []error
	missing := 0
	for _, c := range candidates {
		if err := checkEndpoint(c); err != nil {
			errs = append(errs, fmt.Errorf("resource_metadata %q: %w", c, err))
			continue
		}
		accept := []string{serverURL}
		if c == root && origin != serverURL {
			accept = append(accept, origin)
		}
		prm, err := e.resourceMetadata(ctx, c, accept)
		if errors.Is(err, errNoMetadata) {
			missing++
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Metadata was found: it must be usable, or discovery stops here.
		if err := checkResourceMetadata(prm); err != nil {
			return nil, fmt.Errorf("%w: protected resource metadata at %s: %w", ErrDiscovery, c, err)
		}
		ri.metadata = prm
		return ri, nil
	}
	if !named && missing == len(candidates) {
		ri.metadata = &oauthex.ProtectedResourceMetadata{Resource: serverURL, AuthorizationServers: []string{origin}}
		return ri, nil
	}
	return nil, fmt.Errorf("%w: no protected resource metadata for %s: %w", ErrDiscovery, serverURL, errors.Join(errs...))
}

// errNoMetadata is a metadata URL answering 404 or 410: nothing there.
var errNoMetadata = errors.New("no metadata there")

// maxMetadataBytes bounds a metadata document.
const maxMetadataBytes = 1 << 20

// resourceMetadata fetches the protected resource metadata at metadataURL
// and checks that its resource is one of accept and its authorization
// servers are https (or loopback) URLs.
func (e *oauthEnv[U]) resourceMetadata(ctx context.Context, metadataURL string, accept []string) (*oauthex.ProtectedResourceMetadata, error) {
	ctx, cancel := context.WithTimeout(ctx, oauthRequestTimeout)
	defer cancel()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("protected resource metadata at %s: %s", metadataURL, fmt.Sprintf(format, args...))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURL, nil)
	if err != nil {
		return nil, fail("%v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.oauthClient().Do(req)
	if err != nil {
		return nil, fail("%v", err)
	}
	defer drainAndClose(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: %s answered %s", errNoMetadata, metadataURL, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fail("answered %s", resp.Status)
	}
	body, err := readLimited(resp.Body, maxMetadataBytes)
	if err != nil {
		return nil, fail("%v", err)
	}
	var prm oauthex.ProtectedResourceMetadata
	if err := json.Unmarshal(body, &prm); err != nil {
		return nil, fail("not JSON metadata: %v", err)
	}
	if !slices.Contains(accept, prm.Resource) {
		return nil, fail("resource %q, want %q", printable(prm.Resource, 200), strings.Join(accept, `" or "`))
	}
	for i, as := range prm.AuthorizationServers {
		if err := checkIssuer(as); err != nil {
			return nil, fail("authorization_servers[%d] %q: %v", i, printable(as, 200), err)
		}
	}
	return &prm, nil
}

// probe sends the MCP server an unauthenticated initialize request and
// returns the challenges of its 401 answer (none for another answer).
func (e *oauthEnv[U]) probe(ctx context.Context, serverURL string) ([]oauthex.Challenge, error) {
	ctx, cancel := context.WithTimeout(ctx, oauthRequestTimeout)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",` +
		`"capabilities":{},"clientInfo":{"name":"mcpoauth-discovery","version":"1"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := e.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("MCP server unreachable: %w", err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, nil
	}
	challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		// A malformed challenge is not fatal: the well-known URLs remain.
		e.log.Warn("mcpoauth: ignoring a malformed WWW-Authenticate header", "server_url", serverURL, "error", err)
		return nil, nil
	}
	return challenges, nil
}

// bearerChallenge returns the Bearer challenge among cs, or nil.
func bearerChallenge(cs []oauthex.Challenge) *oauthex.Challenge {
	for i := range cs {
		if cs[i].Scheme == "bearer" {
			return &cs[i]
		}
	}
	return nil
}

// checkResourceMetadata validates the fields of protected resource
// metadata the flow relies on (go-sdk has checked resource already).
func checkResourceMetadata(prm *oauthex.ProtectedResourceMetadata) error {
	if len(prm.AuthorizationServers) == 0 {
		return errors.New("it names no authorization server")
	}
	if err := checkIssuer(prm.AuthorizationServers[0]); err != nil {
		return fmt.Errorf("authorization_servers[0]: %w", err)
	}
	for _, s := range prm.ScopesSupported {
		if !validScopeToken(s) {
			return fmt.Errorf("scopes_supported has an invalid scope %q", s)
		}
	}
	if len(prm.BearerMethodsSupported) > 0 && !slices.Contains(prm.BearerMethodsSupported, "header") {
		return errors.New("bearer_methods_supported excludes the Authorization header, the only way this app sends tokens")
	}
	return nil
}

// metadataCache keeps validated authorization server metadata by issuer.
// Its zero value is ready to use.
type metadataCache struct {
	mu      sync.Mutex
	entries map[string]metadataEntry
}

type metadataEntry struct {
	asm     *oauthex.AuthServerMeta
	fetched time.Time
}

// authServer returns the validated metadata (RFC 8414) of issuer, fetched
// from the well-known URLs in the order the MCP specification gives, or
// from the cache.
func (e *oauthEnv[U]) authServer(ctx context.Context, issuer string) (*oauthex.AuthServerMeta, error) {
	now := e.now()
	c := e.meta
	c.mu.Lock()
	if ent, ok := c.entries[issuer]; ok && now.Sub(ent.fetched) < metadataTTL && !now.Before(ent.fetched) {
		c.mu.Unlock()
		return ent.asm, nil
	}
	c.mu.Unlock()

	if err := checkIssuer(issuer); err != nil {
		return nil, fmt.Errorf("%w: issuer %q: %w", ErrDiscovery, issuer, err)
	}
	rctx, cancel := context.WithTimeout(ctx, oauthRequestTimeout)
	defer cancel()
	asm, err := auth.GetAuthServerMetadata(rctx, issuer, e.hc)
	if err != nil && isOrigin(issuer) && strings.Contains(err.Error(), "does not match issuer URL") {
		// The 2025-03-26 specification has clients fetch the metadata at
		// the MCP server's origin whatever issuer it names: the origin is
		// the authorization server as this app knows it.
		asm, err = e.legacyAuthServer(rctx, issuer)
	}
	if err != nil {
		// go-sdk refuses metadata without code_challenge_methods_supported
		// before returning it; that is a refusal for want of S256 too.
		if strings.Contains(err.Error(), "does not implement PKCE") {
			return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, issuer, ErrNoS256)
		}
		return nil, fmt.Errorf("%w: authorization server metadata of %s: %w", ErrDiscovery, issuer, err)
	}
	if asm == nil {
		if asm = legacyEndpoints(issuer); asm == nil {
			return nil, fmt.Errorf("%w: %s publishes no authorization server metadata", ErrDiscovery, issuer)
		}
	}
	if err := checkAuthServerMetadata(asm, issuer); err != nil {
		return nil, fmt.Errorf("%w: authorization server metadata of %s: %w", ErrDiscovery, issuer, err)
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[string]metadataEntry)
	}
	c.entries[issuer] = metadataEntry{asm: asm, fetched: now}
	c.mu.Unlock()
	return asm, nil
}

// isOrigin reports whether issuer is a bare origin: no path, no query.
func isOrigin(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && strings.Trim(u.Path, "/") == "" && u.RawQuery == "" && u.Host != ""
}

// legacyAuthServer reads the authorization server metadata at origin's
// well-known URL, as the 2025-03-26 specification does, and takes origin
// as its issuer: the callback's iss, if the server sends one, must then
// be the origin too.
func (e *oauthEnv[U]) legacyAuthServer(ctx context.Context, origin string) (*oauthex.AuthServerMeta, error) {
	metaURL := strings.TrimSuffix(origin, "/") + "/.well-known/oauth-authorization-server"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metaURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.oauthClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", metaURL, resp.Status)
	}
	body, err := readLimited(resp.Body, maxMetadataBytes)
	if err != nil {
		return nil, err
	}
	var asm oauthex.AuthServerMeta
	if err := json.Unmarshal(body, &asm); err != nil {
		return nil, fmt.Errorf("%s: not JSON metadata: %w", metaURL, err)
	}
	asm.Issuer = strings.TrimSuffix(origin, "/")
	asm.AuthorizationResponseIssParameterSupported = false
	return &asm, nil
}

// legacyEndpoints is the metadata of an authorization server at an origin
// that publishes none, as the 2025-03-26 specification has clients assume:
// /authorize, /token and /register at that origin, with PKCE. An issuer
// with a path has no such defaults (nil).
func legacyEndpoints(issuer string) *oauthex.AuthServerMeta {
	if !isOrigin(issuer) {
		return nil
	}
	origin := strings.TrimSuffix(issuer, "/")
	return &oauthex.AuthServerMeta{
		Issuer:                        origin,
		AuthorizationEndpoint:         origin + "/authorize",
		TokenEndpoint:                 origin + "/token",
		RegistrationEndpoint:          origin + "/register",
		ResponseTypesSupported:        []string{"code"},
		CodeChallengeMethodsSupported: []string{"S256"},
	}
}

// checkAuthServerMetadata validates the fields of authorization server
// metadata the flow relies on: the issuer is the one asked for, the
// endpoints are https (or loopback), PKCE with S256 and the code flow are
// supported.
func checkAuthServerMetadata(asm *oauthex.AuthServerMeta, issuer string) error {
	if !sameIssuer(asm.Issuer, issuer) {
		return fmt.Errorf("issuer %q, want %q", asm.Issuer, issuer)
	}
	if !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		return ErrNoS256
	}
	for _, ep := range []struct {
		name, url string
		required  bool
	}{
		{"authorization_endpoint", asm.AuthorizationEndpoint, true},
		{"token_endpoint", asm.TokenEndpoint, true},
		{"registration_endpoint", asm.RegistrationEndpoint, false},
		{"revocation_endpoint", asm.RevocationEndpoint, false},
	} {
		if ep.url == "" && !ep.required {
			continue
		}
		if err := checkEndpoint(ep.url); err != nil {
			return fmt.Errorf("%s %q: %w", ep.name, ep.url, err)
		}
	}
	if len(asm.ResponseTypesSupported) > 0 && !slices.Contains(asm.ResponseTypesSupported, "code") {
		return errors.New("response_types_supported lacks code")
	}
	if len(asm.GrantTypesSupported) > 0 && !slices.Contains(asm.GrantTypesSupported, "authorization_code") {
		return errors.New("grant_types_supported lacks authorization_code")
	}
	for _, s := range asm.ScopesSupported {
		if !validScopeToken(s) {
			return fmt.Errorf("scopes_supported has an invalid scope %q", s)
		}
	}
	return nil
}

// drainAndClose reads a little of body, so the connection can be reused,
// and closes it.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, maxDiscardBytes)
	_ = body.Close()
}

// readLimited reads all of body, failing when it exceeds limit bytes.
func readLimited(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return bytes.TrimSpace(b), nil
}
