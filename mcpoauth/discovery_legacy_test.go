package mcpoauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// legacyServer is an MCP server at /mcp whose discovery documents the
// test writes: routes maps a path to its JSON document (404 elsewhere),
// and challenge is the WWW-Authenticate of its 401 answer.
func legacyServer(t *testing.T, challenge string, routes func(origin string) map[string]any) (*oauthEnv[testUser], string) {
	t.Helper()
	var origin string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mcp" {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		doc, ok := routes(origin)[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(srv.Close)
	origin = srv.URL
	store, _, _ := newTestStore(t)
	return newOAuthEnv(store, srv.Client(), nil, nil, &metadataCache{}, nil, 0, 0), srv.URL + "/mcp"
}

// discover runs discovery for server: its resource metadata, then its
// authorization server's.
func discover(t *testing.T, env *oauthEnv[testUser], server string) (*resourceInfo, *oauthex.AuthServerMeta) {
	t.Helper()
	ri, err := env.discoverResource(context.Background(), server)
	if err != nil {
		t.Fatal(err)
	}
	asm, err := env.authServer(context.Background(), ri.issuer())
	if err != nil {
		t.Fatal(err)
	}
	return ri, asm
}

func asMetadata(issuer, base string) map[string]any {
	return map[string]any{
		"issuer":                           issuer,
		"authorization_endpoint":           base + "/authorize",
		"token_endpoint":                   base + "/token",
		"registration_endpoint":            base + "/register",
		"response_types_supported":         []string{"code"},
		"code_challenge_methods_supported": []string{"S256"},
	}
}

// RFC 9728 section 3.3: the metadata at the root well-known URL describes
// the resource the path was inserted into, the origin; a server whose
// only metadata is there, naming its origin, is discovered (the suite's
// auth/metadata-var2).
func TestRootResourceMetadataNamesTheOrigin(t *testing.T) {
	env, server := legacyServer(t, `Bearer`, func(origin string) map[string]any {
		return map[string]any{
			"/.well-known/oauth-protected-resource": map[string]any{
				"resource": origin, "authorization_servers": []string{origin + "/tenant1"}},
			"/.well-known/oauth-authorization-server/tenant1": asMetadata(origin+"/tenant1", origin+"/tenant1"),
		}
	})
	_, asm := discover(t, env, server)
	if want := server[:len(server)-len("/mcp")] + "/tenant1/token"; asm.TokenEndpoint != want {
		t.Errorf("token endpoint %q, want %q", asm.TokenEndpoint, want)
	}

	// At the path-inserted URL, the resource must still be the server's.
	env, server = legacyServer(t, `Bearer`, func(origin string) map[string]any {
		return map[string]any{"/.well-known/oauth-protected-resource/mcp": map[string]any{
			"resource": origin, "authorization_servers": []string{origin}}}
	})
	if _, err := env.discoverResource(context.Background(), server); !errors.Is(err, ErrDiscovery) {
		t.Errorf("path-inserted metadata naming the origin: %v, want ErrDiscovery", err)
	}
}

// A 2025-03-26 server publishes no resource metadata: its origin is the
// authorization server, whose metadata at the origin's well-known URL is
// taken whatever issuer it names (auth/2025-03-26-oauth-metadata-backcompat).
func TestServerWithoutResourceMetadata(t *testing.T) {
	env, server := legacyServer(t, `Bearer realm="mcp"`, func(origin string) map[string]any {
		return map[string]any{"/.well-known/oauth-authorization-server": asMetadata(origin+"/oauth", origin+"/oauth")}
	})
	ri, err := env.discoverResource(context.Background(), server)
	if err != nil {
		t.Fatal(err)
	}
	origin := server[:len(server)-len("/mcp")]
	if ri.issuer() != origin || ri.metadata.Resource != server {
		t.Fatalf("issuer %q, resource %q: want the origin %q and the server", ri.issuer(), ri.metadata.Resource, origin)
	}
	asm, err := env.authServer(context.Background(), ri.issuer())
	if err != nil {
		t.Fatal(err)
	}
	if asm.Issuer != origin || asm.AuthorizationEndpoint != origin+"/oauth/authorize" || asm.AuthorizationResponseIssParameterSupported {
		t.Errorf("metadata %+v: want the document's endpoints under the origin as issuer", asm)
	}
}

// Nor any authorization server metadata: the 2025-03-26 default endpoints
// at the origin (auth/2025-03-26-oauth-endpoint-fallback).
func TestServerWithoutAnyMetadata(t *testing.T) {
	env, server := legacyServer(t, `Bearer`, func(string) map[string]any { return nil })
	_, asm := discover(t, env, server)
	origin := server[:len(server)-len("/mcp")]
	if asm.AuthorizationEndpoint != origin+"/authorize" || asm.TokenEndpoint != origin+"/token" || asm.RegistrationEndpoint != origin+"/register" {
		t.Errorf("endpoints %+v: want /authorize, /token, /register at %s", asm, origin)
	}
	// An issuer with a path gets no guessed endpoints.
	if _, err := env.authServer(context.Background(), origin+"/tenant"); !errors.Is(err, ErrDiscovery) {
		t.Errorf("an issuer with a path and no metadata: %v, want ErrDiscovery", err)
	}
}

// A challenge naming resource metadata that is not there is a broken
// server, not a 2025-03-26 one: no fallback.
func TestNamedResourceMetadataMissing(t *testing.T) {
	env, server := legacyServer(t, `Bearer resource_metadata="http://127.0.0.1:1/nothing"`, func(string) map[string]any { return nil })
	if _, err := env.discoverResource(context.Background(), server); !errors.Is(err, ErrDiscovery) {
		t.Errorf("discovery: %v, want ErrDiscovery", err)
	}
}

// A server that answers a public client's registration with a secret
// anyway does not get it back on token requests.
func TestPublicClientSendsNoSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": "c1", "client_secret": "s3cret", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	}))
	defer srv.Close()
	store, _, _ := newTestStore(t)
	env := newOAuthEnv(store, srv.Client(), nil, nil, &metadataCache{}, nil, 0, 0)
	c, err := env.registerClient(context.Background(), clientRequest{
		asm: &oauthex.AuthServerMeta{Issuer: srv.URL, RegistrationEndpoint: srv.URL + "/register",
			TokenEndpointAuthMethodsSupported: []string{"none"}},
		redirectURL: "http://127.0.0.1/cb", clientName: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenEndpointAuthMethod != authMethodNone || c.ClientSecret != "" {
		t.Errorf("client %+v: want a public client without the secret", c)
	}
	form := map[string][]string{}
	clientAuth(c, form, func(string, string) { t.Error("Basic authentication for a public client") })
	if _, ok := form["client_secret"]; ok {
		t.Errorf("token request form %v carries a client_secret", form)
	}
}
