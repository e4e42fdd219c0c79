package mcpoauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sync/singleflight"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// refreshMode says when a refresh is skipped, judged on the credential as
// re-read under its lock.
type refreshMode int

const (
	// refreshIfExpiring skips unless the token expires within the refresh
	// window: ahead-of-expiry and proactive refreshes.
	refreshIfExpiring refreshMode = iota
	// refreshIfRejected skips when the stored access token is no longer the
	// one the MCP server rejected: another worker refreshed it already.
	refreshIfRejected
	// refreshAlways never skips: the user asked for it.
	refreshAlways
)

// tokenEndpointError is an error answer of a token endpoint (RFC 6749
// section 5.2), its fields cleaned for logging.
type tokenEndpointError struct {
	op          string
	Status      int
	Code        string
	Description string
	RetryAfter  time.Duration // from a Retry-After header; 0 when none
}

func (e *tokenEndpointError) Error() string {
	s := e.op + ": token endpoint answered"
	if e.Status != 0 {
		s += " " + strconv.Itoa(e.Status)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// refused reports whether the refresh can never succeed: the grant is gone
// (invalid_grant) or the client is (invalid_client, unauthorized_client).
func (e *tokenEndpointError) refused() bool {
	switch e.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	}
	return false
}

// refresh renews the user's token for server and returns the credential
// as stored afterwards. One refresh of a credential runs at a time across
// every process sharing the database (Store.UpdateCredentialLocked); the
// credential is re-read under the lock and, per mode, the refresh skipped
// when another worker has just done it. Callers in this process asking at
// once share one attempt. A refusal (invalid_grant) marks the credential
// reauth-required and returns an error wrapping ErrReauthRequired.
//
// A failure that passes (see RefreshUnavailableError) keeps the
// credential as it is; the authorization server is not asked again for
// the same credential until the backoff it started has passed, and every
// refresh meanwhile fails at once with a *RefreshUnavailableError.
func (e *oauthEnv[U]) refresh(ctx context.Context, userID U, server Server, mode refreshMode, rejected string) (*Credential[U], error) {
	cred := userKey(userID) + "\x00" + server.URL
	if wait, last := e.shared.backoff.wait(cred, e.now()); wait > 0 {
		return nil, fmt.Errorf("mcpoauth: refresh token for %q: %w", server.Key, &RefreshUnavailableError{ServerKey: server.Key, RetryAfter: wait, Err: last})
	}
	key := fmt.Sprintf("%s\x00%d\x00%s", cred, mode, rejected)
	bound := oauthRequestTimeout + lockHold(e.refreshTimeout) // discovery, then the lock
	c, err := shareFlight(ctx, &e.shared.flights, key, bound, func(ctx context.Context) (*Credential[U], error) {
		return e.refreshOnce(ctx, userID, server, mode, rejected)
	})
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: refresh token for %q: %w", server.Key, err)
	}
	return c, nil
}

func (e *oauthEnv[U]) refreshOnce(ctx context.Context, userID U, server Server, mode refreshMode, rejected string) (*Credential[U], error) {
	cred := userKey(userID) + "\x00" + server.URL
	unavailable := func(err error) error {
		return &RefreshUnavailableError{ServerKey: server.Key, Err: err}
	}
	cur, err := e.store.FindCredential(ctx, userID, server.URL)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrNotAuthenticated
	case err != nil:
		return nil, unavailable(err)
	case cur.ReauthRequired():
		return nil, ErrReauthRequired
	case mode == refreshIfExpiring && !cur.ExpiresSoon(e.now(), e.window):
		return cur, nil
	case cur.Issuer == "":
		return nil, errors.New("the credential records no issuer")
	}
	// Outside the lock: the metadata is usually cached, and the lock holds
	// a database connection.
	asm, err := e.authServer(ctx, cur.Issuer)
	if err != nil {
		return nil, e.backOff(cred, userID, server, err, false)
	}

	var stored *Credential[U]
	var refusal, fnErr, attemptErr error
	early := false // refused while the access token is still valid
	lost := false  // an answer was lost: the server may have rotated the refresh token
	// The lock is held for lockHold at most, longer than the requests
	// under it take (each bounded by e.refreshTimeout): a refresh never
	// outlives its lock.
	lctx, cancel := context.WithTimeout(ctx, lockHold(e.refreshTimeout))
	defer cancel()
	err = e.store.UpdateCredentialLocked(lctx, userID, server.URL, func(c *Credential[U]) (*Credential[U], error) {
		now := e.now()
		switch {
		case c.ReauthRequired():
			fnErr = ErrReauthRequired
			return nil, fnErr
		case mode == refreshIfExpiring && !c.ExpiresSoon(now, e.window),
			mode == refreshIfRejected && c.Token.AccessToken != rejected:
			stored = c // refreshed by someone else meanwhile
			return nil, nil
		case !sameIssuer(c.Issuer, asm.Issuer):
			fnErr = fmt.Errorf("credential issuer %q changed to %q", c.Issuer, asm.Issuer)
			return nil, fnErr
		}
		next := *c
		if c.Token.RefreshToken == "" {
			if mode == refreshIfExpiring && !c.Expired(now) {
				stored = c // still usable; nothing to refresh it with
				return nil, nil
			}
			refusal = errors.New("the token cannot be refreshed: the authorization server issued no refresh token")
			next.ReauthRequiredAt = now
			stored = &next
			return &next, nil
		}
		client := e.refreshClient(c, server)
		tok, err := e.requestRefresh(lctx, asm, client, c.Token, server.URL)
		if la := (*lostAnswerError)(nil); errors.As(err, &la) && lctx.Err() == nil {
			// The request may have reached the server, and the server may
			// have rotated the refresh token and answered with the new
			// one, lost on the way. Asking again with the same refresh
			// token recovers where the server keeps the previous one
			// valid for a grace period (as many do), and is an ordinary
			// refresh where the request never arrived.
			lost = true
			e.log.Warn("mcpoauth: refresh answer lost; asking once more with the same refresh token", "user_id", userID, "server", server.Key, "error", err)
			tok, err = e.requestRefresh(lctx, asm, client, c.Token, server.URL)
		}
		var te *tokenEndpointError
		if errors.As(err, &te) && te.refused() {
			refusal = te
			if lost || e.shared.backoff.lostSince(cred) {
				refusal = fmt.Errorf("the authorization server refused the refresh token after an answer of it was lost: it rotated the token in a refresh whose answer never arrived, and keeps no grace period for the previous one (%w)", te)
			}
			if mode != refreshIfRejected && !c.Expired(now) {
				// Some servers refuse early refreshes: the access token
				// still works, and serves until it expires; only a
				// refusal then, or of a token the server rejected, ends
				// the connection.
				early, stored = true, c
				return nil, nil
			}
			next.ReauthRequiredAt = now
			stored = &next
			return &next, nil
		}
		if err != nil {
			attemptErr = err
			return nil, err
		}
		next.Token = tok
		if tok.Scope != "" {
			next.GrantedScope = tok.Scope
		}
		next.LastRefreshedAt = now
		next.ReauthRequiredAt = time.Time{}
		stored = &next
		return &next, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrNotAuthenticated // disconnected meanwhile
	case attemptErr != nil:
		return nil, e.backOff(cred, userID, server, attemptErr, lost)
	case fnErr != nil:
		return nil, fnErr
	case err != nil:
		// The lock, or the database behind it, failed: try later. The
		// token is not used past its expiry for it (OAuthHandler.token).
		return nil, unavailable(err)
	case early:
		e.log.Warn("mcpoauth: refresh refused before the access token expired; using it until then", "user_id", userID, "server", server.Key, "error", refusal)
		return stored, fmt.Errorf("%w: %w", errRefusedEarly, refusal)
	case refusal != nil:
		e.shared.backoff.done(cred)
		e.log.Warn("mcpoauth: refresh refused; the user must reconnect", "user_id", userID, "server", server.Key, "error", refusal)
		return nil, fmt.Errorf("%w: %w", ErrReauthRequired, refusal)
	}
	if lost {
		e.log.Info("mcpoauth: refresh recovered after a lost answer", "user_id", userID, "server", server.Key)
	}
	e.shared.backoff.done(cred)
	return stored, nil
}

// backOff records a failed refresh attempt of the credential with key
// cred and returns it as a *RefreshUnavailableError saying when the
// server will be asked again.
func (e *oauthEnv[U]) backOff(cred string, userID U, server Server, err error, lost bool) error {
	var ra time.Duration
	if te := (*tokenEndpointError)(nil); errors.As(err, &te) {
		ra = te.RetryAfter
	}
	wait := e.shared.backoff.fail(cred, e.now(), ra, lost, err)
	e.log.Warn("mcpoauth: refresh failed; the connection is kept", "user_id", userID, "server", server.Key, "retry_in", wait, "error", err)
	return &RefreshUnavailableError{ServerKey: server.Key, RetryAfter: wait, Err: err}
}

// errRefusedEarly is a refresh the authorization server refused while the
// access token was still valid: the credential is returned with it, and
// stays usable until the token expires.
var errRefusedEarly = errors.New("refresh refused before the access token expired")

// refreshClient is the client to authenticate a refresh as: the one the
// credential was issued to, with the configured secret when it is the
// server's pre-registered client.
func (e *oauthEnv[U]) refreshClient(c *Credential[U], server Server) *ClientInfo {
	if c.Client == nil {
		return &ClientInfo{ClientID: server.ClientID, ClientSecret: server.ClientSecret, TokenEndpointAuthMethod: authMethodBasic}
	}
	client := *c.Client
	if client.ClientID == server.ClientID && server.ClientSecret != "" {
		client.ClientSecret = server.ClientSecret
	}
	return &client
}

// tokenResponse is a successful token endpoint answer (RFC 6749 section 5.1).
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	RefreshToken string          `json:"refresh_token"`
	Scope        string          `json:"scope"`
}

// oauthErrorResponse is an error answer (RFC 6749 section 5.2).
type oauthErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// requestRefresh sends the refresh_token grant with the resource (RFC
// 8707), which golang.org/x/oauth2's own refresher cannot add, and returns
// the new token, keeping the old refresh token when no new one is issued.
func (e *oauthEnv[U]) requestRefresh(ctx context.Context, asm *oauthex.AuthServerMeta, client *ClientInfo, old Token, resource string) (Token, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {old.RefreshToken},
		"resource":      {resource},
	}
	ctx, cancel := context.WithTimeout(ctx, e.refreshTimeout)
	defer cancel()
	body, status, hdr, err := e.postForm(ctx, asm.TokenEndpoint, client, form)
	if err != nil {
		return Token{}, fmt.Errorf("refresh: %w", err)
	}
	if status != http.StatusOK {
		var oe oauthErrorResponse
		_ = json.Unmarshal(body, &oe) // a body that is not JSON leaves the code empty
		return Token{}, &tokenEndpointError{op: "refresh", Status: status, Code: printable(oe.Error, 64), Description: printable(oe.ErrorDescription, 300),
			RetryAfter: retryAfter(hdr, e.now())}
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return Token{}, errors.New("refresh: token response is not JSON") // it may hold tokens: not quoted
	}
	if tr.AccessToken == "" {
		return Token{}, errors.New("refresh: token response has no access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return Token{}, fmt.Errorf("refresh: token endpoint issued a %q token; only bearer tokens are supported", printable(tr.TokenType, 32))
	}
	seconds, err := expiresIn(tr.ExpiresIn)
	if err != nil {
		return Token{}, fmt.Errorf("refresh: %w", err)
	}
	for _, s := range strings.Fields(tr.Scope) {
		if !validScopeToken(s) {
			return Token{}, fmt.Errorf("refresh: token endpoint granted an invalid scope %q", printable(s, 64))
		}
	}
	t := Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: "Bearer", Scope: tr.Scope}
	if t.RefreshToken == "" {
		t.RefreshToken = old.RefreshToken // RFC 6749 section 6: the old one stays valid
	}
	if t.Scope == "" {
		t.Scope = old.Scope // section 5.1: omitted means unchanged
	}
	t.IssuedAt = e.now()
	if seconds > 0 {
		t.Expiry = t.IssuedAt.Add(time.Duration(seconds) * time.Second)
	}
	return t, nil
}

// expiresIn parses expires_in: a number, or a string some servers send.
func expiresIn(raw json.RawMessage) (int64, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 10*365*24*3600 {
		return 0, fmt.Errorf("invalid expires_in %q", printable(s, 32))
	}
	return n, nil
}

// postForm sends form to endpoint authenticated as client and returns the
// (bounded) answer, its status and its header. A request sent but not
// answered in full fails with a *lostAnswerError.
func (e *oauthEnv[U]) postForm(ctx context.Context, endpoint string, client *ClientInfo, form url.Values) ([]byte, int, http.Header, error) {
	if err := checkEndpoint(endpoint); err != nil {
		return nil, 0, nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	ctx, cancel := context.WithTimeout(ctx, oauthRequestTimeout)
	defer cancel()
	var basicUser, basicPass string
	clientAuth(client, form, func(u, p string) { basicUser, basicPass = u, p })
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	resp, err := e.oauthClient().Do(req)
	if err != nil {
		return nil, 0, nil, &lostAnswerError{err}
	}
	defer drainAndClose(resp.Body)
	body, err := readLimited(resp.Body, maxOAuthResponseBytes)
	if err != nil {
		return nil, resp.StatusCode, resp.Header, &lostAnswerError{err}
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && len(body) > 0 {
			return nil, resp.StatusCode, resp.Header, fmt.Errorf("answer is %q, not JSON", printable(mt, 64))
		}
	}
	return body, resp.StatusCode, resp.Header, nil
}

// revoke revokes the credential's refresh token, or its access token when
// it has none, at the authorization server's revocation endpoint (RFC
// 7009), if it has one.
func (e *oauthEnv[U]) revoke(ctx context.Context, server Server, c *Credential[U]) error {
	asm, err := e.authServer(ctx, c.Issuer)
	if err != nil {
		return err
	}
	if asm.RevocationEndpoint == "" {
		return nil
	}
	form := url.Values{"token": {c.Token.RefreshToken}, "token_type_hint": {"refresh_token"}}
	if c.Token.RefreshToken == "" {
		form = url.Values{"token": {c.Token.AccessToken}, "token_type_hint": {"access_token"}}
	}
	_, status, _, err := e.postForm(ctx, asm.RevocationEndpoint, e.refreshClient(c, server), form)
	switch {
	case err != nil:
		return fmt.Errorf("revoke: %w", err)
	case status != http.StatusOK:
		return fmt.Errorf("revoke: revocation endpoint answered %d", status)
	}
	return nil
}

// shareFlight runs fn once for every caller of key that arrives while it
// runs (golang.org/x/sync/singleflight). fn gets a context that is not
// cancelled when the first caller gives up, so the others still get its
// result; each caller stops waiting when its own ctx is done.
func shareFlight[U comparable](ctx context.Context, g *singleflight.Group, key string, bound time.Duration, fn func(context.Context) (*Credential[U], error)) (*Credential[U], error) {
	ch := g.DoChan(key, func() (any, error) {
		// Detached from one caller's cancellation, bounded all the same.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
		defer cancel()
		return fn(fctx)
	})
	select {
	case r := <-ch:
		c, _ := r.Val.(*Credential[U])
		return c, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// OAuthHandler is the auth.OAuthHandler of one user's connection to one
// MCP server, backed by the Store: it reads the credential once, refreshes
// the token ahead of expiry, and on a 401 refreshes once more before
// giving up with ErrReauthRequired. It never starts a browser flow; a 403
// insufficient_scope is an *InsufficientScopeError for the app to offer
// a step-up with Flow.StartWithScope.
type OAuthHandler[U comparable] struct {
	env    *oauthEnv[U]
	server Server
	userID U

	mu         sync.Mutex
	cred       *Credential[U] // as last read or refreshed; nil until first use
	lastForced string         // access token obtained after a 401; a 401 for it too means giving up
	// refusedEarly is the access token whose refresh the server refused
	// before it expired: no other attempt until it does.
	refusedEarly string
}

var _ auth.OAuthHandler = (*OAuthHandler[string])(nil)

// TokenSource implements auth.OAuthHandler. The token source refreshes
// ahead of expiry using ctx, the transport's connection context.
func (h *OAuthHandler[U]) TokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	return handlerTokenSource[U]{h: h, ctx: ctx}, nil
}

type handlerTokenSource[U comparable] struct {
	h   *OAuthHandler[U]
	ctx context.Context
}

// Token implements oauth2.TokenSource.
func (ts handlerTokenSource[U]) Token() (*oauth2.Token, error) { return ts.h.token(ts.ctx) }

// token returns the access token to send, refreshed first when it expires
// within the refresh window. A failed ahead-of-time refresh falls back
// to the current token while it is still valid.
func (h *OAuthHandler[U]) token(ctx context.Context) (*oauth2.Token, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cred == nil {
		c, err := h.env.store.FindCredential(ctx, h.userID, h.server.URL)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("mcpoauth: %q: %w", h.server.Key, ErrNotAuthenticated)
		}
		if err != nil {
			return nil, err
		}
		h.cred = c
	}
	if h.cred.ReauthRequired() {
		return nil, fmt.Errorf("mcpoauth: %q: %w", h.server.Key, ErrReauthRequired)
	}
	now := h.env.now()
	// After a refusal before expiry the token serves until it expires;
	// asking again before then would only be refused again.
	retry := h.refusedEarly != h.cred.Token.AccessToken || h.cred.Expired(now)
	if h.cred.ExpiresSoon(now, h.env.window) && retry {
		c, err := h.env.refresh(ctx, h.userID, h.server, refreshIfExpiring, "")
		switch {
		case errors.Is(err, errRefusedEarly):
			h.refusedEarly = h.cred.Token.AccessToken
		case err == nil:
			h.cred = c
		case errors.Is(err, ErrReauthRequired), errors.Is(err, ErrNotAuthenticated), h.cred.Expired(now):
			// Never a token known to have expired: a failure that
			// passes is ErrRefreshUnavailable, "try later".
			return nil, err
		default:
			// Logged where it failed; the token still serves meanwhile.
			h.env.log.Debug("mcpoauth: refresh ahead of expiry failed; using the current token", "user_id", h.userID, "server", h.server.Key, "error", err)
		}
	}
	return h.cred.Token.OAuth2(), nil
}

// Authorize implements auth.OAuthHandler; the streamable transport calls
// it on a 401 or 403 answer and retries the request when it returns nil.
func (h *OAuthHandler[U]) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	defer drainAndClose(resp.Body)
	return h.challenged(ctx, bearerToken(req), resp)
}

// challenged handles a 401 or 403 answer to a request sent with the
// access token sent: nil means retry.
func (h *OAuthHandler[U]) challenged(ctx context.Context, sent string, resp *http.Response) error {
	challenges, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	ch := bearerChallenge(challenges)
	switch resp.StatusCode {
	case http.StatusForbidden:
		if ch != nil && ch.Params["error"] == "insufficient_scope" {
			return &InsufficientScopeError{
				ServerKey:   h.server.Key,
				Scope:       printable(ch.Params["scope"], 1024),
				Description: printable(ch.Params["error_description"], 300),
				StepUp:      h.requireScope(ctx, ch.Params["scope"]),
			}
		}
		return fmt.Errorf("mcpoauth: %s answered 403 Forbidden", h.server.URL)
	case http.StatusUnauthorized:
	default:
		return fmt.Errorf("mcpoauth: %s answered %d", h.server.URL, resp.StatusCode)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastForced != "" && sent == h.lastForced {
		// A token refreshed because of a 401 was refused too: refreshing
		// again would not help; the user has to reconnect.
		if err := h.env.store.MarkReauthRequired(ctx, h.userID, h.server.URL); err != nil && !errors.Is(err, ErrNotFound) {
			h.env.log.Error("mcpoauth: marking the credential reauth-required failed", "user_id", h.userID, "server", h.server.Key, "error", err)
		}
		if h.cred != nil {
			h.cred.ReauthRequiredAt = h.env.now()
		}
		h.env.log.Warn("mcpoauth: MCP server refused a freshly refreshed token; the user must reconnect", "user_id", h.userID, "server", h.server.Key)
		return fmt.Errorf("mcpoauth: %s refused the refreshed token: %w", h.server.URL, ErrReauthRequired)
	}
	c, err := h.env.refresh(ctx, h.userID, h.server, refreshIfRejected, sent)
	if err != nil {
		return err
	}
	h.cred = c
	h.lastForced = c.Token.AccessToken
	return nil
}

// bearerToken returns the access token a request carries, "" for none.
func bearerToken(req *http.Request) string {
	if req == nil {
		return ""
	}
	scheme, tok, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// bearerTransport adds the handler's token to every request, for the SSE
// transport, which has no OAuthHandler of its own. A 401 gets one refresh
// and one retry, when the request can be replayed.
type bearerTransport[U comparable] struct {
	h    *OAuthHandler[U]
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *bearerTransport[U]) RoundTrip(req *http.Request) (*http.Response, error) {
	send := func() (*http.Request, *http.Response, error) {
		tok, err := t.h.token(req.Context())
		if err != nil {
			return nil, nil, err
		}
		r := req.Clone(req.Context())
		if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, nil, err
			}
			r.Body = body
		}
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := t.base.RoundTrip(r)
		return r, resp, err
	}
	r, resp, err := send()
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if resp.StatusCode == http.StatusUnauthorized && !replayable {
		return resp, nil
	}
	err = t.h.challenged(req.Context(), bearerToken(r), resp)
	drainAndClose(resp.Body)
	if err != nil {
		return nil, err
	}
	_, resp, err = send()
	return resp, err
}

// maxRequiredScopeBytes bounds the step-up scope a server can make the
// app remember.
const maxRequiredScopeBytes = 1024

// requireScope remembers on the credential the scope a 403
// insufficient_scope challenge asked for, so that the user's next connect
// requests it (Flow.StartWithScope): the step-up comes from the server's
// challenge, recorded here, never from the browser. It reports whether a
// step-up can help: false when the grant holds every scope asked for
// already (a server that refuses anyway must not send the user round in
// circles), or the scope is invalid, oversized or could not be recorded
// (logged).
func (h *OAuthHandler[U]) requireScope(ctx context.Context, scope string) bool {
	scopes := strings.Fields(scope)
	if len(scopes) == 0 || len(scope) > maxRequiredScopeBytes {
		return false
	}
	for _, s := range scopes {
		if !validScopeToken(s) {
			h.env.log.Warn("mcpoauth: ignoring an insufficient_scope challenge with an invalid scope", "server", h.server.Key)
			return false
		}
	}
	stepUp := false
	err := h.env.store.UpdateCredentialLocked(ctx, h.userID, h.server.URL, func(cur *Credential[U]) (*Credential[U], error) {
		granted := strings.Fields(cur.GrantedScope)
		for _, s := range scopes {
			stepUp = stepUp || !slices.Contains(granted, s)
		}
		merged := joinScopes(strings.Fields(cur.RequiredScope), scopes)
		if !stepUp || merged == cur.RequiredScope || len(merged) > maxRequiredScopeBytes {
			stepUp = stepUp && merged == cur.RequiredScope
			return nil, nil
		}
		next := *cur
		next.RequiredScope = merged
		return &next, nil
	})
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			h.env.log.Error("mcpoauth: recording the scope the server asked for failed", "user_id", h.userID, "server", h.server.Key, "error", err)
		}
		return false
	}
	return stepUp
}
