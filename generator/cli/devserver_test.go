package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDevServerCommand runs `mcpgen dev-server` as users do, reads the URLs
// it prints, checks it serves discovery documents there, and stops it with
// SIGTERM.
func TestDevServerCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building mcpgen")
	}
	bin := buildBinary(t, repo(t), "./cmd/mcpgen")
	p := start(t, "mcpgen dev-server", t.TempDir(), bin, nil, "dev-server", "--addr", "127.0.0.1:0", "--access-token-ttl", "5s", "--refresh-delay", "1500ms")

	mcpURL, err := p.WaitOutput("mcp: ", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"export DEFAULT_MCP_SERVER_URL=" + mcpURL, "export MCP_OAUTH_ENCRYPTION_KEYS=", "export MCP_OAUTH_BASE_URL=", "settings: access tokens 5s, refresh tokens 24h0m0s, refreshes held 1.5s,", "issuer: http://127.0.0.1:"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, p.Output())
		}
	}

	base := strings.TrimSuffix(mcpURL, "/mcp")
	resp, err := http.Get(base + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || meta.Resource != mcpURL || len(meta.AuthorizationServers) != 1 {
		t.Errorf("protected-resource metadata: %+v, %v", meta, err)
	}
	resp, err = http.Post(mcpURL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("unauthenticated MCP request: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	p.Stop()
	if !strings.Contains(p.Output(), "stopped") {
		t.Errorf("no clean stop on SIGTERM:\n%s", p.Output())
	}
}
