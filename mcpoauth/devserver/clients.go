package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// checkRedirectURI accepts an absolute https URL, or http on a loopback
// host, without fragment or user info.
func checkRedirectURI(raw string) error {
	if len(raw) > 2000 {
		return fmt.Errorf("redirect URI is longer than 2000 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q does not parse: %v", raw, err)
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("redirect URI %q is not an absolute URL", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q has a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q has user info", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("redirect URI %q uses http on a host that is not loopback: use https, or http://127.0.0.1, [::1] or localhost", raw)
	}
	return fmt.Errorf("redirect URI %q: scheme %q is not accepted (https, or http on loopback)", raw, u.Scheme)
}

// clientMetadata is what a client states about itself, in a registration
// request (RFC 7591 §2) or a Client ID Metadata Document.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// regError is an RFC 7591 §3.2.2 error.
type regError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *regError) Error() string { return e.Code + ": " + e.Description }

func metadataError(format string, args ...any) *regError {
	return &regError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

// validate checks m and fills in the defaults: response_types [code],
// grant_types [authorization_code refresh_token]. authMethods are the
// token_endpoint_auth_method values allowed here.
func (s *Server) validateMetadata(m *clientMetadata, authMethods []string) *regError {
	if len(m.RedirectURIs) == 0 {
		return &regError{"invalid_redirect_uri", "redirect_uris is required and must not be empty"}
	}
	for _, u := range m.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return &regError{"invalid_redirect_uri", err.Error()}
		}
	}
	if !slices.Contains(authMethods, m.TokenEndpointAuthMethod) {
		return metadataError("token_endpoint_auth_method %q is not supported here; use one of %s", m.TokenEndpointAuthMethod, strings.Join(authMethods, ", "))
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{grantCode, grantRefr}
	}
	for _, g := range m.GrantTypes {
		if g != grantCode && g != grantRefr {
			return metadataError("grant type %q is not supported: only authorization_code and refresh_token", g)
		}
	}
	if !slices.Contains(m.GrantTypes, grantCode) {
		return metadataError("grant_types must include authorization_code")
	}
	if len(m.ResponseTypes) == 0 {
		m.ResponseTypes = []string{respCode}
	}
	if len(m.ResponseTypes) != 1 || m.ResponseTypes[0] != respCode {
		return metadataError("response_types must be [\"code\"]")
	}
	if len(m.ClientName) > 200 {
		return metadataError("client_name is longer than 200 bytes")
	}
	if m.Scope != "" {
		for _, sc := range strings.Fields(m.Scope) {
			if !slices.Contains(s.cfg.Scopes, sc) {
				return metadataError("scope %q is not supported; supported: %s", sc, joinScopes(s.cfg.Scopes))
			}
		}
	}
	return nil
}

// registrationResponse is the RFC 7591 §3.2.1 answer.
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	clientMetadata
}

// serveRegister is dynamic client registration (RFC 7591).
func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusBadRequest, metadataError("Content-Type must be application/json, got %q", r.Header.Get("Content-Type")))
		return
	}
	var m clientMetadata
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&m); err != nil {
		writeJSON(w, http.StatusBadRequest, metadataError("the body is not a JSON client metadata object: %v", err))
		return
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = authBasic // RFC 7591 §2's default
	}
	if e := s.validateMetadata(&m, []string{authNone, authBasic, authPost}); e != nil {
		writeJSON(w, http.StatusBadRequest, e)
		return
	}

	now := s.now()
	c := &client{
		id:           newSecret("mcpdev_client_"),
		name:         m.ClientName,
		redirectURIs: slices.Clone(m.RedirectURIs),
		grantTypes:   slices.Clone(m.GrantTypes),
		scopes:       strings.Fields(m.Scope),
		kind:         kindDCR,
		authMethods:  []string{m.TokenEndpointAuthMethod},
	}
	resp := registrationResponse{ClientID: c.id, ClientIDIssuedAt: now.Unix(), clientMetadata: m}
	if m.TokenEndpointAuthMethod != authNone {
		secret := newSecret("mcpdev_secret_")
		c.secret = digestOf(secret)
		resp.ClientSecret = secret
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	s.mu.Lock()
	s.st.clients[c.id] = c
	s.st.stats.Registrations++
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, resp)
}

var errUnknownClient = errors.New("unknown client_id")

// lookupClient finds a registered client, or fetches the Client ID Metadata
// Document of a URL client_id.
func (s *Server) lookupClient(ctx context.Context, id string) (*client, error) {
	now := s.now()
	s.mu.Lock()
	if c := s.st.clients[id]; c != nil {
		s.mu.Unlock()
		return c, nil
	}
	if c := s.st.cimd[id]; c != nil && now.Before(c.expires) {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()

	if !strings.HasPrefix(id, "https://") && !strings.HasPrefix(id, "http://") {
		return nil, errUnknownClient
	}
	if s.cfg.DisableCIMD {
		return nil, fmt.Errorf("%w: client_id is a URL, but Client ID Metadata Documents are disabled on this server", errUnknownClient)
	}
	c, err := s.fetchClientMetadata(ctx, id)
	if err != nil {
		return nil, err
	}
	c.expires = s.now().Add(s.cfg.CIMDCacheTTL)
	s.mu.Lock()
	s.st.cimd[id] = c
	s.st.stats.CIMDFetches++
	s.mu.Unlock()
	return c, nil
}

// oauthError is an RFC 6749 §5.2 error answer of the token or revocation
// endpoint.
type oauthError struct {
	status      int
	code        string
	description string
	basic       bool // the client tried HTTP Basic: answer with a Basic challenge
	retryAfter  int  // seconds, for a Retry-After header
	// injected is a Config.Faults answer: counted as a fault, not as a
	// token error.
	injected bool
	// dropAnswer closes the connection instead of answering (the
	// LoseAnswer fault, after the grant rotated).
	dropAnswer bool
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func badRequest(code, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, description: fmt.Sprintf(format, args...)}
}

// authenticateClient identifies and authenticates the client of a token or
// revocation request. A client authenticates the way it registered; public
// clients send client_id alone (in the body, or as Basic with an empty
// password).
func (s *Server) authenticateClient(r *http.Request, form url.Values) (*client, *oauthError) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if hasBasic {
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		var err1, err2 error
		basicID, err1 = url.QueryUnescape(basicID)
		basicSecret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "the Basic credentials are not form-urlencoded", basic: true}
		}
	}
	bodyID, bodySecret := form.Get("client_id"), form.Get("client_secret")
	if hasBasic && form.Has("client_secret") {
		return nil, badRequest("invalid_request", "the client authenticated twice, with Basic and client_secret in the body: use one method")
	}
	id := bodyID
	if hasBasic {
		if bodyID != "" && bodyID != basicID {
			return nil, badRequest("invalid_request", "client_id in the body differs from the Basic user name")
		}
		id = basicID
	}
	unauthorized := func(format string, args ...any) *oauthError {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: fmt.Sprintf(format, args...), basic: hasBasic}
	}
	if id == "" {
		return nil, unauthorized("no client_id: send it in the body (public clients) or authenticate with the registered method")
	}
	c, err := s.lookupClient(r.Context(), id)
	if err != nil {
		return nil, unauthorized("%v", err)
	}

	method, secret := authNone, ""
	switch {
	case hasBasic && basicSecret != "":
		method, secret = authBasic, basicSecret
	case bodySecret != "":
		method, secret = authPost, bodySecret
	}
	switch {
	case method == authNone && !c.public():
		return nil, unauthorized("client %s must authenticate with %s", c.id, strings.Join(c.authMethods, " or "))
	case method != authNone && c.public():
		return nil, unauthorized("client %s is public (token_endpoint_auth_method none) and must not send a secret", c.id)
	case !slices.Contains(c.authMethods, method):
		return nil, unauthorized("client %s registered token_endpoint_auth_method %s but authenticated with %s", c.id, strings.Join(c.authMethods, " or "), method)
	case method != authNone && !c.secretMatches(secret):
		return nil, unauthorized("wrong client secret")
	}
	return c, nil
}

// writeOAuthError answers e, counting it.
func (s *Server) writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.dropAnswer {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	s.mu.Lock()
	if !e.injected {
		s.st.stats.TokenErrors[e.code]++
		if e.code == "invalid_grant" {
			s.st.stats.InvalidGrants++
		}
	}
	s.mu.Unlock()
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="mcpgen dev server"`)
	}
	if e.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST")
	}
	noStore(w)
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// parseTokenForm reads the form body of a token or revocation request:
// POST, form-encoded, parameters in the body only and each at most once.
func parseTokenForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", description: "use POST"}
	}
	if r.URL.RawQuery != "" {
		return nil, badRequest("invalid_request", "parameters must be sent in the form body, not in the URL")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "Content-Type must be application/x-www-form-urlencoded, got %q", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "the form body does not parse: %v", err)
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("invalid_request", "parameter %s is repeated", k)
		}
	}
	return r.PostForm, nil
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }
