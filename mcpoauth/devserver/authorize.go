package devserver

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// authRequest is a checked authorization request.
type authRequest struct {
	clientID    string
	clientName  string
	clientKind  string
	redirectURI string
	state       string
	challenge   string
	resource    string
	scopes      []string
	user        string // the proposed user: login_hint, user, or the default
}

// A S256 code challenge is the unpadded base64url of a SHA-256 digest.
var s256ChallengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

const consentTTL = 10 * time.Minute

// serveAuthorize is the authorization endpoint (RFC 6749 §4.1.1 with PKCE,
// RFC 8707 resource and RFC 9207 iss). Problems with the client or the
// redirect URI are shown as a page, never redirected (§4.1.2.1); the others
// go back to the client.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		s.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "The authorization endpoint takes GET requests.")
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) > 1 {
			s.untrustedPage(w, "Invalid authorization request", fmt.Sprintf("The parameter %s is repeated.", k))
			return
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		s.untrustedPage(w, "Invalid authorization request", "client_id is missing.")
		return
	}
	c, err := s.lookupClient(r.Context(), clientID)
	if err != nil {
		msg := fmt.Sprintf("client_id %q: %v.", clientID, err)
		if err == errUnknownClient {
			msg = fmt.Sprintf("The client_id %q is not registered here. This server keeps clients in memory: register again after a restart.", clientID)
		}
		s.untrustedPage(w, "Unknown client", msg)
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		s.untrustedPage(w, "Invalid authorization request", "redirect_uri is missing: this server requires it on every authorization request.")
		return
	}
	if !slices.Contains(c.redirectURIs, redirectURI) {
		s.untrustedPage(w, "Redirect URI not registered",
			fmt.Sprintf("redirect_uri %q is not one of the URIs registered for this client (%s). They must match exactly.", redirectURI, strings.Join(c.redirectURIs, ", ")))
		return
	}

	// From here on, errors go back to the client.
	state := q.Get("state")
	fail := func(code, format string, args ...any) {
		s.redirectError(w, r, redirectURI, state, code, fmt.Sprintf(format, args...))
	}
	for k, v := range q {
		if len(v) > 1 {
			if k == "resource" {
				fail("invalid_target", "one resource per request: this server protects a single resource per token")
			} else {
				fail("invalid_request", "parameter %s is repeated", k)
			}
			return
		}
	}
	switch rt := q.Get("response_type"); {
	case rt == "":
		fail("invalid_request", "response_type is missing")
		return
	case rt != respCode:
		fail("unsupported_response_type", "response_type must be code, got %q", rt)
		return
	}
	if !slices.Contains(c.grantTypes, grantCode) {
		fail("unauthorized_client", "the client did not register the authorization_code grant")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "":
		fail("invalid_request", "code_challenge is missing: PKCE with S256 is required")
		return
	case method == "":
		fail("invalid_request", "code_challenge_method is missing; it defaults to plain, which is refused: send S256")
		return
	case method != "S256":
		fail("invalid_request", "code_challenge_method %q is refused: only S256 is accepted", method)
		return
	case !s256ChallengePattern.MatchString(challenge):
		fail("invalid_request", "code_challenge is not a S256 challenge (43 characters of unpadded base64url)")
		return
	}
	resource, missing, e := s.checkResource(q.Get("resource"), "")
	if missing {
		s.mu.Lock()
		s.st.stats.MissingResource++
		s.mu.Unlock()
	}
	if e != nil {
		fail(e.code, "%s", e.description)
		return
	}
	scopes, e := s.checkScopes(q.Get("scope"), c)
	if e != nil {
		fail(e.code, "%s", e.description)
		return
	}
	user := q.Get("login_hint")
	if user == "" {
		user = q.Get("user")
	}
	if user == "" {
		user = s.cfg.DefaultUser
	}
	req := authRequest{
		clientID: c.id, clientName: c.displayName(), clientKind: c.kind, redirectURI: redirectURI, state: state,
		challenge: challenge, resource: resource, scopes: scopes, user: user,
	}

	if s.cfg.AutoApprove {
		if !userNamePattern.MatchString(user) {
			fail("invalid_request", "login_hint %q is not a user name this server accepts (1-64 letters, digits or . _ @ + -)", user)
			return
		}
		s.approve(w, r, req, user, http.StatusFound)
		return
	}
	if !userNamePattern.MatchString(user) {
		req.user = s.cfg.DefaultUser
	}
	id, csrf := rand.Text(), rand.Text()
	s.mu.Lock()
	s.st.sweepLocked(s.now())
	s.st.pending[id] = &pendingConsent{req: req, csrf: csrf, expires: s.now().Add(consentTTL)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: consentCookie(id), Value: csrf, Path: s.cfg.IssuerPath + "/authorize",
		MaxAge: int(consentTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	s.consentPage(w, http.StatusOK, id, csrf, req, "")
}

// consentCookie names the cookie that binds a consent form to the browser
// that asked for it; one per pending request, so that tabs do not clash.
func consentCookie(id string) string { return "mcpdev_consent_" + id }

// serveConsent takes the consent form's Approve or Deny.
func (s *Server) serveConsent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "The consent form is sent with POST.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "Invalid consent form", "The form does not parse.")
		return
	}
	id := r.PostForm.Get("request_id")
	now := s.now()
	s.mu.Lock()
	p := s.st.pending[id]
	if p != nil && !now.Before(p.expires) {
		delete(s.st.pending, id)
		p = nil
	}
	s.mu.Unlock()
	if p == nil {
		s.errorPage(w, http.StatusBadRequest, "Authorization request expired",
			"This authorization request is unknown, expired, or was already answered. Start again from the application.")
		return
	}
	cookie, err := r.Cookie(consentCookie(id))
	if err != nil || !equalSecret(cookie.Value, p.csrf) || !equalSecret(r.PostForm.Get("csrf_token"), p.csrf) {
		s.errorPage(w, http.StatusForbidden, "Consent form rejected",
			"The form's token does not match this browser's: the form must be sent from the page this server showed, with its cookie.")
		return
	}

	decision := r.PostForm.Get("decision")
	user := strings.TrimSpace(r.PostForm.Get("user"))
	if decision == "approve" && !userNamePattern.MatchString(user) {
		s.consentPage(w, http.StatusBadRequest, id, p.csrf, p.req, "Enter a user name of 1-64 letters, digits or . _ @ + -")
		return
	}
	if decision != "approve" && decision != "deny" {
		s.errorPage(w, http.StatusBadRequest, "Invalid consent form", "decision must be approve or deny.")
		return
	}
	s.mu.Lock()
	if s.st.pending[id] != p { // answered meanwhile, in another request
		s.mu.Unlock()
		s.errorPage(w, http.StatusBadRequest, "Authorization request expired", "This authorization request was already answered.")
		return
	}
	delete(s.st.pending, id)
	if decision == "deny" {
		s.st.stats.Denials++
	}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: consentCookie(id), Path: s.cfg.IssuerPath + "/authorize", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})

	if decision == "deny" {
		s.redirect(w, r, p.req.redirectURI, http.StatusSeeOther, url.Values{
			"error": {"access_denied"}, "error_description": {"the user denied the request"}, "state": {p.req.state},
		})
		return
	}
	s.approve(w, r, p.req, user, http.StatusSeeOther)
}

// approve issues a code for req as user and sends it to the client.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, req authRequest, user string, status int) {
	code := newSecret("mcpdev_ac_")
	now := s.now()
	s.mu.Lock()
	s.st.sweepLocked(now)
	s.st.codes[digestOf(code)] = &authCode{req: req, user: user, scopes: slices.Clone(req.scopes), expires: now.Add(s.cfg.CodeTTL)}
	s.st.stats.Approvals++
	s.mu.Unlock()
	s.redirect(w, r, req.redirectURI, status, url.Values{"code": {code}, "state": {req.state}})
}

// redirectError sends an authorization error back to the client.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, description string) {
	s.mu.Lock()
	s.st.stats.AuthorizeErrors++
	s.mu.Unlock()
	s.redirect(w, r, redirectURI, http.StatusFound, url.Values{
		"error": {code}, "error_description": {description}, "state": {state},
	})
}

// redirect sends the browser to redirectURI with params added to its query,
// and iss (RFC 9207). An empty state is left out.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, status int, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs were checked; this cannot happen
		s.errorPage(w, http.StatusInternalServerError, "Bad redirect URI", err.Error())
		return
	}
	q := u.Query()
	for k, v := range params {
		if len(v) == 1 && v[0] == "" {
			continue
		}
		q[k] = v
	}
	q.Set("iss", s.urls.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), status)
}

// checkResource checks an RFC 8707 resource parameter: one of the server's
// resources, or, for a token request, the one authorized (want). Empty
// means the authorized resource, or the MCP URL, unless RequireResource;
// missing reports it was empty, for Stats.MissingResource.
func (s *Server) checkResource(resource, want string) (_ string, missing bool, _ *oauthError) {
	if resource == "" {
		if s.cfg.RequireResource {
			return "", true, badRequest("invalid_target", "resource is required (RFC 8707): send %s", s.urls.MCP)
		}
		if want != "" {
			return want, true, nil
		}
		return s.urls.MCP, true, nil
	}
	if want != "" && resource != want {
		return "", false, badRequest("invalid_target", "resource %q differs from the one authorized, %s", resource, want)
	}
	if resource != s.urls.MCP && resource != s.urls.SSE {
		return "", false, badRequest("invalid_target", "resource %q is not served here; this server's MCP resource is %s", resource, s.urls.MCP)
	}
	return resource, false, nil
}

// checkScopes parses a scope parameter: supported scopes within what the
// client registered. Empty means the default scopes.
func (s *Server) checkScopes(param string, c *client) ([]string, *oauthError) {
	allowed := func(sc string) bool { return len(c.scopes) == 0 || slices.Contains(c.scopes, sc) }
	var out []string
	for _, sc := range strings.Fields(param) {
		if !slices.Contains(s.cfg.Scopes, sc) {
			return nil, badRequest("invalid_scope", "scope %q is not supported; supported: %s", sc, joinScopes(s.cfg.Scopes))
		}
		if !allowed(sc) {
			return nil, badRequest("invalid_scope", "scope %q is outside the client's registered scope %q", sc, joinScopes(c.scopes))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, sc := range s.cfg.ChallengeScopes() {
		if allowed(sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, badRequest("invalid_scope", "no scope requested and the client's registered scope allows none of the defaults")
	}
	return out, nil
}
