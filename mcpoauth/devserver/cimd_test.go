package devserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// cimdHost serves Client ID Metadata Documents on loopback: the document
// at path is docs[path] with "$URL" replaced by its own URL.
func cimdHost(t *testing.T, docs map[string]string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/redirect.json" {
			http.Redirect(w, r, "/client.json", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.ReplaceAll(doc, "$URL", "http://"+r.Host+r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestCIMD(t *testing.T) {
	docs := map[string]string{
		"/client.json":         `{"client_id":"$URL","client_name":"CIMD App","redirect_uris":["` + testRedirect + `"],"grant_types":["authorization_code","refresh_token"]}`,
		"/mismatch.json":       `{"client_id":"https://elsewhere.example/client.json","client_name":"X","redirect_uris":["` + testRedirect + `"]}`,
		"/nameless.json":       `{"client_id":"$URL","redirect_uris":["` + testRedirect + `"]}`,
		"/secret.json":         `{"client_id":"$URL","client_name":"X","redirect_uris":["` + testRedirect + `"],"token_endpoint_auth_method":"client_secret_basic"}`,
		"/other-redirect.json": `{"client_id":"$URL","client_name":"X","redirect_uris":["https://app.example/cb"]}`,
		"/bad-redirect.json":   `{"client_id":"$URL","client_name":"X","redirect_uris":["http://app.example/cb"]}`,
		"/huge.json":           `{"client_id":"$URL","client_name":"` + strings.Repeat("x", maxCIMDBytes) + `","redirect_uris":["` + testRedirect + `"]}`,
		"/redirect.json":       ``,
		"/text.json":           `not json`,
	}
	host, hits := cimdHost(t, docs)
	s := start(t, Config{AutoApprove: true, AllowHTTPCIMD: true})

	id := host.URL + "/client.json"
	c := testClient{id: id, redirect: testRedirect}
	a := mustToken(t, s, c, nil)
	who := whoami(t, connect(t, s.URLs().MCP, &bearer{token: a.AccessToken}))
	if who.ClientID != id {
		t.Errorf("whoami client %q, want %q", who.ClientID, id)
	}
	if r := refresh(t, s, c, a.RefreshToken); r.status != http.StatusOK {
		t.Errorf("CIMD client refresh: %d %s", r.status, r.Description)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("document fetched %d times, want once (cached)", n)
	}
	if st := s.Stats(); st.CIMDFetches != 1 || st.Registrations != 0 {
		t.Errorf("cimd fetches %d, registrations %d", st.CIMDFetches, st.Registrations)
	}

	// CIMD clients are public: a secret is refused.
	wantError(t, postForm(t, s.URLs().Token, map[string][]string{
		"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "client_id": {id}, "client_secret": {"x"},
	}, nil), http.StatusUnauthorized, "invalid_client")

	bad := map[string]string{
		"/mismatch.json":       "not the URL it was fetched from",
		"/nameless.json":       "client_name is required",
		"/secret.json":         "token_endpoint_auth_method must be none",
		"/other-redirect.json": "not one of the URIs",
		"/bad-redirect.json":   "not loopback",
		"/huge.json":           "larger than",
		"/redirect.json":       "302",
		"/text.json":           "not a JSON object",
		"/missing.json":        "404",
		"/":                    "must have a path",
		"/a/../client.json":    "segments",
	}
	for path, want := range bad {
		q := authParams(s, testClient{id: host.URL + path, redirect: testRedirect}, newPKCE())
		resp := authorize(t, s, q)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, Location %q; page should say %q:\n%s", path, resp.StatusCode, resp.Header.Get("Location"), want, body)
		}
	}
}

func TestCIMDPolicy(t *testing.T) {
	host, hits := cimdHost(t, map[string]string{
		"/client.json": `{"client_id":"$URL","client_name":"CIMD App","redirect_uris":["` + testRedirect + `"]}`,
	})
	id := host.URL + "/client.json"
	for name, cfg := range map[string]Config{
		"http not allowed": {AutoApprove: true},
		"CIMD disabled":    {AutoApprove: true, AllowHTTPCIMD: true, DisableCIMD: true},
	} {
		s := start(t, cfg)
		resp := authorize(t, s, authParams(s, testClient{id: id, redirect: testRedirect}, newPKCE()))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		var m map[string]any
		r, _ := http.Get(s.URLs().AuthServerMetadata)
		json.NewDecoder(r.Body).Decode(&m)
		r.Body.Close()
		if want := !cfg.DisableCIMD; m["client_id_metadata_document_supported"] != want {
			t.Errorf("%s: client_id_metadata_document_supported %v, want %v", name, m["client_id_metadata_document_supported"], want)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the document was fetched %d times although it should not be", hits.Load())
	}
}
