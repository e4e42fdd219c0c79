package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
)

// devServerFlags are the flags of mcpgen dev-server.
type devServerFlags struct {
	cfg          devserver.Config
	scopes       string
	faults       string
	clientID     string
	clientSecret string
	clientURIs   []string
	verbose      bool
}

func newDevServerCmd() *cobra.Command {
	f := &devServerFlags{}
	cmd := &cobra.Command{
		Use:   "dev-server",
		Short: "Run a local MCP server behind an OAuth 2.1 authorization server, for testing",
		Long: `dev-server runs, on one loopback port, an MCP server (streamable HTTP at /mcp,
SSE at /sse) protected by an OAuth 2.1 authorization server written for testing:
discovery (RFC 9728, RFC 8414), dynamic client registration, Client ID Metadata
Documents, PKCE with S256 only, refresh-token rotation with reuse detection,
revocation, and step-up challenges. It is strict on purpose, to catch client
bugs. State is in memory; nothing secret is logged.

Tools: echo, add, whoami and sleep (need mcp:read; sleep waits its ms argument,
at most 10s, for tests of slow tools); admin_stats (also needs mcp:admin,
so a token without it gets 403 error="insufficient_scope").

There are no passwords: the consent page asks which user to continue as
(prefilled from login_hint, else --default-user); --auto-approve skips it.

The first lines printed are "key: URL", one per line, for scripts and tests to
read, e.g. "mcp: http://127.0.0.1:8765/mcp". Then come the environment lines a
generated app needs. Test controls (no credentials, loopback only):
  GET  /_dev/stats         counters as JSON
  POST /_dev/stats/reset   zero the counters
  POST /_dev/expire        expire access tokens now (user=NAME, refresh=1)
  POST /_dev/revoke        revoke a user's tokens as the provider would (user=NAME or family=ID)`,
		Example: `  mcpgen dev-server
  mcpgen dev-server --auto-approve --access-token-ttl 30s
  mcpgen dev-server --access-token-ttl 3s --refresh-delay 2s   # catch clients mid-refresh
  mcpgen dev-server --access-token-ttl 5s --refresh-grace 30s --faults unavailable=0.1,rate_limited=0.1
  mcpgen dev-server --addr 127.0.0.1:0              # a free port: read the "mcp:" line
  mcpgen dev-server --issuer-path /oauth            # exercise path-insertion discovery
  mcpgen dev-server --no-s256                       # a correct client refuses this server
  mcpgen dev-server --no-dcr --allow-http-cimd      # Client ID Metadata Documents only
  mcpgen dev-server --client-id shop --client-secret s3cret \
      --client-redirect-uri http://localhost:8080/mcp_connections/default/callback
  curl -s http://127.0.0.1:8765/_dev/stats
  curl -s -X POST -d user=alice http://127.0.0.1:8765/_dev/expire`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return failed(runDevServer(cmd, f))
		},
	}
	fl := cmd.Flags()
	c := &f.cfg
	fl.StringVar(&c.Addr, "addr", "127.0.0.1:8765", "listen address; 127.0.0.1:0 picks a free port, an empty host means 127.0.0.1")
	fl.BoolVar(&c.AllowNonLoopback, "allow-non-loopback", false, "allow listening on a non-loopback address (the server has no real authentication)")
	fl.DurationVar(&c.AccessTokenTTL, "access-token-ttl", time.Hour, "access token lifetime")
	fl.DurationVar(&c.RefreshTokenTTL, "refresh-token-ttl", 24*time.Hour, "refresh token lifetime, restarted by each rotation")
	fl.DurationVar(&c.RefreshDelay, "refresh-delay", 0, "hold each refresh_token grant this long before answering (a client gone meanwhile rotates nothing), to test clients killed mid-refresh")
	fl.DurationVar(&c.RefreshGrace, "refresh-grace", 0, "honour a rotated refresh token once more within this long (as servers with a grace period do); 0: any replay revokes the family")
	fl.StringVar(&f.faults, "faults", "", "fail refresh grants at random, e.g. unavailable=0.05,rate_limited=0.05,timeout=0.02,slow=0.1,early_refusal=0.05,lose_answer=0.01,slow_delay=2s")
	fl.BoolVar(&c.AutoApprove, "auto-approve", false, "approve authorization requests without the consent page")
	fl.StringVar(&c.DefaultUser, "default-user", "alice", "user who consents when the request has no login_hint")
	fl.StringVar(&c.IssuerPath, "issuer-path", "", "put the issuer at a path, e.g. /oauth, to test path-insertion discovery")
	fl.StringVar(&f.scopes, "scopes", strings.Join(devserver.DefaultScopes, " "), "supported scopes, space or comma separated")
	fl.BoolVar(&c.HideS256, "no-s256", false, "do not advertise S256 in code_challenge_methods_supported (PKCE is still required)")
	fl.BoolVar(&c.DisableDCR, "no-dcr", false, "turn dynamic client registration off")
	fl.BoolVar(&c.DisableCIMD, "no-cimd", false, "turn Client ID Metadata Documents off")
	fl.BoolVar(&c.AllowHTTPCIMD, "allow-http-cimd", false, "accept http:// client_id metadata URLs on loopback hosts")
	fl.BoolVar(&c.RequireResource, "require-resource", false, "refuse authorization and token requests without the RFC 8707 resource parameter")
	fl.StringVar(&f.clientID, "client-id", "", "pre-register a client with this client_id")
	fl.StringVar(&f.clientSecret, "client-secret", "", "secret of the pre-registered client (empty: a public client)")
	fl.StringArrayVar(&f.clientURIs, "client-redirect-uri", nil, "redirect URI of the pre-registered client (repeatable)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log one line per request (method, path, status) to stderr; never tokens")
	return cmd
}

func runDevServer(cmd *cobra.Command, f *devServerFlags) error {
	cfg := f.cfg
	faults, err := devserver.ParseFaults(f.faults)
	if err != nil {
		return &generator.InputError{Problem: "--faults: " + err.Error(), Fix: "write kind=probability pairs, e.g. --faults unavailable=0.05,slow=0.1"}
	}
	cfg.Faults = faults
	cfg.Scopes = strings.FieldsFunc(f.scopes, func(r rune) bool { return r == ' ' || r == ',' })
	if len(cfg.Scopes) == 0 {
		return &generator.InputError{Problem: "--scopes is empty", Fix: `name at least one scope, e.g. --scopes "mcp:read mcp:write"`}
	}
	switch {
	case f.clientID != "":
		cfg.Clients = []devserver.ClientConfig{{ID: f.clientID, Secret: f.clientSecret, Name: f.clientID, RedirectURIs: f.clientURIs}}
	case f.clientSecret != "" || len(f.clientURIs) > 0:
		return &generator.InputError{Problem: "--client-secret and --client-redirect-uri need --client-id", Fix: "add --client-id NAME"}
	}
	if f.verbose {
		cfg.Log = cmd.ErrOrStderr()
	}
	s, err := devserver.New(cfg)
	if err != nil {
		return devServerInputError(err)
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(context.Background()); err != nil {
		return fmt.Errorf("%w (is another server on that port? choose one with --addr, or --addr 127.0.0.1:0 for a free one)", err)
	}
	out := cmd.OutOrStdout()
	printDevServer(out, s)
	select {
	case <-ctx.Done():
	case <-s.Done():
	}
	err = s.Close()
	fmt.Fprintln(out, "mcpgen dev-server: stopped")
	return err
}

// devServerInputError turns a configuration error into an InputError
// naming the flag to change.
func devServerInputError(err error) error {
	problem := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		problem = inner.Error()
	}
	fix := "see `mcpgen dev-server --help`"
	switch {
	case strings.Contains(problem, "not a loopback"):
		fix = "listen on 127.0.0.1 (the default), or pass --allow-non-loopback if you accept the risk"
	case strings.Contains(problem, "issuer path"):
		fix = "pass a plain path such as --issuer-path /oauth"
	case strings.Contains(problem, "pre-registered client"):
		fix = "give --client-redirect-uri an https URL, or http on 127.0.0.1, [::1] or localhost"
	}
	return &generator.InputError{Problem: problem, Fix: fix}
}

// printDevServer prints the server's URLs as "key: URL" lines, which
// scripts and tests parse, then the settings and the app's environment.
func printDevServer(w io.Writer, s *devserver.Server) {
	u, cfg := s.URLs(), s.Config()
	fmt.Fprintln(w, "mcpgen dev-server: an MCP server behind an OAuth 2.1 authorization server, for testing (in memory)")
	lines := []struct{ key, url string }{
		{"mcp", u.MCP},
		{"sse", u.SSE},
		{"issuer", u.Issuer},
		{"resource-metadata", u.ResourceMetadata},
		{"authorization-server-metadata", u.AuthServerMetadata},
		{"authorize", u.Authorize},
		{"token", u.Token},
		{"register", u.Register},
		{"revoke", u.Revoke},
		{"stats", u.Stats},
		{"expire", u.Expire},
		{"dev-revoke", u.DevRevoke},
	}
	for _, l := range lines {
		if l.url != "" {
			fmt.Fprintf(w, "%s: %s\n", l.key, l.url)
		}
	}
	approval := fmt.Sprintf("consent page, default user %q", cfg.DefaultUser)
	if cfg.AutoApprove {
		approval = fmt.Sprintf("auto-approve as %q (or the login_hint)", cfg.DefaultUser)
	}
	delay := ""
	if cfg.RefreshDelay > 0 {
		delay = fmt.Sprintf(", refreshes held %v", cfg.RefreshDelay)
	}
	fmt.Fprintf(w, "settings: access tokens %v, refresh tokens %v%s, %s, scopes %q\n",
		cfg.AccessTokenTTL, cfg.RefreshTokenTTL, delay, approval, strings.Join(cfg.Scopes, " "))

	fmt.Fprintln(w)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	fmt.Fprintln(w, "# Environment for a generated app, to paste into its shell (a fresh")
	fmt.Fprintln(w, "# development key; set the base URL to where the app listens):")
	fmt.Fprintf(w, "export DEFAULT_MCP_SERVER_URL=%s\n", u.MCP)
	fmt.Fprintf(w, "export MCP_OAUTH_SCOPES=%q\n", strings.Join(cfg.ChallengeScopes(), " "))
	fmt.Fprintf(w, "export MCP_OAUTH_ENCRYPTION_KEYS=%s\n", base64.StdEncoding.EncodeToString(key))
	fmt.Fprintln(w, "export MCP_OAUTH_BASE_URL=http://127.0.0.1:8080")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Serving until interrupted (Ctrl-C, SIGINT or SIGTERM).")
}
