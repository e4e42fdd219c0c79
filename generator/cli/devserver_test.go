package cli_test

import (
	"encoding/json"
	"net/http"
	"regexp"
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
	p := start(t, "mcpgen dev-server", t.TempDir(), bin, nil, "dev-server", "--addr", "127.0.0.1:0", "--access-token-ttl", "5s")

	mcpURL := ""
	re := regexp.MustCompile(`(?m)^mcp: (\S+)$`)
	for deadline := time.Now().Add(30 * time.Second); mcpURL == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			mcpURL = m[1]
		}
	}
	if mcpURL == "" {
		t.Fatalf("dev-server printed no mcp: line:\n%s", p.out.String())
	}
	for _, want := range []string{"DEFAULT_MCP_SERVER_URL=" + mcpURL, "settings: access tokens 5s", "issuer: http://127.0.0.1:"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, p.out.String())
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

	p.stop()
	if !strings.Contains(p.out.String(), "stopped") {
		t.Errorf("no clean stop on SIGTERM:\n%s", p.out.String())
	}
}
