package mcpoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Fuzz targets of what the app reads from others: URLs it is configured
// with, the callback's query, WWW-Authenticate challenges, metadata
// documents, and ciphertexts from its database. Their seeds run as
// ordinary tests; `make fuzz` runs each for a while.

// A canonical server URL is an endpoint the app may send secrets to, and
// canonicalising it again changes nothing.
func FuzzCanonicalServerURL(f *testing.F) {
	for _, s := range []string{
		"https://MCP.Example.com:443/mcp/", "http://localhost:3000/mcp", "http://[::1]:3000/", "https://:",
		"https://user:pw@mcp.example.com/", "https://mcp.example.com/mcp?x=1", "https://mcp.example.com/#f",
		"https://mcp.example.com/a%2Fb", "HTTPS://MCP.EXAMPLE.COM", "https://xn--bcher-kva.example/", "http://10.0.0.1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := CanonicalServerURL(raw)
		if err != nil {
			return
		}
		if err := checkEndpoint(got); err != nil {
			t.Fatalf("CanonicalServerURL(%q) = %q, which checkEndpoint refuses: %v", raw, got, err)
		}
		again, err := CanonicalServerURL(got)
		if err != nil || again != got {
			t.Fatalf("CanonicalServerURL is not idempotent: %q -> %q -> %q, %v", raw, got, again, err)
		}
	})
}

// A ciphertext opens only as what was sealed under its associated data:
// any change of the text, or of the associated data, either fails or
// (a base64 spelling of the same bytes) gives the same plaintext.
func FuzzKeyringOpen(f *testing.F) {
	k := testKeyring(f)
	aad := additionalData(credentialsTable, "token_data", "42", "https://mcp.example.com/mcp", "https://as.example.com")
	plain := []byte(`{"access_token":"secret"}`)
	sealed, err := k.Seal(plain, aad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, 0, byte(0), false)
	f.Add(sealed, len(sealed)-1, byte('A'), false)
	f.Add(sealed, 3, byte('x'), true)
	f.Add("", 0, byte(0), false)
	f.Fuzz(func(t *testing.T, text string, pos int, b byte, otherAAD bool) {
		if pos >= 0 && pos < len(text) {
			text = text[:pos] + string(b) + text[pos+1:]
		}
		a := aad
		if otherAAD {
			a = additionalData(credentialsTable, "token_data", "42", "https://mcp.example.com/mcp", "https://evil.example")
		}
		got, err := k.Open(text, a)
		if err != nil {
			return
		}
		if otherAAD || !bytes.Equal(got, plain) {
			t.Fatalf("Open(%q) = %q with otherAAD=%v: a forgery", text, got, otherAAD)
		}
	})
}

// A challenge's scope is recorded only as valid scope tokens.
func FuzzChallengeScope(f *testing.F) {
	for _, s := range []string{
		`Bearer error="insufficient_scope", scope="mcp:read mcp:write"`,
		`Bearer scope="a\"b", resource_metadata="https://x/"`, `Bearer realm=x, , ,`, `Basic realm="x", Bearer scope=`,
		"Bearer scope=\"\x00\x7f\"", `Bearer error="insufficient_scope", scope="` + strings.Repeat("s ", 700) + `"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		cs, err := oauthex.ParseWWWAuthenticate([]string{header})
		if err != nil {
			return
		}
		ch := bearerChallenge(cs)
		if ch == nil {
			return
		}
		store, _, _ := newTestStore(t)
		h := &OAuthHandler[testUser]{env: newOAuthEnv(store, nil, nil, discardLogger(), &metadataCache{}, nil, 0, 0), server: Server{Key: "default", URL: "https://mcp.example.com/mcp"}}
		_ = h.requireScope(context.Background(), ch.Params["scope"]) // no credential: records nothing, must not panic
		for _, s := range strings.Fields(ch.Params["scope"]) {
			if validScopeToken(s) && strings.ContainsAny(s, "\" \\") {
				t.Fatalf("validScopeToken(%q) accepted a quote, space or backslash", s)
			}
		}
	})
}

// Resource metadata is accepted only for the resource asked about, with
// authorization servers the app may send secrets to.
func FuzzResourceMetadata(f *testing.F) {
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	server := srv.URL + "/mcp"
	for _, doc := range []any{
		map[string]any{"resource": server, "authorization_servers": []string{srv.URL}},
		map[string]any{"resource": srv.URL, "authorization_servers": []string{"http://10.0.0.1"}},
		map[string]any{"resource": server, "authorization_servers": []string{"javascript:alert(1)"}, "scopes_supported": []string{"a b"}},
		map[string]any{"resource": "https://other.example/mcp"},
	} {
		b, _ := json.Marshal(doc)
		f.Add(b)
	}
	f.Add([]byte(`{"resource":`))
	store, _, _ := newTestStore(f)
	env := newOAuthEnv(store, srv.Client(), nil, discardLogger(), &metadataCache{}, nil, 0, 0)
	f.Fuzz(func(t *testing.T, doc []byte) {
		body.Store(doc)
		accept := []string{server, srv.URL}
		prm, err := env.resourceMetadata(context.Background(), srv.URL+"/.well-known/oauth-protected-resource", accept)
		if err != nil {
			return
		}
		if !slices.Contains(accept, prm.Resource) {
			t.Fatalf("accepted metadata for resource %q", prm.Resource)
		}
		for _, as := range prm.AuthorizationServers {
			if err := checkIssuer(as); err != nil {
				t.Fatalf("accepted authorization server %q: %v", as, err)
			}
		}
	})
}

// A callback without a pending flow never completes, whatever its query.
func FuzzCallback(f *testing.F) {
	fx := newFlowFixture(f)
	user := seedUser(f, fx.db)
	for _, q := range []string{
		"code=c&state=s", "state=&code=", "error=access_denied&error_description=%3Cscript%3E&state=s",
		"state=a&state=b", "iss=https%3A%2F%2Fevil&code=c&state=s", strings.Repeat("state=x&", 100),
	} {
		f.Add(q, "default")
	}
	f.Fuzz(func(t *testing.T, query, key string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		cred, err := fx.flow.Complete(context.Background(), user, key, q)
		if err == nil || cred != nil {
			t.Fatalf("Complete(%q, %q) = %v, %v: a callback without a flow completed", key, query, cred, err)
		}
		var ce *CallbackError
		if !errors.Is(err, ErrStateInvalid) && !errors.As(err, &ce) {
			t.Fatalf("Complete(%q, %q): %v, want ErrStateInvalid", key, query, err)
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
