package mcpoauth

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The secrets the redaction tests look for in printed and logged output.
const (
	testAccessToken  = "at-0123456789-secret"
	testRefreshToken = "rt-9876543210-secret"
	testClientSecret = "cs-5555555555-secret"
	testRegToken     = "rat-777777777-secret"
	testVerifier     = "verifier-4444444444-secret"
	testStateParam   = "state-3333333333-secret"
)

func TestTokenExpiry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		expiry      time.Time
		expired     bool
		expiresSoon bool
	}{
		{"no expiry", time.Time{}, false, false},
		{"long valid", now.Add(time.Hour), false, false},
		{"within the window", now.Add(DefaultRefreshWindow - time.Second), false, true},
		{"at the window's start", now.Add(DefaultRefreshWindow), false, true},
		{"expires now", now, true, true},
		{"expired", now.Add(-time.Second), true, true},
	} {
		tok := Token{AccessToken: "x", Expiry: tc.expiry}
		if got := tok.Expired(now); got != tc.expired {
			t.Errorf("%s: Expired = %v, want %v", tc.name, got, tc.expired)
		}
		if got := tok.ExpiresSoon(now, DefaultRefreshWindow); got != tc.expiresSoon {
			t.Errorf("%s: ExpiresSoon = %v, want %v", tc.name, got, tc.expiresSoon)
		}
		c := Credential[testUser]{Token: tok}
		if c.Expired(now) != tc.expired || c.ExpiresSoon(now, DefaultRefreshWindow) != tc.expiresSoon {
			t.Errorf("%s: Credential's Expired/ExpiresSoon disagree with its token's", tc.name)
		}
	}
}

func TestTokenOAuth2(t *testing.T) {
	expiry := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tok := Token{AccessToken: testAccessToken, RefreshToken: testRefreshToken, TokenType: "Bearer",
		Expiry: expiry, Scope: "mcp:read mcp:write"}
	o := tok.OAuth2()
	if o.AccessToken != tok.AccessToken || o.RefreshToken != tok.RefreshToken || o.TokenType != tok.TokenType ||
		!o.Expiry.Equal(expiry) || o.Extra("scope") != tok.Scope {
		t.Errorf("OAuth2() = %+v (scope %v), want the fields of %v", o, o.Extra("scope"), tok)
	}
	back, err := TokenFromOAuth2(o)
	if err != nil {
		t.Fatalf("TokenFromOAuth2: %v", err)
	}
	if back != tok {
		t.Errorf("round trip through oauth2 = %#v, want %#v", back, tok)
	}

	noScope, err := TokenFromOAuth2(&oauth2.Token{AccessToken: "x"})
	if err != nil || noScope.Scope != "" || noScope.OAuth2().Extra("scope") != nil {
		t.Errorf("token without scope: %v, %v", noScope, err)
	}
	if _, err := TokenFromOAuth2(nil); err == nil {
		t.Error("TokenFromOAuth2(nil): no error")
	}
	if _, err := TokenFromOAuth2(&oauth2.Token{}); err == nil {
		t.Error("TokenFromOAuth2 without an access token: no error")
	}
}

// sprintAll prints v with every common fmt verb.
func sprintAll(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%T"} {
		fmt.Fprintf(&b, verb+"\n", v)
	}
	fmt.Fprintln(&b, v)
	fmt.Fprintln(&b, []any{v})
	fmt.Fprintf(&b, "%+v\n", struct{ V any }{v})
	return b.String()
}

// slogAll logs v with slog's text and JSON handlers.
func slogAll(v any) string {
	var b bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	slog.New(slog.NewTextHandler(&b, opts)).Info("text", "v", v)
	slog.New(slog.NewJSONHandler(&b, opts)).Info("json", "v", v)
	slog.New(slog.NewJSONHandler(&b, opts)).Info("json group", slog.Group("g", "v", v))
	return b.String()
}

func assertNoSecrets(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range []string{testAccessToken, testRefreshToken, testClientSecret, testRegToken, testVerifier, testStateParam} {
		if strings.Contains(out, s) {
			t.Errorf("%s reveals a secret (%s…):\n%s", what, s[:4], out)
		}
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	tok := Token{AccessToken: testAccessToken, RefreshToken: testRefreshToken, TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour), Scope: "mcp:read"}
	client := ClientInfo{ClientID: "client-1", ClientSecret: testClientSecret, Issuer: "https://auth.example.com",
		RedirectURIs: []string{"https://app.example.com/callback"}, RegistrationAccessToken: testRegToken}
	cred := Credential[testUser]{ID: 7, ServerURL: "https://mcp.example.com", Token: tok, Client: &client}
	st := State[testUser]{ID: 8, ServerURL: "https://mcp.example.com", StateParam: testStateParam, Verifier: testVerifier,
		ExpiresAt: time.Now()}

	for _, v := range []struct {
		name string
		v    any
	}{
		{"Token", tok}, {"*Token", &tok},
		{"ClientInfo", client}, {"*ClientInfo", &client},
		{"Credential", cred}, {"*Credential", &cred}, {"[]*Credential", []*Credential[testUser]{&cred}},
		{"State", st}, {"*State", &st},
	} {
		assertNoSecrets(t, "fmt of "+v.name, sprintAll(v.v))
		assertNoSecrets(t, "slog of "+v.name, slogAll(v.v))
	}

	if s := tok.String(); !strings.Contains(s, "[redacted]") || !strings.Contains(s, "Bearer") || !strings.Contains(s, "mcp:read") {
		t.Errorf("Token.String() = %q: want the secrets redacted and the rest shown", s)
	}
	if s := (Token{AccessToken: "x"}).String(); !strings.Contains(s, `RefreshToken:""`) {
		t.Errorf("Token.String() = %q: want an absent refresh token shown as empty", s)
	}
	if s := cred.String(); !strings.Contains(s, "client-1") || !strings.Contains(s, "https://mcp.example.com") {
		t.Errorf("Credential.String() = %q: want the client id and server shown", s)
	}
}
