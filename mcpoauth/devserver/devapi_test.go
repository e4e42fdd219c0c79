package devserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func devPost(t *testing.T, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDevEndpoints(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	u := s.URLs()
	c := publicClient(t, s)
	alice := mustToken(t, s, c, nil)
	bob := mustToken(t, s, c, url.Values{"login_hint": {"bob"}})

	// Stats over HTTP decode into Stats.
	resp, err := http.Get(u.Stats)
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st.CodeExchanges != 2 || len(st.Families) != 2 || st.Families[0].User != "alice" || st.Families[1].User != "bob" {
		t.Errorf("stats %+v", st)
	}

	// Expire one user's access tokens; refresh still works.
	if status, m := devPost(t, u.Expire, url.Values{"user": {"alice"}}); status != http.StatusOK || m["expired_access_tokens"] != 1.0 {
		t.Errorf("expire alice: %d %v", status, m)
	}
	if mcpStatus(t, s, alice.AccessToken) != http.StatusUnauthorized || mcpStatus(t, s, bob.AccessToken) != http.StatusOK {
		t.Error("expire hit the wrong tokens")
	}
	r := refresh(t, s, c, alice.RefreshToken)
	if r.status != http.StatusOK {
		t.Fatalf("refresh after expire: %d", r.status)
	}

	// Revoke as the provider would: the app's next refresh fails.
	if status, _ := devPost(t, u.DevRevoke, nil); status != http.StatusBadRequest {
		t.Errorf("dev revoke without user or family: %d", status)
	}
	if status, m := devPost(t, u.DevRevoke, url.Values{"user": {"alice"}}); status != http.StatusOK || m["families_revoked"] != 1.0 {
		t.Errorf("dev revoke: %d %v", status, m)
	}
	wantError(t, refresh(t, s, c, r.RefreshToken), http.StatusBadRequest, "invalid_grant")
	fam := s.Stats().Families[1].ID
	if n := s.RevokeFamilies("", fam); n != 1 || mcpStatus(t, s, bob.AccessToken) != http.StatusUnauthorized {
		t.Errorf("revoke family %s: %d", fam, n)
	}

	// Reset.
	if status, _ := devPost(t, u.ResetStats, nil); status != http.StatusOK {
		t.Errorf("reset: %d", status)
	}
	if st := s.Stats(); st.CodeExchanges != 0 || st.Refreshes != 0 || len(st.Families) != 2 {
		t.Errorf("after reset %+v", st)
	}

	// Browsers on other sites cannot drive the controls.
	req, _ := http.NewRequest(http.MethodPost, u.Expire, nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site expire: %d, want 403", resp.StatusCode)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLogNeverHoldsSecrets runs a flow with the request log on.
func TestLogNeverHoldsSecrets(t *testing.T) {
	var log syncBuffer
	s := start(t, Config{AutoApprove: true, Log: &log})
	c := register(t, s, oauthexMeta("client_secret_post", ""))
	p := newPKCE()
	cd := code(t, s, c, p, nil)
	a := postForm(t, s.URLs().Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {c.redirect},
		"code_verifier": {p.verifier}, "client_id": {c.id}, "client_secret": {c.secret}, "resource": {s.URLs().MCP},
	}, nil)
	mcpStatus(t, s, a.AccessToken)
	s.Close()

	out := log.String()
	for _, secret := range []string{a.AccessToken, a.RefreshToken, cd, p.verifier, p.challenge, c.secret, "mcpdev_"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a secret (%.12s...):\n%s", secret, out)
		}
	}
	line := regexp.MustCompile(`(?m)^devserver: (GET|POST) /[^ ?]* \d{3} \S+$`)
	if n := len(line.FindAllString(out, -1)); n != 4 {
		t.Errorf("%d request lines, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, "devserver: GET /authorize 302") {
		t.Errorf("no authorize line:\n%s", out)
	}
}

// The test controls answer for the server's own host only: a site whose
// name resolves to 127.0.0.1 (DNS rebinding) gets 421, on every /_dev
// endpoint, while the MCP and OAuth endpoints stay open to any name.
func TestDevEndpointsCheckTheHost(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	u := s.URLs()
	do := func(method, target, host string) int {
		t.Helper()
		req, err := http.NewRequest(method, target, strings.NewReader(url.Values{"user": {"alice"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := u.Base[strings.LastIndex(u.Base, ":"):]
	for _, target := range []string{u.Stats, u.Base + "/_dev/stats/reset", u.Base + "/_dev/expire", u.Base + "/_dev/revoke"} {
		method := http.MethodPost
		if target == u.Stats {
			method = http.MethodGet
		}
		if got := do(method, target, "rebind.attacker.example"+port); got != http.StatusMisdirectedRequest {
			t.Errorf("%s %s for another host: %d, want 421", method, target, got)
		}
		if got := do(method, target, "localhost"+port); got == http.StatusMisdirectedRequest {
			t.Errorf("%s %s for localhost: 421", method, target)
		}
	}
	if got := do(http.MethodGet, u.Stats, strings.TrimPrefix(u.Base, "http://")); got != http.StatusOK {
		t.Errorf("stats for the server's own host: %d", got)
	}
	if got := do(http.MethodGet, u.Base+"/.well-known/oauth-protected-resource/mcp", "mcp.example"+port); got != http.StatusOK {
		t.Errorf("resource metadata for another name: %d, want 200", got)
	}
}
