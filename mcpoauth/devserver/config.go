package devserver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Scopes the server knows by name. Others may be configured; they are
// granted like mcp:write, gating nothing.
const (
	ScopeRead  = "mcp:read"
	ScopeWrite = "mcp:write"
	ScopeAdmin = "mcp:admin" // required, with mcp:read, by the admin_stats tool
)

// Config configures a Server. The zero value is usable: a free loopback
// port, one-hour access tokens, the consent page, user "alice".
type Config struct {
	// Addr is the listen address. Default "127.0.0.1:0", a free port; an
	// empty host (":8765") means 127.0.0.1. Non-loopback hosts are refused
	// unless AllowNonLoopback is set.
	Addr             string
	AllowNonLoopback bool

	// IssuerPath puts the authorization server's issuer at a path, e.g.
	// "/oauth", so that clients' path-insertion discovery is exercised.
	// Empty: the issuer is the base URL.
	IssuerPath string

	AccessTokenTTL  time.Duration // default 1h
	RefreshTokenTTL time.Duration // default 24h; each rotation starts it again
	CodeTTL         time.Duration // lifetime of an authorization code; default 1m

	// RefreshDelay holds every refresh_token grant this long before it is
	// answered, so that tests can catch a client in the middle of a
	// refresh (Stats.RefreshesInFlight says when one is). A grant whose
	// client goes away meanwhile is abandoned without rotating anything:
	// see Server.refresh. Default 0: no delay.
	RefreshDelay time.Duration

	// RefreshGrace keeps a rotated refresh token valid this long after
	// its rotation, once more, as many authorization servers do so that a
	// client whose answer was lost can recover: presented again while
	// its successor is unused, it is answered with a new pair, and the
	// successor is spent (Stats.GraceRefreshes). Default 0: any replay is
	// reuse, and revokes the family.
	RefreshGrace time.Duration

	// Faults make refresh grants fail at random; see Faults.
	Faults Faults

	// AutoApprove answers authorization requests at once, as the user named
	// by login_hint (or user), else DefaultUser, without a consent page.
	AutoApprove bool
	// DefaultUser is the identity consenting when the request names none.
	// Default "alice".
	DefaultUser string

	// Scopes are the supported scopes. Default mcp:read, mcp:write, mcp:admin.
	Scopes []string

	// OfflineAccess makes the server behave as many identity providers do:
	// it advertises the offline_access scope and issues a refresh token
	// only to grants that asked for it.
	OfflineAccess bool

	// HideS256 leaves code_challenge_methods_supported out of the
	// authorization server metadata, so that a client's refusal to proceed
	// without S256 can be tested. PKCE with S256 is still required.
	HideS256 bool
	// DisableDCR removes dynamic client registration (/register answers 404).
	DisableDCR bool
	// DisableCIMD turns Client ID Metadata Documents off: URL client_ids
	// are unknown clients.
	DisableCIMD bool
	// AllowHTTPCIMD accepts http:// client_id URLs on loopback hosts, so
	// that tests can serve the metadata document locally. https is always
	// accepted.
	AllowHTTPCIMD bool
	// CIMDCacheTTL is how long a fetched metadata document is reused.
	// Default 30s.
	CIMDCacheTTL time.Duration

	// RequireResource rejects authorization and token requests (refreshes
	// included) that omit the RFC 8707 resource parameter, with
	// invalid_target. Off by default; Stats.MissingResource counts them
	// either way.
	RequireResource bool

	// Clients are pre-registered clients.
	Clients []ClientConfig

	// Log, when set, receives one line per request: method, path (never the
	// query) and status. Tokens are never written.
	Log io.Writer

	// HTTPClient fetches Client ID Metadata Documents. Default: a client
	// with a 5s timeout that does not follow redirects.
	HTTPClient *http.Client
}

// ClientConfig is a pre-registered client.
type ClientConfig struct {
	ID string
	// Secret makes the client confidential: it must authenticate with
	// client_secret_basic or client_secret_post. Empty: a public client.
	Secret       string
	Name         string
	RedirectURIs []string
}

// ScopeOfflineAccess asks for a refresh token (OpenID Connect Core 11);
// see Config.OfflineAccess.
const ScopeOfflineAccess = "offline_access"

// DefaultScopes are the supported scopes when Config.Scopes is empty.
var DefaultScopes = []string{ScopeRead, ScopeWrite, ScopeAdmin}

// userNamePattern is what the consent page accepts as a user name.
var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,64}$`)

// issuerPathPattern is a plain path: segments of unreserved characters.
var issuerPathPattern = regexp.MustCompile(`^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$`)

var scopeTokenPattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`) // RFC 6749 §3.3

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return cfg, fmt.Errorf("addr %q: %v (want host:port, e.g. 127.0.0.1:8765)", cfg.Addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
		cfg.Addr = net.JoinHostPort(host, port)
	}
	if !isLoopbackHost(host) {
		if !cfg.AllowNonLoopback {
			return cfg, fmt.Errorf("addr %q is not a loopback address: the dev server has no real authentication, so it listens on 127.0.0.1, ::1 or localhost unless non-loopback addresses are explicitly allowed", cfg.Addr)
		}
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
			return cfg, fmt.Errorf("addr %q: give the concrete address clients will use, since it becomes the issuer", cfg.Addr)
		}
	}

	p := strings.TrimRight(cfg.IssuerPath, "/")
	if p != "" {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if !issuerPathPattern.MatchString(p) {
			return cfg, fmt.Errorf("issuer path %q: want a plain path such as /oauth", cfg.IssuerPath)
		}
		for _, taken := range []string{"/mcp", "/sse", "/_dev", "/.well-known"} {
			if p == taken || strings.HasPrefix(p, taken+"/") {
				return cfg, fmt.Errorf("issuer path %q collides with %s", cfg.IssuerPath, taken)
			}
		}
	}
	cfg.IssuerPath = p

	for name, d := range map[string]*time.Duration{"access token TTL": &cfg.AccessTokenTTL, "refresh token TTL": &cfg.RefreshTokenTTL, "code TTL": &cfg.CodeTTL, "CIMD cache TTL": &cfg.CIMDCacheTTL, "refresh delay": &cfg.RefreshDelay, "refresh grace": &cfg.RefreshGrace} {
		if *d < 0 {
			return cfg, fmt.Errorf("%s %v is negative", name, *d)
		}
	}
	if cfg.Faults, err = cfg.Faults.check(); err != nil {
		return cfg, err
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = time.Hour
	}
	if cfg.RefreshTokenTTL == 0 {
		cfg.RefreshTokenTTL = 24 * time.Hour
	}
	if cfg.CodeTTL == 0 {
		cfg.CodeTTL = time.Minute
	}
	if cfg.CIMDCacheTTL == 0 {
		cfg.CIMDCacheTTL = 30 * time.Second
	}

	if cfg.DefaultUser == "" {
		cfg.DefaultUser = "alice"
	}
	if !userNamePattern.MatchString(cfg.DefaultUser) {
		return cfg, fmt.Errorf("default user %q: use 1-64 letters, digits or . _ @ + -", cfg.DefaultUser)
	}

	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.OfflineAccess {
		cfg.Scopes = append(slices.Clip(cfg.Scopes), ScopeOfflineAccess)
	}
	var scopes []string
	for _, s := range cfg.Scopes {
		if !scopeTokenPattern.MatchString(s) {
			return cfg, fmt.Errorf("scope %q is not a valid OAuth scope token", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	cfg.Scopes = scopes

	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

	seen := map[string]bool{}
	for _, c := range cfg.Clients {
		if c.ID == "" || seen[c.ID] {
			return cfg, fmt.Errorf("pre-registered client %q: the id is empty or repeated", c.ID)
		}
		seen[c.ID] = true
		if len(c.RedirectURIs) == 0 {
			return cfg, fmt.Errorf("pre-registered client %q has no redirect URI", c.ID)
		}
		for _, u := range c.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return cfg, fmt.Errorf("pre-registered client %q: %v", c.ID, err)
			}
		}
	}
	return cfg, nil
}

// ChallengeScopes are named in 401 challenges and granted when an
// authorization request names no scope: every supported scope but
// mcp:admin (all of them if that leaves none).
func (cfg Config) ChallengeScopes() []string {
	var out []string
	for _, s := range cfg.Scopes {
		if s != ScopeAdmin {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return cfg.Scopes
	}
	return out
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
