package mcpoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Errors of the authorization flow. Each is wrapped, with context, by the
// error a Flow method returns.
var (
	// ErrStateInvalid: the callback's state is missing, malformed, unknown,
	// used already, expired, or another user's.
	ErrStateInvalid = errors.New("authorization flow unknown, already used, expired or of another user")

	// ErrIssuerMismatch: the callback's iss (RFC 9207) is not the issuer
	// the flow was started with, or is missing though the server
	// advertises it.
	ErrIssuerMismatch = errors.New("authorization response from an unexpected issuer")

	// ErrNoS256: the authorization server does not offer PKCE with S256,
	// which OAuth 2.1 and MCP require. The flow refuses to proceed.
	ErrNoS256 = errors.New("authorization server does not support PKCE with S256")
)

// Limits on the callback parameters.
const (
	maxStateParamBytes = 512
	maxCodeBytes       = 4096
	maxIssuerBytes     = 2048
)

// CallbackError is the error an authorization server answered on the
// callback instead of a code (RFC 6749 section 4.1.2.1), access_denied
// when the user declined, say. Its fields are printable ASCII, cut to a
// sane length; HTML-escape them when showing them all the same.
type CallbackError struct {
	Code        string // the error parameter
	Description string // error_description, optional
	URI         string // error_uri, optional, an https URL
}

// Error implements error.
func (e *CallbackError) Error() string {
	if e.Description != "" {
		return "authorization server answered " + e.Code + ": " + e.Description
	}
	return "authorization server answered " + e.Code
}

// Flow runs the OAuth 2.1 authorization code flow with PKCE through which
// a user connects their account on an MCP server: Start in the request
// that sends the browser to the authorization server, Complete in the
// callback, maybe in another process. Set the fields before first use and
// do not change them afterwards; a Flow is safe for concurrent use.
type Flow[U comparable] struct {
	Store             *Store[U]
	Servers           *Registry
	RedirectURL       string           // {base}{prefix}/callback; each server's redirect URI is {base}{prefix}/{key}/callback (RedirectURLFor)
	ClientMetadataURL string           // where the app serves its client ID metadata document; optional
	ClientName        string           // client_name for registration; "" is "mcpgen app"
	HTTPClient        *http.Client     // nil: a client with timeouts and the internal-address guard, one per Registry
	Now               func() time.Time // nil: the Store's clock
	Logger            *slog.Logger     // nil: slog.Default(); tokens, codes and verifiers are never logged
	RefreshWindow     time.Duration    // as Clients.RefreshWindow
	RefreshTimeout    time.Duration    // as Clients.RefreshTimeout

	meta       metadataCache
	refreshing refreshShared
}

// FlowFromEnv returns a Flow for the servers, with the redirect URL
// MCP_OAUTH_BASE_URL + routePrefix + "/callback", the client ID metadata
// document URL MCP_OAUTH_CLIENT_METADATA_URL (optional) and the client
// name MCP_OAUTH_CLIENT_NAME (optional).
func FlowFromEnv[U comparable](store *Store[U], servers *Registry, routePrefix string) (*Flow[U], error) {
	return flowFromLookup(store, servers, routePrefix, os.LookupEnv)
}

func flowFromLookup[U comparable](store *Store[U], servers *Registry, routePrefix string, lookup func(string) (string, bool)) (*Flow[U], error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	if store == nil || servers == nil {
		return nil, errors.New("mcpoauth: flow: store and servers are required")
	}
	if !strings.HasPrefix(routePrefix, "/") || strings.ContainsAny(routePrefix, "?#") {
		return nil, fmt.Errorf("mcpoauth: flow: route prefix %q must be a path starting with /", routePrefix)
	}
	base := get("MCP_OAUTH_BASE_URL")
	if base == "" {
		return nil, errors.New("mcpoauth: MCP_OAUTH_BASE_URL is not set: set it to the app's external URL, e.g. https://app.example.com")
	}
	u, err := url.Parse(base)
	if err == nil {
		err = checkEndpointURL(u)
	}
	if err == nil && (u.RawQuery != "" || u.ForceQuery) {
		err = errors.New("has a query")
	}
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: MCP_OAUTH_BASE_URL %q: %v", base, err)
	}
	window, err := refreshWindowFromEnv(lookup)
	if err != nil {
		return nil, err
	}
	timeout, err := durationFromEnv(lookup, RefreshTimeoutEnv)
	if err != nil {
		return nil, err
	}
	f := &Flow[U]{
		Store:          store,
		Servers:        servers,
		RedirectURL:    strings.TrimRight(base, "/") + strings.TrimRight(routePrefix, "/") + "/callback",
		ClientName:     get("MCP_OAUTH_CLIENT_NAME"),
		RefreshWindow:  window,
		RefreshTimeout: timeout,
	}
	if cimd := get("MCP_OAUTH_CLIENT_METADATA_URL"); cimd != "" {
		if err := checkClientMetadataURL(cimd); err != nil {
			return nil, fmt.Errorf("mcpoauth: MCP_OAUTH_CLIENT_METADATA_URL %q: %v", cimd, err)
		}
		f.ClientMetadataURL = cimd
	}
	return f, nil
}

// checkClientMetadataURL checks a client ID metadata document URL: https
// (http on loopback, for development) with a path, no query or fragment.
func checkClientMetadataURL(raw string) error {
	if err := checkEndpoint(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	switch {
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("has a query")
	case strings.Trim(u.Path, "/") == "":
		return errors.New("needs a path, such as /mcp_connections/client-metadata.json")
	}
	return nil
}

func (f *Flow[U]) env() (*oauthEnv[U], error) {
	switch {
	case f == nil:
		return nil, errors.New("mcpoauth: flow is nil")
	case f.Store == nil:
		return nil, errors.New("mcpoauth: flow has no store")
	case f.Servers == nil:
		return nil, errors.New("mcpoauth: flow has no server registry")
	}
	hc := f.HTTPClient
	if hc == nil {
		var err error
		if hc, err = f.Servers.httpClient(); err != nil {
			return nil, err
		}
	}
	return newOAuthEnv(f.Store, hc, f.Now, f.Logger, &f.meta, &f.refreshing, f.RefreshWindow, f.RefreshTimeout), nil
}

func (f *Flow[U]) clientName() string {
	if f.ClientName != "" {
		return f.ClientName
	}
	return defaultAppName
}

// RedirectURLFor is the redirect URI of the server with key serverKey:
// {base}{prefix}/{key}/callback for a RedirectURL of {base}{prefix}/callback
// (else RedirectURL + "/" + the key). Each server has its own, so a
// callback says which server's flow it ends.
func (f *Flow[U]) RedirectURLFor(serverKey string) string {
	if base, ok := strings.CutSuffix(f.RedirectURL, "/callback"); ok {
		return base + "/" + serverKey + "/callback"
	}
	return strings.TrimRight(f.RedirectURL, "/") + "/" + serverKey
}

// redirectURLs are the redirect URIs of every configured server.
func (f *Flow[U]) redirectURLs() []string {
	var out []string
	for _, s := range f.Servers.All() {
		out = append(out, f.RedirectURLFor(s.Key))
	}
	return out
}

// Start begins connecting the user to the server with key serverKey (""
// for the default one) and returns the authorization URL to redirect the
// browser to. It discovers the server's authorization server, refuses one
// without PKCE S256, picks or registers the app's client, and stores the
// pending flow (state, PKCE verifier, issuer, redirect URI, scope) for ten
// minutes. A user may have several pending flows; each works once.
func (f *Flow[U]) Start(ctx context.Context, userID U, serverKey string) (string, error) {
	return f.StartWithScope(ctx, userID, serverKey)
}

// StartWithScope is Start asking for scopes on top of the usual ones: the
// step-up a handler offers after an InsufficientScopeError. Scopes granted
// before are asked for again, so none is lost.
func (f *Flow[U]) StartWithScope(ctx context.Context, userID U, serverKey string, scopes ...string) (string, error) {
	e, err := f.env()
	if err != nil {
		return "", err
	}
	if f.RedirectURL == "" {
		return "", errors.New("mcpoauth: start: flow has no redirect URL")
	}
	for _, s := range scopes {
		if !validScopeToken(s) {
			return "", fmt.Errorf("mcpoauth: start: invalid scope %q", s)
		}
	}
	server, err := f.Servers.resolve(serverKey)
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("mcpoauth: start connecting to %q: %w", server.Key, err)
	}

	ri, err := e.discoverResource(ctx, server.URL)
	if err != nil {
		return fail(err)
	}
	asm, err := e.authServer(ctx, ri.issuer())
	if err != nil {
		return fail(err)
	}
	client, err := e.clientIdentity(ctx, clientRequest{
		server: server, asm: asm, redirectURL: f.RedirectURLFor(server.Key), redirectURIs: f.redirectURLs(), cimdURL: f.ClientMetadataURL,
		clientName: f.clientName(), register: true,
	})
	if err != nil {
		return fail(err)
	}

	// Scopes: configured, else the challenge's, else all the server
	// supports; plus those granted before (same issuer) and the step-up.
	want := server.Scopes
	if len(want) == 0 {
		want = ri.challengeScope
	}
	if len(want) == 0 {
		want = ri.metadata.ScopesSupported
	}
	var granted []string
	if cur, err := e.store.FindCredential(ctx, userID, server.URL); err == nil && cur.Issuer == asm.Issuer {
		granted = strings.Fields(cur.GrantedScope)
		// The step-up the server asked for when a call was refused.
		granted = append(granted, strings.Fields(cur.RequiredScope)...)
	} else if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrDecrypt) {
		return fail(err)
	}
	scope := joinScopes(want, granted, scopes)
	// Many servers issue a refresh token only for offline_access: without
	// one the connection ends with the first access token.
	if slices.Contains(asm.ScopesSupported, offlineAccess) && !slices.Contains(strings.Fields(scope), offlineAccess) {
		scope = strings.TrimSpace(scope + " " + offlineAccess)
	}

	verifier := oauth2.GenerateVerifier()
	st := &State[U]{
		UserID:         userID,
		ServerURL:      server.URL,
		Verifier:       verifier,
		Issuer:         asm.Issuer,
		RedirectURI:    f.RedirectURLFor(server.Key),
		RequestedScope: scope,
		ExpiresAt:      e.now().Add(DefaultStateTTL),
	}
	if err := e.store.CreateState(ctx, st); err != nil {
		return fail(err)
	}
	cfg := oauth2Config(client, asm, f.RedirectURLFor(server.Key), scope)
	return cfg.AuthCodeURL(st.StateParam,
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("resource", server.URL),
	), nil
}

// Complete finishes a flow in the callback: callback is the query of the
// request the authorization server redirected the browser to. The state
// must be a pending flow of this user (it is used up whatever happens
// next), the iss parameter must be the flow's issuer (RFC 9207), and the
// code is exchanged, with the PKCE verifier and the resource, for the
// token stored as the user's credential. An error answer of the server is
// a *CallbackError. serverKey is the server whose redirect URI the
// browser came back to (RedirectURLFor): a state of another server's flow
// is refused there, so an authorization server cannot have a code meant
// for another one sent to its own token endpoint (mix-up, RFC 9700
// section 4.4).
func (f *Flow[U]) Complete(ctx context.Context, userID U, serverKey string, callback url.Values) (*Credential[U], error) {
	e, err := f.env()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Credential[U], error) {
		return nil, fmt.Errorf("mcpoauth: complete connection: %w", err)
	}

	stateParam, err := singleParam(callback, "state", maxStateParamBytes)
	if err != nil || stateParam == "" {
		return fail(fmt.Errorf("%w: bad state parameter", ErrStateInvalid))
	}
	st, err := e.store.ConsumeState(ctx, userID, stateParam)
	switch {
	case errors.Is(err, ErrNotFound):
		return fail(ErrStateInvalid)
	case errors.Is(err, ErrStateExpired):
		return fail(fmt.Errorf("%w: %w", ErrStateInvalid, ErrStateExpired))
	case err != nil:
		return fail(err)
	}
	server, ok := f.Servers.ByURL(st.ServerURL)
	if !ok {
		return fail(fmt.Errorf("server %s: %w", st.ServerURL, ErrUnknownServer))
	}
	if server.Key != serverKey || st.RedirectURI != f.RedirectURLFor(server.Key) {
		return fail(fmt.Errorf("%w: the flow for %q came back to the redirect URI of %q", ErrIssuerMismatch, server.Key, printable(serverKey, 64)))
	}
	asm, err := e.authServer(ctx, st.Issuer)
	if err != nil {
		return fail(err)
	}

	// RFC 9207: a server that advertises iss must send it; one that sends
	// it must send the right one, on errors too.
	iss, err := singleParam(callback, "iss", maxIssuerBytes)
	switch {
	case err != nil:
		return fail(fmt.Errorf("%w: %w", ErrIssuerMismatch, err))
	case iss == "" && asm.AuthorizationResponseIssParameterSupported:
		return fail(fmt.Errorf("%w: the callback has no iss, which %s advertises", ErrIssuerMismatch, st.Issuer))
	case iss != "" && iss != st.Issuer:
		return fail(fmt.Errorf("%w: iss %q, want %q", ErrIssuerMismatch, printable(iss, 200), st.Issuer))
	}

	if callback.Has("error") {
		return fail(callbackError(callback))
	}
	code, err := singleParam(callback, "code", maxCodeBytes)
	if err != nil || code == "" {
		return fail(errors.New("the callback has no valid code"))
	}

	client, err := e.clientIdentity(ctx, clientRequest{
		server: server, asm: asm, redirectURL: st.RedirectURI, redirectURIs: f.redirectURLs(), cimdURL: f.ClientMetadataURL,
		clientName: f.clientName(), register: false,
	})
	if err != nil {
		return fail(err)
	}
	cfg := oauth2Config(client, asm, st.RedirectURI, st.RequestedScope)
	xctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, e.oauthClient()), oauthRequestTimeout)
	defer cancel()
	tok, err := cfg.Exchange(xctx, code,
		oauth2.VerifierOption(st.Verifier),
		oauth2.SetAuthURLParam("resource", server.URL),
	)
	if err != nil {
		return fail(tokenRequestError("exchange the authorization code", err))
	}
	now := e.now()
	token, err := tokenFromExchange(tok, now)
	if err != nil {
		return fail(err)
	}
	granted := token.Scope
	if granted == "" {
		granted = st.RequestedScope // RFC 6749 section 5.1: omitted means as requested
	}
	if server.ClientID == client.ClientID {
		client.ClientSecret = "" // the configured one is used: it may be rotated
	}
	cred := &Credential[U]{
		UserID:          userID,
		ServerURL:       server.URL,
		Issuer:          st.Issuer,
		Token:           token,
		Client:          client,
		GrantedScope:    granted,
		LastRefreshedAt: now,
	}
	if err := e.store.SaveCredential(ctx, cred); err != nil {
		return fail(err)
	}
	e.log.Info("mcpoauth: user connected", "user_id", userID, "server", server.Key, "issuer", st.Issuer, "scope", granted)
	return cred, nil
}

// Disconnect deletes the user's credential for the server and, when the
// authorization server has a revocation endpoint, revokes its tokens
// there (RFC 7009). Revocation is best effort: its failure is logged, not
// returned. Disconnecting a server the user never connected is not an
// error.
func (f *Flow[U]) Disconnect(ctx context.Context, userID U, serverKey string) error {
	e, err := f.env()
	if err != nil {
		return err
	}
	server, err := f.Servers.resolve(serverKey)
	if err != nil {
		return err
	}
	cred, findErr := e.store.FindCredential(ctx, userID, server.URL)
	if errors.Is(findErr, ErrNotFound) {
		return nil
	}
	// A credential that no longer decrypts is deleted all the same.
	if err := e.store.DeleteCredential(ctx, userID, server.URL); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("mcpoauth: disconnect %q: %w", server.Key, err)
	}
	if findErr != nil {
		e.log.Warn("mcpoauth: disconnected without revoking: credential unreadable", "user_id", userID, "server", server.Key, "error", findErr)
		return nil
	}
	if err := e.revoke(ctx, server, cred); err != nil {
		e.log.Warn("mcpoauth: token revocation failed", "user_id", userID, "server", server.Key, "issuer", cred.Issuer, "error", err)
	}
	return nil
}

// Refresh refreshes the user's token for the server now, whatever its
// expiry: the "refresh now" button. It returns the stored credential, or
// an error wrapping ErrNotAuthenticated or ErrReauthRequired.
func (f *Flow[U]) Refresh(ctx context.Context, userID U, serverKey string) (*Credential[U], error) {
	e, err := f.env()
	if err != nil {
		return nil, err
	}
	server, err := f.Servers.resolve(serverKey)
	if err != nil {
		return nil, err
	}
	return e.refresh(ctx, userID, server, refreshAlways, "")
}

// ClientMetadataDocument is the client ID metadata document the app
// serves at Flow.ClientMetadataURL: authorization servers that take them
// fetch it to learn who the client is, instead of registering it.
type ClientMetadataDocument struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// ClientMetadata returns the document to serve at ClientMetadataURL, or an
// error when none is configured.
func (f *Flow[U]) ClientMetadata() (*ClientMetadataDocument, error) {
	if f == nil || f.ClientMetadataURL == "" {
		return nil, errors.New("mcpoauth: no client ID metadata document is configured (MCP_OAUTH_CLIENT_METADATA_URL)")
	}
	if f.RedirectURL == "" {
		return nil, errors.New("mcpoauth: client metadata: flow has no redirect URL")
	}
	return &ClientMetadataDocument{
		ClientID:                f.ClientMetadataURL,
		ClientName:              f.clientName(),
		RedirectURIs:            f.redirectURLs(),
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: authMethodNone,
	}, nil
}

// singleParam returns the value of a callback parameter, "" when absent.
// A repeated parameter (RFC 6749 section 3.1), one longer than max bytes
// or one with bytes outside printable ASCII is an error.
func singleParam(q url.Values, name string, max int) (string, error) {
	vs := q[name]
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", fmt.Errorf("parameter %s is repeated", name)
	case len(vs[0]) > max:
		return "", fmt.Errorf("parameter %s is too long", name)
	case printable(vs[0], max) != vs[0]:
		return "", fmt.Errorf("parameter %s has invalid characters", name)
	}
	return vs[0], nil
}

// callbackError builds the CallbackError of an error callback, keeping
// only what is safe to show.
func callbackError(q url.Values) *CallbackError {
	e := &CallbackError{
		Code:        printable(q.Get("error"), 64),
		Description: printable(q.Get("error_description"), 300),
	}
	if e.Code == "" {
		e.Code = "unknown_error"
	}
	if u, err := url.Parse(q.Get("error_uri")); err == nil && u.Scheme == "https" && u.Host != "" && len(u.String()) <= 512 {
		e.URI = u.String()
	}
	return e
}

// offlineAccess is the scope asking for a refresh token (OpenID Connect
// Core section 11), requested whenever the authorization server lists it.
const offlineAccess = "offline_access"

// tokenFromExchange converts the token of a code exchange, checking it is
// a bearer token, with its expiry from expires_in on the flow's clock.
func tokenFromExchange(tok *oauth2.Token, now time.Time) (Token, error) {
	t, err := TokenFromOAuth2(tok)
	if err != nil {
		return Token{}, err
	}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if !strings.EqualFold(t.TokenType, "bearer") {
		return Token{}, fmt.Errorf("token endpoint issued a %q token; only bearer tokens are supported", printable(t.TokenType, 32))
	}
	t.IssuedAt = now
	if tok.ExpiresIn > 0 {
		t.Expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if t.Scope != "" {
		for _, s := range strings.Fields(t.Scope) {
			if !validScopeToken(s) {
				return Token{}, fmt.Errorf("token endpoint granted an invalid scope %q", printable(s, 64))
			}
		}
	}
	return t, nil
}

// tokenRequestError describes a failed token request without the
// response body, which x/oauth2's error quotes.
func tokenRequestError(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return &tokenEndpointError{Status: status, Code: printable(re.ErrorCode, 64), Description: printable(re.ErrorDescription, 300), op: what}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// joinScopes returns the scopes of every list, once each, in order, as
// a space-separated string.
func joinScopes(lists ...[]string) string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, " ")
}
