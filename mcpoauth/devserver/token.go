package devserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// A PKCE code verifier (RFC 7636 §4.1).
var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// serveToken is the token endpoint: authorization_code with PKCE, and
// refresh_token with rotation and reuse detection.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, e := s.token(w, r)
	if e != nil {
		s.writeOAuthError(w, e)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) (tokenResponse, *oauthError) {
	form, e := parseTokenForm(w, r)
	if e != nil {
		return tokenResponse{}, e
	}
	c, e := s.authenticateClient(r, form)
	if e != nil {
		return tokenResponse{}, e
	}
	switch gt := form.Get("grant_type"); gt {
	case grantCode:
		return s.exchangeCode(c, form)
	case grantRefr:
		return s.refresh(r.Context(), c, form)
	case "":
		return tokenResponse{}, badRequest("invalid_request", "grant_type is missing")
	default:
		return tokenResponse{}, badRequest("unsupported_grant_type", "grant_type %q is not supported: use authorization_code or refresh_token", gt)
	}
}

// exchangeCode redeems an authorization code, once.
func (s *Server) exchangeCode(c *client, form url.Values) (tokenResponse, *oauthError) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		return tokenResponse{}, badRequest("invalid_request", "code is missing")
	case verifier == "":
		return tokenResponse{}, badRequest("invalid_request", "code_verifier is missing: PKCE is required")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	ac := st.codes[digestOf(code)]
	switch {
	case ac == nil:
		return tokenResponse{}, badRequest("invalid_grant", "unknown authorization code")
	case ac.req.clientID != c.id:
		return tokenResponse{}, badRequest("invalid_grant", "the code was issued to another client")
	case ac.used:
		// RFC 6749 §4.1.2: a replayed code revokes what it gave.
		if ac.family != nil && ac.family.revoked == "" {
			st.stats.ReuseDetections++
			st.revokeFamilyLocked(ac.family, revokedCodeReuse)
		}
		return tokenResponse{}, badRequest("invalid_grant", "the authorization code was already used; the tokens issued for it are revoked")
	case !now.Before(ac.expires):
		delete(st.codes, digestOf(code))
		return tokenResponse{}, badRequest("invalid_grant", "the authorization code expired")
	}
	// The code is spent by this attempt, whether it succeeds or not.
	ac.used = true
	switch {
	case redirectURI == "":
		return tokenResponse{}, badRequest("invalid_grant", "redirect_uri is missing; it must equal the one of the authorization request")
	case redirectURI != ac.req.redirectURI:
		return tokenResponse{}, badRequest("invalid_grant", "redirect_uri differs from the one of the authorization request")
	case !verifierPattern.MatchString(verifier) || s256(verifier) != ac.req.challenge:
		return tokenResponse{}, badRequest("invalid_grant", "code_verifier does not match the code_challenge (S256)")
	}
	resource, missing, e := s.checkResource(form.Get("resource"), ac.req.resource)
	if missing {
		st.stats.MissingResource++
	}
	if e != nil {
		return tokenResponse{}, e
	}
	f := &family{
		id: "fam_" + strings.ToLower(rand.Text()[:12]), user: ac.user, clientID: c.id,
		scopes: slices.Clone(ac.scopes), resource: resource, created: now,
	}
	st.families[f.id] = f
	ac.family = f
	st.stats.CodeExchanges++
	withRefresh := slices.Contains(c.grantTypes, grantRefr) && (!s.cfg.OfflineAccess || slices.Contains(f.scopes, ScopeOfflineAccess))
	return s.issueLocked(f, f.scopes, withRefresh, now), nil
}

// refresh rotates a refresh token: the old one is spent, a new one comes
// with the new access token. Presenting a spent one revokes the family.
//
// With Config.RefreshDelay the grant waits first, and is abandoned, with
// nothing rotated, when ctx (the request's) ends meanwhile: the client
// disconnected, say because its process was killed while it held its
// refresh lock. A real authorization server may instead rotate and then
// fail to deliver the answer; the client's stored refresh token is spent
// then, and its next refresh trips reuse detection. No client-side lock
// can prevent that (only a grace period for the previous refresh token
// at the server can), so it is not what the delay is for. Not rotating
// makes a kill during the delay the same as a kill just before the
// request was sent, so that a test observes the client's locking alone:
// the next worker must take over the lock and refresh with the stored
// token, which is still the newest.
func (s *Server) refresh(ctx context.Context, c *client, form url.Values) (tokenResponse, *oauthError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return tokenResponse{}, badRequest("invalid_request", "refresh_token is missing")
	}
	if !slices.Contains(c.grantTypes, grantRefr) {
		return tokenResponse{}, badRequest("unauthorized_client", "the client did not register the refresh_token grant")
	}
	s.mu.Lock()
	s.st.stats.RefreshRequests++
	s.st.stats.RefreshesInFlight++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.st.stats.RefreshesInFlight--
		s.mu.Unlock()
	}()
	if !s.waitRefreshDelay(ctx) {
		s.mu.Lock()
		s.st.stats.RefreshesAbandoned++
		s.mu.Unlock()
		return tokenResponse{}, &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
			description: "the request ended during the refresh delay; nothing was rotated"}
	}
	s.mu.Lock()
	faults := s.faults
	s.mu.Unlock()
	fault := s.dice.draw(faults)
	if e := s.injectFault(ctx, faults, fault, rt); e != nil {
		return tokenResponse{}, e
	}

	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	t := st.refresh[digestOf(rt)]
	if t == nil {
		return tokenResponse{}, badRequest("invalid_grant", "unknown refresh token")
	}
	f := t.family
	if f.clientID != c.id {
		return tokenResponse{}, badRequest("invalid_grant", "the refresh token was issued to another client")
	}
	_, missing, e := s.checkResource(form.Get("resource"), f.resource)
	if missing {
		st.stats.MissingResource++
	}
	if e != nil {
		return tokenResponse{}, e
	}
	graced := false
	switch {
	case f.revoked != "":
		return tokenResponse{}, badRequest("invalid_grant", "the refresh token was revoked (%s); the user must authorize again", strings.ReplaceAll(f.revoked, "_", " "))
	case t.used && s.cfg.RefreshGrace > 0 && !t.regraced && t.next != nil && !t.next.used && now.Sub(t.usedAt) < s.cfg.RefreshGrace:
		// The answer of its rotation may have been lost: honoured once,
		// and the token that rotation issued is spent instead.
		t.regraced, graced = true, true
		t.next.used, t.next.usedAt = true, now
		st.stats.GraceRefreshes++
	case t.used:
		st.stats.ReuseDetections++
		st.revokeFamilyLocked(f, revokedReuse)
		return tokenResponse{}, badRequest("invalid_grant", "the refresh token was already used: it is rotated on every refresh. Replaying it revoked every token of this authorization; the user must authorize again")
	case !now.Before(t.expires):
		return tokenResponse{}, badRequest("invalid_grant", "the refresh token expired; the user must authorize again")
	}
	scopes := f.scopes
	if param := form.Get("scope"); param != "" {
		scopes = nil
		for _, sc := range strings.Fields(param) {
			if !slices.Contains(f.scopes, sc) {
				return tokenResponse{}, badRequest("invalid_scope", "scope %q was not granted by this authorization (granted: %s)", sc, joinScopes(f.scopes))
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if !graced {
		t.used, t.usedAt = true, now
	}
	f.refreshes++
	f.refreshed = append(f.refreshed, now)
	st.stats.Refreshes++
	st.stats.RefreshesByUser[f.user]++
	st.sweepLocked(now)
	resp := s.issueLocked(f, scopes, true, now)
	t.next = st.refresh[digestOf(resp.RefreshToken)]
	if fault == FaultLoseAnswer && !graced {
		st.stats.FaultsInjected[fault]++
		return tokenResponse{}, &oauthError{dropAnswer: true, injected: true}
	}
	return resp, nil
}

// injectFault answers a grant with the fault drawn for it, or returns
// nil to go on: at once for the faults before rotation, after the delay
// for a slow one. The lost answer comes after rotation (Server.refresh).
func (s *Server) injectFault(ctx context.Context, faults Faults, fault, rt string) *oauthError {
	count := func() {
		s.mu.Lock()
		s.st.stats.FaultsInjected[fault]++
		s.mu.Unlock()
	}
	switch fault {
	case FaultUnavailable:
		count()
		return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", description: "injected fault: try again later", injected: true}
	case FaultRateLimited:
		count()
		return &oauthError{status: http.StatusTooManyRequests, code: "slow_down", description: "injected fault: too many requests", retryAfter: 1, injected: true}
	case FaultTimeout:
		count()
		sleep(ctx, time.Minute)
		return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", description: "injected fault: no answer in time; nothing was rotated", injected: true}
	case FaultSlow:
		count()
		sleep(ctx, faults.SlowDelay)
	case FaultEarlyRefusal:
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.st.refresh[digestOf(rt)]
		if t == nil || t.used || !s.now().Before(t.family.accessExpires) {
			return nil // not early: no refusal
		}
		s.st.stats.FaultsInjected[fault]++
		return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: "injected fault: refreshed too early; use the access token until it expires", injected: true}
	}
	return nil
}

// waitRefreshDelay waits Config.RefreshDelay and reports whether ctx is
// still live after it. Without a delay it reports true at once.
func (s *Server) waitRefreshDelay(ctx context.Context) bool {
	if s.cfg.RefreshDelay <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.RefreshDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return ctx.Err() == nil
}

// serveRevoke is RFC 7009 revocation. Revoking a refresh token revokes its
// family; an access token, only itself. Unknown tokens answer 200 too.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	form, e := parseTokenForm(w, r)
	if e == nil {
		var c *client
		if c, e = s.authenticateClient(r, form); e == nil {
			e = s.revoke(c, form.Get("token"))
		}
	}
	if e != nil {
		s.writeOAuthError(w, e)
		return
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) revoke(c *client, token string) *oauthError {
	if token == "" {
		return badRequest("invalid_request", "token is missing")
	}
	d := digestOf(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	if at := st.access[d]; at != nil {
		if at.family.clientID != c.id {
			return badRequest("unauthorized_client", "the token was issued to another client")
		}
		if !at.revoked {
			at.revoked = true
			st.stats.Revocations++
		}
	} else if rt := st.refresh[d]; rt != nil {
		if rt.family.clientID != c.id {
			return badRequest("unauthorized_client", "the token was issued to another client")
		}
		if rt.family.revoked == "" {
			st.stats.Revocations++
			st.revokeFamilyLocked(rt.family, revokedByClient)
		}
	}
	return nil
}

// s256 is the PKCE S256 transform.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
