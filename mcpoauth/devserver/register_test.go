package devserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func postJSON(t *testing.T, endpoint, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 && json.Unmarshal(b, &m) != nil {
		t.Fatalf("%d: non-JSON answer %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m, resp.Header
}

func TestRegister(t *testing.T) {
	s := start(t, Config{})
	reg := s.URLs().Register

	// Defaults: RFC 7591's client_secret_basic, and both grants.
	status, m, h := postJSON(t, reg, "application/json", `{"redirect_uris":["https://app.example/cb"],"client_name":"App","logo_uri":"https://app.example/logo.png"}`)
	if status != http.StatusCreated || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %v, Cache-Control %q", status, m, h.Get("Cache-Control"))
	}
	if m["token_endpoint_auth_method"] != "client_secret_basic" || m["client_secret"] == nil || m["client_secret_expires_at"] != 0.0 ||
		m["client_id_issued_at"] == nil || m["client_name"] != "App" {
		t.Errorf("registration answer %v", m)
	}
	if gt, _ := json.Marshal(m["grant_types"]); string(gt) != `["authorization_code","refresh_token"]` {
		t.Errorf("grant_types %s", gt)
	}
	status, m, _ = postJSON(t, reg, "application/json; charset=utf-8", `{"redirect_uris":["http://[::1]:3000/cb","http://localhost/cb"],"token_endpoint_auth_method":"none"}`)
	if status != http.StatusCreated || m["client_secret"] != nil || m["client_secret_expires_at"] != nil {
		t.Errorf("public registration: %d %v", status, m)
	}

	bad := []struct {
		name, body, code string
	}{
		{"no redirect_uris", `{"client_name":"x"}`, "invalid_redirect_uri"},
		{"empty redirect_uris", `{"redirect_uris":[]}`, "invalid_redirect_uri"},
		{"http off loopback", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, "invalid_redirect_uri"},
		{"custom scheme", `{"redirect_uris":["com.example.app:/cb"]}`, "invalid_redirect_uri"},
		{"relative", `{"redirect_uris":["/cb"]}`, "invalid_redirect_uri"},
		{"user info", `{"redirect_uris":["https://me@app.example/cb"]}`, "invalid_redirect_uri"},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
		{"private_key_jwt", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata"},
		{"implicit", `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, "invalid_client_metadata"},
		{"client credentials", `{"redirect_uris":["https://app.example/cb"],"grant_types":["client_credentials"]}`, "invalid_client_metadata"},
		{"refresh only", `{"redirect_uris":["https://app.example/cb"],"grant_types":["refresh_token"]}`, "invalid_client_metadata"},
		{"unknown scope", `{"redirect_uris":["https://app.example/cb"],"scope":"mcp:read repo"}`, "invalid_client_metadata"},
		{"not JSON", `redirect_uris=https://app.example/cb`, "invalid_client_metadata"},
	}
	for _, tc := range bad {
		status, m, _ := postJSON(t, reg, "application/json", tc.body)
		if status != http.StatusBadRequest || m["error"] != tc.code || m["error_description"] == "" {
			t.Errorf("%s: %d %v, want 400 %s", tc.name, status, m, tc.code)
		}
	}
	status, m, _ = postJSON(t, reg, "application/x-www-form-urlencoded", `{"redirect_uris":["https://app.example/cb"]}`)
	if status != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Errorf("form content type: %d %v", status, m)
	}
	if st := s.Stats(); st.Registrations != 2 {
		t.Errorf("registrations %d, want 2", st.Registrations)
	}
}

func TestRegisterDisabled(t *testing.T) {
	s := start(t, Config{DisableDCR: true})
	resp, err := http.Post(s.URLs().Base+"/register", "application/json", strings.NewReader(`{"redirect_uris":["https://app.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("register with DCR off: %d, want 404", resp.StatusCode)
	}
	if s.URLs().Register != "" || s.authServerMetadata().RegistrationEndpoint != "" {
		t.Error("registration endpoint still advertised")
	}
}
