package devserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// StartTest starts a Server with cfg on a free loopback port and closes
// it when the test ends: an authorization server and MCP server for a
// test, in one call. Consent is automatic (cfg.AutoApprove is set), so a
// test can approve an authorization URL with Approve.
func StartTest(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	cfg.AutoApprove = true
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("devserver: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("devserver: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Approve does what a browser does with an authorization URL when its user
// consents on a server started with AutoApprove: it requests authURL,
// with login_hint user when user is not empty, and returns the query of
// the redirect the server answers with, which the app's callback takes.
// An error answer of the authorization server comes back as that query
// too (error=...), as a browser would deliver it.
func Approve(ctx context.Context, authURL, user string) (url.Values, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("devserver: approve: %w", err)
	}
	if user != "" {
		q := u.Query()
		q.Set("login_hint", user)
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("devserver: approve: %w", err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devserver: approve: %w", err)
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		return nil, fmt.Errorf("devserver: approve: the authorization endpoint answered %d without a redirect", resp.StatusCode)
	}
	to, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("devserver: approve: redirect: %w", err)
	}
	if to.RawQuery == "" {
		return nil, errors.New("devserver: approve: the redirect carries no query")
	}
	return to.Query(), nil
}

// Connect does in a test what a signed-in user's browser does to connect
// the MCP server with key server through an app's connection pages at
// pagesURL (the app's address and route prefix): it posts connect, consents
// as user at this package's server (started with AutoApprove, as StartTest
// does), and follows the redirect to the app's callback. signIn makes a
// request the app's signed-in user's (a session cookie, a header). It
// returns an error unless each step answers as the pages do: a redirect to
// the authorization server, then one back to the list.
func Connect(ctx context.Context, pagesURL, server, user string, signIn func(*http.Request)) error {
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, target string, form url.Values) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		signIn(req)
		resp, err := noRedirects.Do(req)
		if err != nil {
			return nil, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			return nil, fmt.Errorf("devserver: %s %s: %s, want a redirect", method, target, resp.Status)
		}
		return resp, nil
	}
	resp, err := send(http.MethodPost, pagesURL+"/connect", url.Values{"server": {server}})
	if err != nil {
		return err
	}
	callback, err := Approve(ctx, resp.Header.Get("Location"), user)
	if err != nil {
		return err
	}
	if e := callback.Get("error"); e != "" {
		return fmt.Errorf("devserver: the authorization server answered %s: %s", e, callback.Get("error_description"))
	}
	_, err = send(http.MethodGet, pagesURL+"/"+url.PathEscape(server)+"/callback?"+callback.Encode(), nil)
	return err
}
