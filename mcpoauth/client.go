package mcpoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var (
	// ErrNotAuthenticated: the user has not connected their account on the
	// MCP server. Ask them to, in the browser.
	ErrNotAuthenticated = errors.New("user has not connected to the MCP server")

	// ErrReauthRequired: the user connected, but the authorization server
	// no longer honours the grant (the refresh was refused, or the MCP
	// server refused a freshly refreshed token). Retrying will not help;
	// the user must connect again in the browser.
	ErrReauthRequired = errors.New("MCP server connection must be renewed in the browser")

	// ErrInsufficientScope matches every *InsufficientScopeError with
	// errors.Is.
	ErrInsufficientScope = errors.New("insufficient scope")
)

// InsufficientScopeError reports a 403 insufficient_scope answer: the
// token lacks a scope the call needs. A background job cannot step up:
// the runtime records the scope on the credential (RequiredScope), the
// list page offers to connect again, and that connect asks for it.
type InsufficientScopeError struct {
	ServerKey   string
	Scope       string // the scopes the server asks for, space-separated; may be empty
	Description string // error_description of the challenge, if any
	// StepUp is true when connecting again can help: the server asks for
	// a scope the user has not granted, and it was recorded. False when
	// the grant already holds every scope asked for (the server refuses
	// anyway: connecting again would loop) or none could be recorded.
	StepUp bool
}

// Error implements error.
func (e *InsufficientScopeError) Error() string {
	s := "MCP server " + e.ServerKey + " needs a wider scope"
	if e.Scope != "" {
		s += ": " + e.Scope
	}
	if !e.StepUp {
		s += " (connecting again would not grant more)"
	}
	return s
}

// Is makes errors.Is(err, ErrInsufficientScope) true.
func (e *InsufficientScopeError) Is(target error) bool { return target == ErrInsufficientScope }

// Clients makes MCP client sessions acting as a user, with the user's
// stored token: what background jobs call tools through. Set the fields
// before first use; Clients is safe for concurrent use.
type Clients[U comparable] struct {
	Store          *Store[U]
	Servers        *Registry
	HTTPClient     *http.Client        // nil: a client with timeouts and the internal-address guard, one per Registry
	Implementation *mcp.Implementation // name and version sent to servers; nil: "mcpgen app"
	Logger         *slog.Logger        // nil: slog.Default()
	// RefreshWindow is how long before expiry a token is renewed; 0 means
	// DefaultRefreshWindow. It must be shorter than the tokens' lifetime,
	// or every request refreshes.
	RefreshWindow time.Duration
	// RefreshTimeout bounds each refresh request to the token endpoint;
	// 0 means DefaultRefreshTimeout. A refresh holds its credential's
	// lock for at most twice this plus five seconds.
	RefreshTimeout time.Duration

	meta       metadataCache
	refreshing refreshShared
}

// ClientsFromEnv returns Clients for the servers, named to them by
// MCP_OAUTH_CLIENT_NAME and renewing tokens MCP_OAUTH_REFRESH_WINDOW (a Go
// duration such as 5m) before they expire; both are optional.
func ClientsFromEnv[U comparable](store *Store[U], servers *Registry) (*Clients[U], error) {
	window, err := refreshWindowFromEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	timeout, err := durationFromEnv(os.LookupEnv, RefreshTimeoutEnv)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(os.Getenv("MCP_OAUTH_CLIENT_NAME"))
	if name == "" {
		name = defaultAppName
	}
	return &Clients[U]{
		Store: store, Servers: servers, RefreshWindow: window, RefreshTimeout: timeout,
		Implementation: &mcp.Implementation{Name: name, Version: "1.0.0"},
	}, nil
}

// RefreshWindowEnv names the variable that overrides DefaultRefreshWindow.
const RefreshWindowEnv = "MCP_OAUTH_REFRESH_WINDOW"

// RefreshTimeoutEnv names the variable that overrides DefaultRefreshTimeout.
const RefreshTimeoutEnv = "MCP_OAUTH_REFRESH_TIMEOUT"

// refreshWindowFromEnv reads RefreshWindowEnv: 0 when unset.
func refreshWindowFromEnv(lookup func(string) (string, bool)) (time.Duration, error) {
	return durationFromEnv(lookup, RefreshWindowEnv)
}

// durationFromEnv reads a positive duration from the variable name: 0
// when unset.
func durationFromEnv(lookup func(string) (string, bool), name string) (time.Duration, error) {
	v, ok := lookup(name)
	if v = strings.TrimSpace(v); !ok || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("mcpoauth: %s=%q is not a positive duration such as 5m or 30s", name, v)
	}
	return d, nil
}

// Transport is the MCP transport a session uses.
type Transport int

// The transports For can use.
const (
	Streamable Transport = iota // streamable HTTP (MCP 2025-03-26 and later)
	SSE                         // HTTP with server-sent events (MCP 2024-11-05)
)

// ClientOptions selects the server and transport of a session.
type ClientOptions struct {
	Server    string // registry key; "" is the default server
	Transport Transport
}

func (c *Clients[U]) env() (*oauthEnv[U], error) {
	switch {
	case c == nil:
		return nil, errors.New("mcpoauth: clients is nil")
	case c.Store == nil:
		return nil, errors.New("mcpoauth: clients has no store")
	case c.Servers == nil:
		return nil, errors.New("mcpoauth: clients has no server registry")
	}
	hc := c.HTTPClient
	if hc == nil {
		var err error
		if hc, err = c.Servers.httpClient(); err != nil {
			return nil, err
		}
	}
	return newOAuthEnv(c.Store, hc, nil, c.Logger, &c.meta, &c.refreshing, c.RefreshWindow, c.RefreshTimeout), nil
}

// For connects to an MCP server as the user and returns the session; the
// caller closes it. It fails with an error wrapping ErrNotAuthenticated
// or ErrReauthRequired, before any network request, when the user has not
// connected or must reconnect; with ErrReauthRequired too when the server
// refuses the token even after a refresh; and with an
// *InsufficientScopeError on a 403 insufficient_scope.
func (c *Clients[U]) For(ctx context.Context, userID U, opts *ClientOptions) (*mcp.ClientSession, error) {
	client, transport, key, err := c.prepare(ctx, userID, opts)
	if err != nil {
		return nil, err
	}
	session, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: connect to %q: %w", key, err)
	}
	return session, nil
}

// prepare is For short of connecting: it reads and checks the credential
// and builds the client and its transport, and returns them with the
// server's key. It sends nothing over the network.
func (c *Clients[U]) prepare(ctx context.Context, userID U, opts *ClientOptions) (*mcp.Client, mcp.Transport, string, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	h, err := c.OAuthHandler(ctx, userID, opts.Server)
	if err != nil {
		return nil, nil, "", err
	}
	var transport mcp.Transport
	switch opts.Transport {
	case Streamable:
		transport = &mcp.StreamableClientTransport{Endpoint: h.server.URL, HTTPClient: h.env.hc, OAuthHandler: h}
	case SSE:
		hc := *h.env.hc
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = &bearerTransport[U]{h: h, base: base}
		transport = &mcp.SSEClientTransport{Endpoint: h.server.URL, HTTPClient: &hc}
	default:
		return nil, nil, "", fmt.Errorf("mcpoauth: unknown transport %d", opts.Transport)
	}
	impl := c.Implementation
	if impl == nil {
		impl = &mcp.Implementation{Name: defaultAppName, Version: "1.0.0"}
	}
	return mcp.NewClient(impl, nil), transport, h.server.Key, nil
}

// OAuthHandler returns the auth.OAuthHandler of the user's connection to
// the server with key serverKey ("" for the default), for a transport
// built by hand. Like For, it checks the credential first.
func (c *Clients[U]) OAuthHandler(ctx context.Context, userID U, serverKey string) (*OAuthHandler[U], error) {
	e, err := c.env()
	if err != nil {
		return nil, err
	}
	server, err := c.Servers.resolve(serverKey)
	if err != nil {
		return nil, err
	}
	cred, err := e.store.FindCredential(ctx, userID, server.URL)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("mcpoauth: %q: %w", server.Key, ErrNotAuthenticated)
	case err != nil:
		return nil, err
	case cred.ReauthRequired():
		return nil, fmt.Errorf("mcpoauth: %q: %w", server.Key, ErrReauthRequired)
	}
	return &OAuthHandler[U]{env: e, server: server, userID: userID, cred: cred}, nil
}

// Refresh refreshes the user's token for the server when it expires
// within DefaultRefreshWindow, and returns the credential as stored: what
// a proactive refresh job calls for each of Store.ListExpiringCredentials.
// A token another worker has just refreshed is left alone. Errors wrap
// ErrNotAuthenticated or ErrReauthRequired when the user must (re)connect.
func (c *Clients[U]) Refresh(ctx context.Context, userID U, serverKey string) (*Credential[U], error) {
	e, err := c.env()
	if err != nil {
		return nil, err
	}
	server, err := c.Servers.resolve(serverKey)
	if err != nil {
		return nil, err
	}
	return e.refresh(ctx, userID, server, refreshIfExpiring, "")
}
