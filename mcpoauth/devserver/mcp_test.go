package devserver

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestInsufficientScope(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	a := mustToken(t, s, c, nil) // the default scopes: no mcp:admin

	b := &bearer{token: a.AccessToken}
	cs := connect(t, s.URLs().MCP, b)
	if _, err := callText(t, cs, "admin_stats", map[string]any{}); err == nil || !strings.Contains(err.Error(), "insufficient_scope") {
		t.Fatalf("admin_stats without mcp:admin: %v", err)
	}
	resp := b.lastResponse()
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin_stats: last response %v, want 403", resp)
	}
	want := map[string]string{"error": "insufficient_scope", "scope": "mcp:read mcp:admin", "resource_metadata": s.URLs().ResourceMetadata}
	ch := challenge(t, resp)
	for k, v := range want {
		if ch[k] != v {
			t.Errorf("challenge %s = %q, want %q", k, ch[k], v)
		}
	}
	// The session survives the refusal.
	if got, err := callText(t, cs, "echo", map[string]any{"text": "still here"}); err != nil || got != "still here" {
		t.Errorf("echo after 403: %q %v", got, err)
	}

	// mcp:read is needed by every tool.
	writeOnly := mustToken(t, s, c, url.Values{"scope": {"mcp:write"}})
	resp = mcpPost(t, s.URLs().MCP, writeOnly.AccessToken, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`)
	if ch := challenge(t, resp); resp.StatusCode != http.StatusForbidden || ch["scope"] != "mcp:read" {
		t.Errorf("echo without mcp:read: %d %v", resp.StatusCode, ch)
	}
	var rpc struct {
		ID    int                      `json:"id"`
		Error struct{ Message string } `json:"error"`
	}
	if json.NewDecoder(resp.Body).Decode(&rpc); rpc.ID != 7 || !strings.Contains(rpc.Error.Message, "insufficient_scope") {
		t.Errorf("403 body %+v", rpc)
	}

	// With mcp:admin, admin_stats answers the counters.
	admin := mustToken(t, s, c, url.Values{"scope": {"mcp:read mcp:admin"}})
	text, err := callText(t, connect(t, s.URLs().MCP, &bearer{token: admin.AccessToken}), "admin_stats", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	if err := json.Unmarshal([]byte(text), &st); err != nil || st.InsufficientScope != 2 || st.CodeExchanges != 3 {
		t.Errorf("admin_stats %s: %v", text, err)
	}
}

func TestAudience(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	p := newPKCE()
	cd := code(t, s, c, p, url.Values{"resource": {s.URLs().SSE}})
	a := postForm(t, s.URLs().Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {c.redirect},
		"code_verifier": {p.verifier}, "client_id": {c.id}, "resource": {s.URLs().SSE},
	}, nil)
	if a.status != http.StatusOK {
		t.Fatalf("exchange for the SSE resource: %d %s", a.status, a.Description)
	}
	resp := mcpPost(t, s.URLs().MCP, a.AccessToken, initializeBody)
	if ch := challenge(t, resp); resp.StatusCode != http.StatusUnauthorized || ch["error"] != "invalid_token" {
		t.Errorf("a token for /sse at /mcp: %d %v", resp.StatusCode, ch)
	}
}

func TestSessionBoundToUser(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	alice := mustToken(t, s, c, nil)
	bob := mustToken(t, s, c, url.Values{"login_hint": {"bob"}})

	b := &bearer{token: alice.AccessToken}
	cs := connect(t, s.URLs().MCP, b)
	b.set(bob.AccessToken)
	if _, err := callText(t, cs, "whoami", map[string]any{}); err == nil {
		t.Error("bob's token was accepted in alice's session")
	}
}

func TestSSE(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	c := publicClient(t, s)
	p := newPKCE()
	cd := code(t, s, c, p, url.Values{"resource": {s.URLs().SSE}, "login_hint": {"erin"}})
	a := postForm(t, s.URLs().Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {c.redirect},
		"code_verifier": {p.verifier}, "client_id": {c.id}, "resource": {s.URLs().SSE},
	}, nil)
	if a.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", a.status, a.Description)
	}

	// The SDK's SSE client, with a bearer-adding HTTP client.
	client := mcp.NewClient(&mcp.Implementation{Name: "sse-test", Version: "1"}, nil)
	cs, err := client.Connect(ctxT(t), &mcp.SSEClientTransport{Endpoint: s.URLs().SSE, HTTPClient: &http.Client{Transport: &bearer{token: a.AccessToken}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	who := whoami(t, cs)
	if who.User != "erin" || who.Resource != s.URLs().SSE || who.ClientID != c.id {
		t.Errorf("whoami over SSE %+v", who)
	}
	if got, err := callText(t, cs, "add", map[string]any{"a": 1, "b": 2}); err != nil || got != "3" {
		t.Errorf("add over SSE: %q %v", got, err)
	}

	// Another user's token cannot post into erin's stream.
	p2 := newPKCE()
	cd2 := code(t, s, c, p2, url.Values{"resource": {s.URLs().SSE}, "login_hint": {"frank"}})
	frank := postForm(t, s.URLs().Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {cd2}, "redirect_uri": {c.redirect},
		"code_verifier": {p2.verifier}, "client_id": {c.id}, "resource": {s.URLs().SSE},
	}, nil)
	req, _ := http.NewRequest(http.MethodGet, s.URLs().SSE, nil)
	req.Header.Set("Authorization", "Bearer "+a.AccessToken)
	req.Header.Set("Accept", "text/event-stream")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	sc := bufio.NewScanner(stream.Body)
	var endpoint string
	for sc.Scan() {
		if e, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = e
			break
		}
	}
	if !strings.Contains(endpoint, "sessionid=") {
		t.Fatalf("no endpoint event, got %q", endpoint)
	}
	resp := mcpPost(t, s.URLs().Base+endpoint, frank.AccessToken, initializeBody)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("frank posting into erin's stream: %d, want 403", resp.StatusCode)
	}
	resp = mcpPost(t, s.URLs().Base+endpoint, a.AccessToken, initializeBody)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("erin posting into her stream: %d, want 202", resp.StatusCode)
	}
}
