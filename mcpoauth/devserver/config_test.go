package devserver

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestConfig(t *testing.T) {
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "0.0.0.0:8765"}, "not a loopback"},
		{Config{Addr: "192.0.2.1:8765"}, "not a loopback"},
		{Config{Addr: "example.com:8765"}, "not a loopback"},
		{Config{Addr: "0.0.0.0:8765", AllowNonLoopback: true}, "concrete address"},
		{Config{Addr: "8765"}, "host:port"},
		{Config{IssuerPath: "/mcp"}, "collides"},
		{Config{IssuerPath: "/.well-known/x"}, "plain path"},
		{Config{IssuerPath: "/_dev/x"}, "collides"},
		{Config{IssuerPath: "/a b"}, "plain path"},
		{Config{IssuerPath: "/a/../b"}, "plain path"},
		{Config{IssuerPath: "/a?x=1"}, "plain path"},
		{Config{AccessTokenTTL: -time.Second}, "negative"},
		{Config{RefreshDelay: -time.Second}, "refresh delay -1s is negative"},
		{Config{DefaultUser: "a b"}, "default user"},
		{Config{Scopes: []string{"mcp:read", `bad"scope`}}, "scope"},
		{Config{Clients: []ClientConfig{{ID: "x"}}}, "no redirect URI"},
		{Config{Clients: []ClientConfig{{ID: "x", RedirectURIs: []string{"http://app.example/cb"}}}}, "not loopback"},
		{Config{Clients: []ClientConfig{{ID: "x", RedirectURIs: []string{testRedirect}}, {ID: "x", RedirectURIs: []string{testRedirect}}}}, "repeated"},
	}
	for _, tc := range bad {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}

	s, err := New(Config{Addr: ":0", IssuerPath: "oauth/", Scopes: []string{"mcp:read", "mcp:read", "files:read"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if cfg.Addr != "127.0.0.1:0" || cfg.IssuerPath != "/oauth" || cfg.AccessTokenTTL != time.Hour || cfg.DefaultUser != "alice" ||
		strings.Join(cfg.Scopes, " ") != "mcp:read files:read" || strings.Join(cfg.ChallengeScopes(), " ") != "mcp:read files:read" {
		t.Errorf("defaults %+v", cfg)
	}
	if _, err := New(Config{Addr: "[::1]:0"}); err != nil {
		t.Errorf("::1: %v", err)
	}
	if _, err := New(Config{Addr: "localhost:0"}); err != nil {
		t.Errorf("localhost: %v", err)
	}
}

func TestStartAndClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(Config{AutoApprove: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	host, _, _ := net.SplitHostPort(strings.TrimPrefix(s.URLs().Base, "http://"))
	if host != "127.0.0.1" || s.URLs().MCP != s.URLs().Base+"/mcp" {
		t.Errorf("URLs %+v", s.URLs())
	}

	// A port in use is an error.
	busy, err := New(Config{Addr: strings.TrimPrefix(s.URLs().Base, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	if err := busy.Start(context.Background()); err == nil {
		busy.Close()
		t.Error("started twice on one port")
	}

	// Cancelling the context stops the server, open streams included.
	a := mustToken(t, s, publicClient(t, s), nil)
	client := mcp.NewClient(&mcp.Implementation{Name: "stream", Version: "1"}, nil)
	cs, err := client.Connect(ctxT(t), &mcp.StreamableClientTransport{
		Endpoint: s.URLs().MCP, HTTPClient: &http.Client{Transport: &bearer{token: a.AccessToken}}, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	stream, err := http.NewRequest(http.MethodGet, s.URLs().SSE, nil)
	if err != nil {
		t.Fatal(err)
	}
	stream.Header.Set("Authorization", "Bearer "+a.AccessToken)
	resp, err := http.DefaultClient.Do(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	cancel()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop when its context was cancelled")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopping with open streams took %v", d)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after stop: %v", err)
	}
}
