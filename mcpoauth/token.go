package mcpoauth

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultRefreshWindow is how long before expiry a token counts as
// expiring soon and is worth refreshing ahead of use.
const DefaultRefreshWindow = 5 * time.Minute

// redacted stands in for a secret in every printed or logged form.
const redacted = "[redacted]"

// Token is an OAuth access token with its refresh token, as stored
// (encrypted) in a credential's token_data. Its String, GoString, Format
// and LogValue methods redact the secrets, so printing a Token or logging
// it with log/slog never reveals them. Its JSON encoding is the storage
// format and does hold them: log Credentials, or the Token itself, rather
// than json.Marshal output.
type Token struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`    // zero: the token does not expire
	Scope        string    `json:"scope,omitempty"`    // space-separated, as granted
	IssuedAt     time.Time `json:"issued_at,omitzero"` // when the token endpoint issued it; zero: unknown
}

// Expired reports whether the token has expired at now. A token without
// an expiry never expires.
func (t Token) Expired(now time.Time) bool {
	return !t.Expiry.IsZero() && !now.Before(t.Expiry)
}

// ExpiresSoon reports whether the token has expired or will within window
// of now, the window shrunk to a quarter of the token's lifetime when
// that is shorter: a token issued for 5 seconds is renewed once, 1.25 s
// before it expires, not on every use. A token without an expiry never
// expires.
func (t Token) ExpiresSoon(now time.Time, window time.Duration) bool {
	if t.Expiry.IsZero() {
		return false
	}
	if !t.IssuedAt.IsZero() && t.Expiry.After(t.IssuedAt) {
		window = min(window, t.Expiry.Sub(t.IssuedAt)/4)
	}
	return !now.Before(t.Expiry.Add(-window))
}

// OAuth2 converts the token to an *oauth2.Token, the scope carried as the
// "scope" extra field.
func (t Token) OAuth2() *oauth2.Token {
	tok := &oauth2.Token{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken,
		Expiry:       t.Expiry,
	}
	if t.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": t.Scope})
	}
	return tok
}

// TokenFromOAuth2 converts an *oauth2.Token, reading the scope from its
// "scope" extra field when the token endpoint returned one.
func TokenFromOAuth2(tok *oauth2.Token) (Token, error) {
	if tok == nil {
		return Token{}, errors.New("mcpoauth: token from oauth2: token is nil")
	}
	if tok.AccessToken == "" {
		return Token{}, errors.New("mcpoauth: token from oauth2: access token is empty")
	}
	t := Token{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenType:    tok.TokenType,
		Expiry:       tok.Expiry,
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scope = s
	}
	return t, nil
}

// String describes the token with its secrets redacted.
func (t Token) String() string {
	return fmt.Sprintf("mcpoauth.Token{AccessToken:%s RefreshToken:%s TokenType:%q Expiry:%s Scope:%q}",
		secret(t.AccessToken), secret(t.RefreshToken), t.TokenType, timeText(t.Expiry), t.Scope)
}

// GoString describes the token with its secrets redacted, for %#v.
func (t Token) GoString() string { return t.String() }

// Format prints the redacted description for every verb, so no fmt verb
// (%v, %+v, %#v, %s, %d, %x, ...) can reveal a secret.
func (t Token) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// LogValue gives log/slog a redacted view of the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", secret(t.AccessToken)),
		slog.String("refresh_token", secret(t.RefreshToken)),
		slog.String("token_type", t.TokenType),
		slog.String("expiry", timeText(t.Expiry)),
		slog.String("scope", t.Scope),
	)
}

// ClientInfo is the OAuth client the app is registered as with an
// authorization server, as stored (encrypted) in client_info_data: a
// pre-registered client, a client ID metadata document URL, or the result
// of dynamic client registration (RFC 7591). It belongs to one issuer and
// is never used with another. It is redacted like Token, and its JSON
// encoding, the storage format, likewise holds the secrets.
type ClientInfo struct {
	ClientID                string    `json:"client_id"`
	ClientSecret            string    `json:"client_secret,omitempty"`
	ClientIDIssuedAt        time.Time `json:"client_id_issued_at,omitzero"`
	ClientSecretExpiresAt   time.Time `json:"client_secret_expires_at,omitzero"` // zero: never expires
	Issuer                  string    `json:"issuer,omitempty"`
	RedirectURIs            []string  `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string    `json:"token_endpoint_auth_method,omitempty"`
	RegistrationAccessToken string    `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string    `json:"registration_client_uri,omitempty"`
}

// String describes the client with its secrets redacted.
func (c ClientInfo) String() string {
	return fmt.Sprintf("mcpoauth.ClientInfo{ClientID:%q ClientSecret:%s Issuer:%q RedirectURIs:[%s] TokenEndpointAuthMethod:%q RegistrationAccessToken:%s}",
		c.ClientID, secret(c.ClientSecret), c.Issuer, strings.Join(c.RedirectURIs, " "),
		c.TokenEndpointAuthMethod, secret(c.RegistrationAccessToken))
}

// GoString describes the client with its secrets redacted, for %#v.
func (c ClientInfo) GoString() string { return c.String() }

// Format prints the redacted description for every verb.
func (c ClientInfo) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue gives log/slog a redacted view of the client.
func (c ClientInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", secret(c.ClientSecret)),
		slog.String("issuer", c.Issuer),
		slog.Any("redirect_uris", c.RedirectURIs),
		slog.String("token_endpoint_auth_method", c.TokenEndpointAuthMethod),
		slog.String("registration_access_token", secret(c.RegistrationAccessToken)),
	)
}

// secret shows whether a secret is set, never its value.
func secret(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

// timeText formats an optional time for the redacted descriptions.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
