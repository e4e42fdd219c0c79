package devserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func getJSON(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", u, ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	return resp.StatusCode, m
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestResourceMetadata(t *testing.T) {
	s := start(t, Config{})
	u := s.URLs()
	for _, loc := range []string{u.ResourceMetadata, u.ResourceMetadataRoot} {
		prm, err := oauthex.GetProtectedResourceMetadata(ctxT(t), loc, u.MCP, nil)
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		if !slices.Equal(prm.AuthorizationServers, []string{u.Issuer}) || !slices.Equal(prm.BearerMethodsSupported, []string{"header"}) ||
			!slices.Equal(prm.ScopesSupported, DefaultScopes) {
			t.Errorf("%s: %+v", loc, prm)
		}
	}
	if _, err := oauthex.GetProtectedResourceMetadata(ctxT(t), u.SSEResourceMetadata, u.SSE, nil); err != nil {
		t.Errorf("SSE metadata: %v", err)
	}
	if u.ResourceMetadata != u.Base+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("path-inserted metadata at %s", u.ResourceMetadata)
	}
}

func TestAuthServerMetadata(t *testing.T) {
	for _, issuerPath := range []string{"", "/oauth", "/tenants/acme"} {
		t.Run("issuer path "+issuerPath, func(t *testing.T) {
			s := start(t, Config{IssuerPath: issuerPath, AutoApprove: true})
			u := s.URLs()
			if u.Issuer != u.Base+issuerPath {
				t.Fatalf("issuer %s", u.Issuer)
			}
			// The SDK's discovery, which tries the locations in the MCP order.
			asm, err := auth.GetAuthServerMetadata(ctxT(t), u.Issuer, nil)
			if err != nil || asm == nil {
				t.Fatalf("discovery: %v %v", asm, err)
			}
			if asm.TokenEndpoint != u.Issuer+"/token" || asm.AuthorizationEndpoint != u.Issuer+"/authorize" ||
				asm.RegistrationEndpoint != u.Issuer+"/register" || asm.RevocationEndpoint != u.Issuer+"/revoke" {
				t.Errorf("endpoints %+v", asm)
			}

			locations := []string{u.Base + "/.well-known/oauth-authorization-server" + issuerPath, u.Base + "/.well-known/openid-configuration" + issuerPath}
			if issuerPath != "" {
				locations = append(locations, u.Issuer+"/.well-known/openid-configuration")
			}
			for _, loc := range locations {
				status, m := getJSON(t, loc)
				if status != http.StatusOK {
					t.Fatalf("%s: %d", loc, status)
				}
				checks := map[string][]string{
					"code_challenge_methods_supported":      {"S256"},
					"response_types_supported":              {"code"},
					"grant_types_supported":                 {"authorization_code", "refresh_token"},
					"token_endpoint_auth_methods_supported": {"none", "client_secret_basic", "client_secret_post"},
					"scopes_supported":                      DefaultScopes,
				}
				for k, want := range checks {
					if got := strs(m[k]); !slices.Equal(got, want) {
						t.Errorf("%s: %s = %v, want %v", loc, k, got, want)
					}
				}
				if m["issuer"] != u.Issuer || m["client_id_metadata_document_supported"] != true || m["authorization_response_iss_parameter_supported"] != true {
					t.Errorf("%s: %v", loc, m)
				}
				if _, ok := m["jwks_uri"]; ok {
					t.Errorf("%s: an empty jwks_uri is advertised", loc)
				}
			}
			if issuerPath != "" {
				for _, root := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/authorize", "/token"} {
					if status, _ := getJSON(t, u.Base+root); status != http.StatusNotFound {
						t.Errorf("%s with a path issuer: %d, want 404", root, status)
					}
				}
			}

			// The flow works under the path, iss included.
			c := publicClient(t, s)
			if a := mustToken(t, s, c, nil); mcpStatus(t, s, a.AccessToken) != http.StatusOK {
				t.Error("token from a path issuer does not work")
			}
		})
	}
}

func TestHideS256(t *testing.T) {
	s := start(t, Config{HideS256: true, AutoApprove: true})
	_, m := getJSON(t, s.URLs().AuthServerMetadata)
	if _, ok := m["code_challenge_methods_supported"]; ok {
		t.Errorf("code_challenge_methods_supported advertised: %v", m["code_challenge_methods_supported"])
	}
	// A careful client refuses; the SDK does.
	if _, err := auth.GetAuthServerMetadata(ctxT(t), s.URLs().Issuer, nil); err == nil || !strings.Contains(err.Error(), "PKCE") {
		t.Errorf("SDK discovery without S256: %v", err)
	}
	// PKCE is still required.
	c := publicClient(t, s)
	q := authParams(s, c, newPKCE())
	q.Del("code_challenge")
	if cb := redirected(t, s, authorize(t, s, q), c.redirect); cb.Get("error") != "invalid_request" {
		t.Errorf("no PKCE with S256 hidden: %v", cb)
	}
}

func TestChallenges(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	u := s.URLs()

	resp := mcpPost(t, u.MCP, "", initializeBody)
	ch := challenge(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || ch["error"] != "" || ch["scope"] != "mcp:read mcp:write" || ch["resource_metadata"] != u.ResourceMetadata {
		t.Errorf("no token: %d %v", resp.StatusCode, ch)
	}
	resp = mcpPost(t, u.MCP, "mcpdev_at_FORGED", initializeBody)
	if ch := challenge(t, resp); resp.StatusCode != http.StatusUnauthorized || ch["error"] != "invalid_token" {
		t.Errorf("forged token: %d %v", resp.StatusCode, ch)
	}
	resp = mcpPost(t, u.SSE, "", "{}")
	if ch := challenge(t, resp); resp.StatusCode != http.StatusUnauthorized || ch["resource_metadata"] != u.SSEResourceMetadata {
		t.Errorf("SSE without token: %d %v", resp.StatusCode, ch)
	}

	// Tokens in the URL are refused outright.
	c := publicClient(t, s)
	a := mustToken(t, s, c, nil)
	resp = mcpPost(t, u.MCP+"?access_token="+url.QueryEscape(a.AccessToken), "", initializeBody)
	if ch := challenge(t, resp); resp.StatusCode != http.StatusBadRequest || ch["error"] != "invalid_request" {
		t.Errorf("token in the query: %d %v", resp.StatusCode, ch)
	}

	// CORS preflight for browser clients, without a token.
	req, _ := http.NewRequest(http.MethodOptions, u.MCP, nil)
	req.Header.Set("Origin", "http://localhost:6274")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != http.StatusNoContent || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
}
