package mcpoauth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// DefaultStateTTL is how long a pending authorization flow stays valid
// when CreateState is given no expiry.
const DefaultStateTTL = 10 * time.Minute

// Credential is one user's OAuth connection to one MCP server: a row of
// mcp_oauth_credentials. Zero times stand for NULL columns. Printing or
// logging a Credential redacts its token and client secrets.
type Credential[U comparable] struct {
	ID        int64
	UserID    U
	ServerURL string // canonical URL of the MCP server, the RFC 8707 resource
	Issuer    string // authorization server that issued the token

	Token  Token       // stored encrypted in token_data
	Client *ClientInfo // stored encrypted in client_info_data; nil when none

	GrantedScope string

	// RequiredScope is the scope the MCP server asked for in a 403
	// insufficient_scope answer (a step-up): the next connect requests it
	// on top of the usual scopes; connecting again clears it.
	RequiredScope string

	TokenExpiresAt   time.Time // mirrors Token.Expiry; set by the Store on every write
	LastRefreshedAt  time.Time
	ReauthRequiredAt time.Time // set when a refresh was refused: the user must reconnect
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Expired reports whether the credential's access token has expired at now.
func (c Credential[U]) Expired(now time.Time) bool { return c.Token.Expired(now) }

// ExpiresSoon reports whether the access token expires within window of
// now; see Token.ExpiresSoon.
func (c Credential[U]) ExpiresSoon(now time.Time, window time.Duration) bool {
	return c.Token.ExpiresSoon(now, window)
}

// ReauthRequired reports whether the authorization server refused to
// refresh the token (invalid_grant), so the user has to connect again.
// Such a credential must not be refreshed again until they do.
func (c Credential[U]) ReauthRequired() bool { return !c.ReauthRequiredAt.IsZero() }

// String describes the credential with its secrets redacted.
func (c Credential[U]) String() string {
	client := "nil"
	if c.Client != nil {
		client = c.Client.String()
	}
	return fmt.Sprintf("mcpoauth.Credential{ID:%d UserID:%v ServerURL:%q Issuer:%q Token:%s Client:%s GrantedScope:%q ReauthRequiredAt:%s}",
		c.ID, c.UserID, c.ServerURL, c.Issuer, c.Token.String(), client, c.GrantedScope, timeText(c.ReauthRequiredAt))
}

// GoString describes the credential with its secrets redacted, for %#v.
func (c Credential[U]) GoString() string { return c.String() }

// Format prints the redacted description for every verb.
func (c Credential[U]) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue gives log/slog a redacted view of the credential.
func (c Credential[U]) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int64("id", c.ID),
		slog.Any("user_id", c.UserID),
		slog.String("server_url", c.ServerURL),
		slog.String("issuer", c.Issuer),
		slog.Any("token", c.Token),
		slog.String("granted_scope", c.GrantedScope),
		slog.String("reauth_required_at", timeText(c.ReauthRequiredAt)),
	}
	if c.Client != nil {
		attrs = append(attrs, slog.Any("client", *c.Client))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes a redacted view of the credential, so a Credential
// logged as JSON (inside a slice, say, where LogValue is not consulted)
// reveals no secret. Credentials are never stored as JSON.
func (c Credential[U]) MarshalJSON() ([]byte, error) {
	v := struct {
		ID               int64     `json:"id"`
		UserID           U         `json:"user_id"`
		ServerURL        string    `json:"server_url"`
		Issuer           string    `json:"issuer,omitempty"`
		Token            string    `json:"token"`
		Client           string    `json:"client,omitempty"`
		GrantedScope     string    `json:"granted_scope,omitempty"`
		TokenExpiresAt   time.Time `json:"token_expires_at,omitzero"`
		ReauthRequiredAt time.Time `json:"reauth_required_at,omitzero"`
	}{c.ID, c.UserID, c.ServerURL, c.Issuer, c.Token.String(), "", c.GrantedScope, c.TokenExpiresAt, c.ReauthRequiredAt}
	if c.Client != nil {
		v.Client = c.Client.String()
	}
	return json.Marshal(v)
}

// State is a pending authorization flow: a row of mcp_oauth_states, made
// when the user starts connecting and consumed, once, by the callback.
// A user may have several pending flows for one server (several tabs).
// Printing or logging a State redacts its state parameter and verifier.
type State[U comparable] struct {
	ID             int64
	UserID         U
	ServerURL      string
	StateParam     string // the OAuth state parameter; random, single use
	Verifier       string // the PKCE code verifier; stored encrypted in pkce_data
	Issuer         string // authorization server the flow was started with
	RedirectURI    string
	RequestedScope string
	ExpiresAt      time.Time
	CreatedAt      time.Time
}

// Expired reports whether the flow has expired at now.
func (s State[U]) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// String describes the state with its secrets redacted.
func (s State[U]) String() string {
	return fmt.Sprintf("mcpoauth.State{ID:%d UserID:%v ServerURL:%q StateParam:%s Verifier:%s Issuer:%q RedirectURI:%q RequestedScope:%q ExpiresAt:%s}",
		s.ID, s.UserID, s.ServerURL, secret(s.StateParam), secret(s.Verifier), s.Issuer, s.RedirectURI,
		s.RequestedScope, timeText(s.ExpiresAt))
}

// GoString describes the state with its secrets redacted, for %#v.
func (s State[U]) GoString() string { return s.String() }

// Format prints the redacted description for every verb.
func (s State[U]) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// MarshalJSON encodes a redacted view of the state, as Credential's does.
func (s State[U]) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID             int64     `json:"id"`
		UserID         U         `json:"user_id"`
		ServerURL      string    `json:"server_url"`
		StateParam     string    `json:"state_param"`
		Verifier       string    `json:"verifier"`
		Issuer         string    `json:"issuer,omitempty"`
		RedirectURI    string    `json:"redirect_uri,omitempty"`
		RequestedScope string    `json:"requested_scope,omitempty"`
		ExpiresAt      time.Time `json:"expires_at"`
	}{s.ID, s.UserID, s.ServerURL, secret(s.StateParam), secret(s.Verifier), s.Issuer, s.RedirectURI, s.RequestedScope, s.ExpiresAt})
}

// LogValue gives log/slog a redacted view of the state.
func (s State[U]) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("id", s.ID),
		slog.Any("user_id", s.UserID),
		slog.String("server_url", s.ServerURL),
		slog.String("state_param", secret(s.StateParam)),
		slog.String("verifier", secret(s.Verifier)),
		slog.String("issuer", s.Issuer),
		slog.String("redirect_uri", s.RedirectURI),
		slog.String("requested_scope", s.RequestedScope),
		slog.String("expires_at", timeText(s.ExpiresAt)),
	)
}
