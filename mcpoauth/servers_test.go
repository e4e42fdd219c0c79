package mcpoauth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// envLookup reads variables from a map instead of the environment.
func envLookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestRegistryFromEnv(t *testing.T) {
	reg, err := registryFromLookup(envLookup(map[string]string{
		"DEFAULT_MCP_SERVER_URL":         "https://MCP.example.com:443/api/",
		"MCP_OAUTH_SCOPES":               " mcp:read  mcp:write ",
		"MCP_OAUTH_CLIENT_ID":            "app-client",
		"MCP_OAUTH_CLIENT_SECRET":        "app-secret",
		"MCP_SERVERS":                    "github=https://github.example.com/mcp, local-dev=http://127.0.0.1:9000/mcp",
		"MCP_SERVER_GITHUB_SCOPES":       "repo issues",
		"MCP_SERVER_LOCAL_DEV_CLIENT_ID": "dev-client",
	}))
	if err != nil {
		t.Fatalf("registryFromLookup: %v", err)
	}
	want := []Server{
		{Key: "default", URL: "https://mcp.example.com/api", Scopes: []string{"mcp:read", "mcp:write"},
			ClientID: "app-client", ClientSecret: "app-secret"},
		{Key: "github", URL: "https://github.example.com/mcp", Scopes: []string{"repo", "issues"}},
		{Key: "local-dev", URL: "http://127.0.0.1:9000/mcp", ClientID: "dev-client"},
	}
	got := reg.All()
	if len(got) != len(want) {
		t.Fatalf("All() = %v, want %v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key != w.Key || g.URL != w.URL || !slices.Equal(g.Scopes, w.Scopes) || g.ClientID != w.ClientID || g.ClientSecret != w.ClientSecret {
			t.Errorf("server %d = %+v, want %+v", i, g, w)
		}
	}

	if s, ok := reg.Default(); !ok || s.Key != "default" {
		t.Errorf("Default() = %v, %v; want the default server", s, ok)
	}
	if s, ok := reg.Lookup(""); !ok || s.Key != "default" {
		t.Errorf(`Lookup("") = %v, %v; want the default server`, s, ok)
	}
	if s, ok := reg.ByURL("https://GITHUB.example.com/mcp/"); !ok || s.Key != "github" {
		t.Errorf("ByURL of a non-canonical form = %v, %v; want github", s, ok)
	}
	if _, ok := reg.Lookup("gitlab"); ok {
		t.Error("Lookup of an unknown key succeeded")
	}
	if _, err := reg.resolve("gitlab"); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("resolve of an unknown key: err = %v, want ErrUnknownServer", err)
	}
	got[0].Scopes[0] = "changed"
	if s, _ := reg.Lookup("default"); s.Scopes[0] != "mcp:read" {
		t.Error("All() shares its slices with the registry")
	}
}

func TestRegistryFromEmptyEnv(t *testing.T) {
	reg, err := registryFromLookup(envLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.All()) != 0 {
		t.Errorf("All() = %v, want none", reg.All())
	}
	if _, ok := reg.Default(); ok {
		t.Error("an empty registry has a default server")
	}
}

func TestRegistryRejectsBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // in the error
	}{
		{"plain http", map[string]string{"DEFAULT_MCP_SERVER_URL": "http://mcp.example.com/mcp"}, "loopback"},
		{"other scheme", map[string]string{"DEFAULT_MCP_SERVER_URL": "ftp://mcp.example.com/mcp"}, "scheme"},
		{"relative", map[string]string{"DEFAULT_MCP_SERVER_URL": "/mcp"}, "absolute"},
		{"user info", map[string]string{"DEFAULT_MCP_SERVER_URL": "https://me:pw@mcp.example.com/mcp"}, "user info"},
		{"fragment", map[string]string{"DEFAULT_MCP_SERVER_URL": "https://mcp.example.com/mcp#x"}, "fragment"},
		{"query", map[string]string{"DEFAULT_MCP_SERVER_URL": "https://mcp.example.com/mcp?tenant=1"}, "query"},
		{"not key=url", map[string]string{"MCP_SERVERS": "github"}, "key=url"},
		{"bad key", map[string]string{"MCP_SERVERS": "git hub=https://github.example.com/mcp"}, "server key"},
		{"duplicate key", map[string]string{"MCP_SERVERS": "a=https://a.example.com/mcp,a=https://b.example.com/mcp"}, "twice"},
		{"duplicate URL", map[string]string{"MCP_SERVERS": "a=https://a.example.com/mcp,b=https://A.example.com/mcp/"}, "same URL"},
		{"secret without client", map[string]string{"DEFAULT_MCP_SERVER_URL": "https://mcp.example.com/mcp", "MCP_OAUTH_CLIENT_SECRET": "s"}, "no client ID"},
		{"bad scope", map[string]string{"DEFAULT_MCP_SERVER_URL": "https://mcp.example.com/mcp", "MCP_OAUTH_SCOPES": `mcp:"read"`}, "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registryFromLookup(envLookup(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCanonicalServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://MCP.Example.com/mcp":      "https://mcp.example.com/mcp",
		"https://mcp.example.com:443/mcp/": "https://mcp.example.com/mcp",
		"https://mcp.example.com:8443":     "https://mcp.example.com:8443",
		"http://localhost:3000/mcp":        "http://localhost:3000/mcp",
		"http://[::1]:3000/mcp":            "http://[::1]:3000/mcp",
	} {
		if got, err := CanonicalServerURL(in); err != nil || got != want {
			t.Errorf("CanonicalServerURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// No host, however it is spelt, is no server (it gave "https:").
	for _, in := range []string{"https://:", "https://:443/mcp", "http://:80", "https:///mcp", "https://"} {
		if got, err := CanonicalServerURL(in); err == nil {
			t.Errorf("CanonicalServerURL(%q) = %q, want an error", in, got)
		}
	}
}

func TestFlowFromEnv(t *testing.T) {
	store, _, _ := newTestStore(t)
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	f, err := flowFromLookup(store, reg, "/mcp_connections", envLookup(map[string]string{
		"MCP_OAUTH_BASE_URL":            "https://app.example.com/",
		"MCP_OAUTH_CLIENT_METADATA_URL": "https://app.example.com/mcp_connections/client-metadata.json",
		"MCP_OAUTH_CLIENT_NAME":         "Shop",
		"MCP_OAUTH_REFRESH_WINDOW":      "90s",
	}))
	if err != nil {
		t.Fatalf("flowFromLookup: %v", err)
	}
	if want := "https://app.example.com/mcp_connections/callback"; f.RedirectURL != want {
		t.Errorf("RedirectURL = %q, want %q", f.RedirectURL, want)
	}
	if f.ClientName != "Shop" || !strings.HasSuffix(f.ClientMetadataURL, "/client-metadata.json") || f.RefreshWindow != 90*time.Second {
		t.Errorf("flow = %+v", f)
	}

	for name, env := range map[string]map[string]string{
		"no base URL":         {},
		"plain http base URL": {"MCP_OAUTH_BASE_URL": "http://app.example.com"},
		"metadata URL at root": {"MCP_OAUTH_BASE_URL": "https://app.example.com",
			"MCP_OAUTH_CLIENT_METADATA_URL": "https://app.example.com/"},
		"bad refresh window": {"MCP_OAUTH_BASE_URL": "https://app.example.com", "MCP_OAUTH_REFRESH_WINDOW": "soon"},
		"negative window":    {"MCP_OAUTH_BASE_URL": "https://app.example.com", "MCP_OAUTH_REFRESH_WINDOW": "-1m"},
	} {
		if _, err := flowFromLookup(store, reg, "/mcp_connections", envLookup(env)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
