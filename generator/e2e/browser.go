// Package e2e drives an app scaffolded by mcpgen the way its users and
// operators do: a browser going through the connect flow and the dev
// server's consent page, and the app's programs built, migrated and run.
// mcpgen's end-to-end tests and `make demo` use it.
package e2e

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Page is a response as a browser ends up with it.
type Page struct {
	Status int
	URL    *url.URL // where the redirects ended
	Header http.Header
	Body   string
}

// Browser is one signed-in user of the app: a cookie jar, redirects
// followed, and the sample app's way of saying who is signed in (the
// X-User-ID header) on requests to the app only.
type Browser struct {
	App    *url.URL
	Prefix string // the generated routes' prefix, "/mcp_connections"
	client *http.Client
}

// NewBrowser returns a browser signed in to the app at appBase as user
// ("" for anonymous).
func NewBrowser(appBase, prefix, user string) (*Browser, error) {
	u, err := url.Parse(appBase)
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	return &Browser{App: u, Prefix: prefix, client: &http.Client{
		Jar:       jar,
		Timeout:   30 * time.Second,
		Transport: signedIn{app: u.Host, user: user, next: http.DefaultTransport},
	}}, nil
}

type signedIn struct {
	app, user string
	next      http.RoundTripper
}

func (s signedIn) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == s.app && s.user != "" {
		r = r.Clone(r.Context())
		r.Header.Set("X-User-ID", s.user)
	}
	return s.next.RoundTrip(r)
}

// Do sends req, following redirects when follow is true.
func (b *Browser) Do(req *http.Request, follow bool) (*Page, error) {
	c := b.client
	if !follow {
		cp := *c
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c = &cp
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	return &Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}, nil
}

// Get fetches an app path as a browser.
func (b *Browser) Get(path string) (*Page, error) {
	req, err := http.NewRequest(http.MethodGet, b.App.JoinPath(path).String(), nil)
	if err != nil {
		return nil, err
	}
	return b.Do(req, true)
}

// Post submits a form to an app path, following the redirects.
func (b *Browser) Post(path string, form url.Values, follow bool) (*Page, error) {
	return b.postURL(b.App.JoinPath(path).String(), form, follow)
}

func (b *Browser) postURL(target string, form url.Values, follow bool) (*Page, error) {
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req, follow)
}

// GetJSON fetches an app path as an API client and decodes the answer.
func (b *Browser) GetJSON(path string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, b.App.JoinPath(path).String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	p, err := b.Do(req, true)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal([]byte(p.Body), v); err != nil {
		return p.Status, fmt.Errorf("GET %s: %d, not JSON: %v", path, p.Status, err)
	}
	return p.Status, nil
}

// Connection is one row of the connections list, as the JSON answer has it.
type Connection struct {
	Server         string     `json:"server"`
	Connected      bool       `json:"connected"`
	ReauthRequired bool       `json:"reauth_required"`
	GrantedScope   string     `json:"granted_scope"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

// Connection returns the user's connection to server.
func (b *Browser) Connection(server string) (Connection, error) {
	var list struct{ Connections []Connection }
	code, err := b.GetJSON(b.Prefix, &list)
	if err != nil {
		return Connection{}, err
	}
	if code != http.StatusOK {
		return Connection{}, fmt.Errorf("GET %s: %d", b.Prefix, code)
	}
	for _, c := range list.Connections {
		if c.Server == server {
			return c, nil
		}
	}
	return Connection{}, fmt.Errorf("GET %s lists no server %q: %+v", b.Prefix, server, list.Connections)
}

// StartConnect posts the connect form for server and follows the redirect
// to the authorization server's consent page.
func (b *Browser) StartConnect(server string) (*Page, error) {
	p, err := b.Post(b.Prefix+"/connect", url.Values{"server": {server}}, true)
	if err != nil {
		return nil, err
	}
	if p.Status != http.StatusOK {
		return p, fmt.Errorf("connect ended at %d %s", p.Status, p.URL)
	}
	return p, nil
}

// Connect runs the whole browser flow for server: connect, the dev
// server's consent page answered as asUser with decision ("approve" or
// "deny"), the callback, and back to the app.
func (b *Browser) Connect(server, asUser, decision string) (*Page, error) {
	p, err := b.StartConnect(server)
	if err != nil {
		return p, err
	}
	return b.Consent(p, asUser, decision, true)
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// Consent answers the dev server's consent page. With follow false it
// stops at the redirect to the app's callback, for tests that deliver it
// themselves.
func (b *Browser) Consent(page *Page, asUser, decision string, follow bool) (*Page, error) {
	form := url.Values{"user": {asUser}, "decision": {decision}}
	for _, m := range hiddenInput.FindAllStringSubmatch(page.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	action := formAction.FindStringSubmatch(page.Body)
	if action == nil || form.Get("request_id") == "" {
		return nil, fmt.Errorf("not a consent page (%d %s)", page.Status, page.URL)
	}
	target, err := page.URL.Parse(html.UnescapeString(action[1]))
	if err != nil {
		return nil, err
	}
	return b.postURL(target.String(), form, follow)
}

// Callback delivers the authorization server's redirect to the app's
// callback, location (the Location of Consent's answer when follow is
// false), to this browser's app: its path and query go to b.App, which
// may be another instance of the app than the one the flow started on.
// The redirects that follow are followed.
func (b *Browser) Callback(location string) (*Page, error) {
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("callback location: %w", err)
	}
	target := *b.App
	target.Path, target.RawPath, target.RawQuery = u.Path, u.RawPath, u.RawQuery
	req, err := http.NewRequest(http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, err
	}
	return b.Do(req, true)
}
