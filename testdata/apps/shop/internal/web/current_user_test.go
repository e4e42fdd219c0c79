package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// The dev sign-in sends the browser back to a path of this site only.
func TestDevLoginStaysOnSite(t *testing.T) {
	for returnTo, want := range map[string]string{
		"/mcp_connections":      "/mcp_connections",
		"/mcp_connections?x=1":  "/mcp_connections?x=1",
		"//evil.example":        "/",
		`/\evil.example`:        "/",
		"/\t/evil.example":      "/",
		"https://evil.example/": "/",
		"":                      "/",
	} {
		rec := httptest.NewRecorder()
		devLogin(rec, httptest.NewRequest(http.MethodGet, "/dev/login?user=1&return_to="+url.QueryEscape(returnTo), nil))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("return_to %q: %d to %q, want a redirect to %q", returnTo, rec.Code, rec.Header().Get("Location"), want)
		}
	}
}
