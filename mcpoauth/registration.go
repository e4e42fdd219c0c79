package mcpoauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// Token endpoint client authentication methods (RFC 7591 section 2).
const (
	authMethodNone  = "none"
	authMethodBasic = "client_secret_basic"
	authMethodPost  = "client_secret_post"
)

const (
	// defaultAppName is the client_name and MCP client name when
	// MCP_OAUTH_CLIENT_NAME is unset.
	defaultAppName = "mcpgen app"

	// maxClientIDBytes bounds a client_id a registration may return.
	maxClientIDBytes = 2048
)

// ErrNoClientIdentity is returned when the authorization server offers no
// way for the app to identify itself: no pre-registered client is
// configured, it does not take client ID metadata documents (or none is
// configured), and it has no registration endpoint.
var ErrNoClientIdentity = errors.New("no way to identify this app to the authorization server")

// clientRequest is what choosing a client identity needs to know.
type clientRequest struct {
	server       Server
	asm          *oauthex.AuthServerMeta
	redirectURL  string   // this server's redirect URI
	redirectURIs []string // every configured server's, registered together: one registration serves all the servers of an issuer
	cimdURL      string   // the app's client ID metadata document, optional
	clientName   string
	register     bool // false: use a stored registration only (the callback)
}

// clientIdentity returns the client the app is with the authorization
// server, in the order the MCP specification recommends: the server's
// pre-registered client; else the client ID metadata document, when the
// server takes them; else the client registered dynamically (RFC 7591),
// once per issuer and reused by every user.
func (e *oauthEnv[U]) clientIdentity(ctx context.Context, r clientRequest) (*ClientInfo, error) {
	issuer := r.asm.Issuer
	switch {
	case r.server.ClientID != "":
		method := authMethodNone
		if r.server.ClientSecret != "" {
			method = secretAuthMethod(r.asm.TokenEndpointAuthMethodsSupported)
		}
		return &ClientInfo{ClientID: r.server.ClientID, ClientSecret: r.server.ClientSecret, Issuer: issuer,
			RedirectURIs: []string{r.redirectURL}, TokenEndpointAuthMethod: method}, nil
	case r.cimdURL != "" && r.asm.ClientIDMetadataDocumentSupported:
		return &ClientInfo{ClientID: r.cimdURL, Issuer: issuer, RedirectURIs: []string{r.redirectURL},
			TokenEndpointAuthMethod: authMethodNone}, nil
	case r.asm.RegistrationEndpoint == "":
		return nil, fmt.Errorf("%w %s: configure a pre-registered client for server %q, or a client ID metadata document if it accepts them",
			ErrNoClientIdentity, issuer, r.server.Key)
	}

	stored, err := e.store.FindClient(ctx, issuer)
	if err == nil && usableRegistration(stored, r.redirectURL, e.now().Unix()) {
		return stored, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if !r.register {
		return nil, fmt.Errorf("mcpoauth: no usable client registered with %s: %w", issuer, ErrNotFound)
	}

	// One registration at a time per issuer in this process; the database
	// settles a race between processes (addClient keeps the first).
	unlock, err := e.store.locks.lock(ctx, "client\x00"+issuer)
	if err != nil {
		return nil, err
	}
	defer unlock()
	stored, err = e.store.FindClient(ctx, issuer)
	switch {
	case err == nil && usableRegistration(stored, r.redirectURL, e.now().Unix()):
		return stored, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, err
	}
	replace := err == nil // stored, but for another redirect URI or with an expired secret

	c, err := e.registerClient(ctx, r)
	if err != nil {
		return nil, err
	}
	if replace {
		if err := e.store.SaveClient(ctx, c); err != nil {
			return nil, err
		}
		return c, nil
	}
	return e.store.addClient(ctx, c)
}

// registerClient registers the app with the authorization server (RFC 7591).
func (e *oauthEnv[U]) registerClient(ctx context.Context, r clientRequest) (*ClientInfo, error) {
	method := secretAuthMethod(r.asm.TokenEndpointAuthMethodsSupported)
	meta := &oauthex.ClientRegistrationMetadata{
		RedirectURIs:            r.redirectURIs,
		TokenEndpointAuthMethod: method,
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ClientName:              r.clientName,
		ApplicationType:         "web",
	}
	ctx, cancel := context.WithTimeout(ctx, oauthRequestTimeout)
	defer cancel()
	resp, err := oauthex.RegisterClient(ctx, r.asm.RegistrationEndpoint, meta, e.oauthClient())
	if err != nil {
		var regErr *oauthex.ClientRegistrationError
		var urlErr *url.Error
		switch {
		case errors.As(err, &regErr):
			return nil, fmt.Errorf("mcpoauth: dynamic client registration with %s refused: %s %s",
				r.asm.Issuer, printable(regErr.ErrorCode, 64), printable(regErr.ErrorDescription, 300))
		case errors.As(err, &urlErr):
			return nil, fmt.Errorf("mcpoauth: dynamic client registration with %s: %w", r.asm.Issuer, err)
		}
		// Other errors may quote the response, which can hold a client secret.
		return nil, fmt.Errorf("mcpoauth: dynamic client registration with %s failed: unexpected or malformed response", r.asm.Issuer)
	}
	if len(resp.ClientID) > maxClientIDBytes || printable(resp.ClientID, maxClientIDBytes) != resp.ClientID {
		return nil, fmt.Errorf("mcpoauth: dynamic client registration with %s returned an invalid client_id", r.asm.Issuer)
	}
	if len(resp.RedirectURIs) > 0 && !slices.Contains(resp.RedirectURIs, r.redirectURL) {
		return nil, fmt.Errorf("mcpoauth: dynamic client registration with %s did not register the redirect URI %s", r.asm.Issuer, r.redirectURL)
	}
	if resp.TokenEndpointAuthMethod != "" {
		method = resp.TokenEndpointAuthMethod
	}
	switch {
	case method != authMethodNone && method != authMethodBasic && method != authMethodPost:
		return nil, fmt.Errorf("mcpoauth: dynamic client registration with %s chose token_endpoint_auth_method %q, which this app does not implement",
			r.asm.Issuer, printable(method, 64))
	case method != authMethodNone && resp.ClientSecret == "":
		method = authMethodNone
	}
	secret := resp.ClientSecret
	if method == authMethodNone {
		// A public client sends no secret, even one the server returned:
		// the server accepts none from it, and it would only leak.
		secret, resp.ClientSecretExpiresAt = "", time.Time{}
	}
	c := &ClientInfo{
		ClientID:                resp.ClientID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        resp.ClientIDIssuedAt,
		ClientSecretExpiresAt:   resp.ClientSecretExpiresAt,
		Issuer:                  r.asm.Issuer,
		RedirectURIs:            slices.Clone(r.redirectURIs),
		TokenEndpointAuthMethod: method,
	}
	e.log.Info("mcpoauth: registered with authorization server", "issuer", c.Issuer, "client_id", c.ClientID)
	return c, nil
}

// usableRegistration reports whether a stored registration can be used for
// redirectURL at unix time now.
func usableRegistration(c *ClientInfo, redirectURL string, now int64) bool {
	if !slices.Contains(c.RedirectURIs, redirectURL) {
		return false
	}
	return c.ClientSecret == "" || c.ClientSecretExpiresAt.IsZero() || c.ClientSecretExpiresAt.Unix() > now+60
}

// secretAuthMethod picks how a client with a secret authenticates, from
// the methods the server supports (RFC 8414: client_secret_basic when it
// lists none).
func secretAuthMethod(supported []string) string {
	switch {
	case len(supported) == 0 || slices.Contains(supported, authMethodBasic):
		return authMethodBasic
	case slices.Contains(supported, authMethodPost):
		return authMethodPost
	}
	return authMethodNone
}

// oauth2Config is the golang.org/x/oauth2 configuration of client with the
// authorization server asm.
func oauth2Config(c *ClientInfo, asm *oauthex.AuthServerMeta, redirectURL string, scope string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if c.TokenEndpointAuthMethod == authMethodBasic && c.ClientSecret != "" {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   asm.AuthorizationEndpoint,
			TokenURL:  asm.TokenEndpoint,
			AuthStyle: style,
		},
		RedirectURL: redirectURL,
		Scopes:      strings.Fields(scope),
	}
}

// clientAuth adds the client's authentication to a token or revocation
// request, as oauth2Config does for the requests x/oauth2 sends.
func clientAuth(c *ClientInfo, form url.Values, header func(user, pass string)) {
	if c.TokenEndpointAuthMethod == authMethodBasic && c.ClientSecret != "" {
		// RFC 6749 section 2.3.1: both form-encoded before Basic encoding.
		header(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
		return
	}
	form.Set("client_id", c.ClientID)
	if c.ClientSecret != "" {
		form.Set("client_secret", c.ClientSecret)
	}
}

// printable returns s cut to max bytes with every byte outside printable
// ASCII dropped: safe to show and log whatever an authorization server
// sent.
func printable(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
