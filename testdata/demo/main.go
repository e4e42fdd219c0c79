// Command demo is `make demo`: the main job of mcpgen, end to end, with
// nothing installed. It builds mcpgen, scaffolds the shop sample app into a
// temporary folder, migrates it on SQLite, runs the generated tests, starts
// `mcpgen dev-server` (an
// MCP server behind an OAuth 2.1 authorization server) and the app, runs
// the browser connect flow, runs the example job through River in a worker
// process and prints the tool result, and shows that the stored token is
// encrypted.
//
// With -keep (make demo KEEP=1) both servers keep running so the flow can
// be tried by hand in a browser, until Ctrl-C.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mcpgen/mcpgen/generator/e2e"
)

func main() {
	keep := flag.Bool("keep", false, "keep the dev server and the app running for a try by hand")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*keep); err != nil {
		log.Fatalf("demo: %v", err)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mcpgen-demo-")
	if err != nil {
		return err
	}

	step("building mcpgen")
	mcpgen := filepath.Join(tmp, "mcpgen")
	if _, err := e2e.Go(ctx, repo, nil, "build", "-o", mcpgen, "./cmd/mcpgen"); err != nil {
		return err
	}

	step("mcpgen oauth install, in a copy of testdata/apps/shop at %s", filepath.Join(tmp, "shop"))
	s, err := e2e.NewScaffold(ctx, e2e.Options{
		Repo: repo, Dir: filepath.Join(tmp, "shop"), Database: "sqlite",
		Package: "internal/mcpoauth", Mcpgen: mcpgen, Log: os.Stdout,
	})
	if s != nil {
		fmt.Print(indent(s.Install))
	}
	if err != nil {
		return err
	}
	if err := s.SeedUsers("users", 1); err != nil {
		return err
	}

	step("the generated tests: go test ./internal/mcpoauth/... ./internal/models/...")
	out, err := e2e.Go(ctx, s.Dir, nil, "test", "-count=1", "./internal/mcpoauth/...", "./internal/models/...")
	fmt.Print(indent(out))
	if err != nil {
		return err
	}

	step("starting mcpgen dev-server")
	dev, err := e2e.Start("mcpgen dev-server", tmp, mcpgen, nil, "dev-server", "--addr", "127.0.0.1:0", "--access-token-ttl", "2m")
	if err != nil {
		return err
	}
	defer dev.Stop()
	mcpURL, err := dev.WaitOutput("mcp: ", 30*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("    MCP server %s, its authorization server %s\n", mcpURL, strings.TrimSuffix(mcpURL, "/mcp"))

	step("starting the shop (web process)")
	web, app, err := s.StartWeb(mcpURL, "SHOP_DEV_LOGIN=1")
	if err != nil {
		return err
	}
	defer web.Stop()
	fmt.Printf("    %s\n", app)

	step("user 1 connects in the browser: POST /mcp_connections/connect, consent, callback")
	b, err := e2e.NewBrowser(app, "/mcp_connections", "1")
	if err != nil {
		return err
	}
	consent, err := b.StartConnect("default")
	if err != nil {
		return err
	}
	fmt.Printf("    redirected to the authorization server's consent page: %s\n", strip(consent.URL))
	done, err := b.Consent(consent, "demo-user", "approve", true)
	if err != nil {
		return err
	}
	if done.Status != http.StatusOK {
		return fmt.Errorf("the flow ended at %d %s:\n%s", done.Status, done.URL, done.Body)
	}
	conn, err := b.Connection("default")
	if err != nil {
		return err
	}
	if !conn.Connected {
		return fmt.Errorf("not connected after the flow: %+v", conn)
	}
	fmt.Printf("    approved as demo-user, back at %s: connected, scope %q, token expires %s\n",
		done.URL.Path, conn.GrantedScope, conn.ExpiresAt.Format(time.TimeOnly))

	step("the token as stored (mcp_oauth_credentials.token_data)")
	if err := showStoredToken(s); err != nil {
		return err
	}

	step("the example job, through River in the worker process: shop-worker research -user 1 -tool whoami")
	out, err = e2e.Run(ctx, s.Dir, s.Worker, s.Env(mcpURL), "research", "-user", "1", "-tool", "whoami")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "result: ") {
			fmt.Printf("    %s\n", line)
		}
	}

	if !keep {
		step("done")
		fmt.Printf("    The scaffolded app is in %s.\n    To try the flow by hand in a browser: make demo KEEP=1\n", s.Dir)
		return nil
	}
	step("both servers keep running; try it by hand (Ctrl-C stops them)")
	fmt.Printf(`    1. Open %s/dev/login?user=1&return_to=/mcp_connections (signs you in as user 1)
    2. Disconnect, then Connect again: the consent page is the dev server's.
    3. See the tools at %s/mcp_connections/default/tools
    4. Run the job: cd %s && %s
`, app, app, s.Dir, strings.Join(append(envLine(s.Env(mcpURL)), "bin/shop-worker research -user 1 -tool whoami"), " "))
	<-ctx.Done()
	return nil
}

// showStoredToken prints the start of the ciphertext and checks that the
// column holds no token in clear.
func showStoredToken(s *e2e.Scaffold) error {
	db, err := sql.Open(s.Driver, s.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	var data string
	if err := db.QueryRow("SELECT token_data FROM mcp_oauth_credentials WHERE user_id = 1").Scan(&data); err != nil {
		return err
	}
	clear := strings.Contains(data, "access_token") || strings.Contains(data, "refresh_token") || strings.Contains(data, "{")
	fmt.Printf("    %.48s... (%d bytes: AES-256-GCM under MCP_OAUTH_ENCRYPTION_KEYS, bound to its row)\n", data, len(data))
	fmt.Printf("    token in clear in the column: %v\n", clear)
	if clear {
		return fmt.Errorf("the token is stored in clear")
	}
	return nil
}

// strip drops the query of u, which holds the flow's state and challenge.
func strip(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String() + "?..."
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// envLine quotes env for a shell command line.
func envLine(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out[i] = k + "='" + v + "'"
	}
	return out
}
