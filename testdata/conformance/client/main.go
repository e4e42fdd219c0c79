// Command conformance-client is the client `make conformance` puts
// before the official MCP conformance suite. It is an app as mcpgen
// leaves one: the shop sample with `mcpgen oauth install`, its migrations
// applied to a fresh SQLite file, its connection pages served on a local
// port. For the scenario's MCP server (the last argument) it does what a
// signed-in user's browser and then a background job do: press Connect on
// the pages, follow the authorization server's redirect back to the
// callback, then act as the user with Clients.For: list the tools and
// call each. Where the server asks for more scope, the job's error says
// so, and the user connects again, as the list page offers.
//
// The suite sets MCP_CONFORMANCE_SCENARIO and, for some scenarios,
// MCP_CONFORMANCE_CONTEXT (a pre-registered client's id and secret).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"example.com/shop/internal/mcpoauth"
)

// userID is the one signed-in user of the run.
const userID = 1

func main() {
	migrations := flag.String("migrations", "db/migrations", "the app's goose migrations")
	flag.Parse()
	if flag.NArg() < 1 {
		log.Fatal("usage: conformance-client [-migrations dir] <mcp server url>")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := run(ctx, *migrations, flag.Arg(flag.NArg()-1)); err != nil {
		log.Fatalf("conformance-client (%s): %v", os.Getenv("MCP_CONFORMANCE_SCENARIO"), err)
	}
}

func run(ctx context.Context, migrations, server string) error {
	db, err := openDatabase(migrations)
	if err != nil {
		return err
	}
	defer db.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	if err := environment(server, base); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mcpoauth.Register(mux, db, signedIn)
	go func() { _ = http.Serve(ln, mux) }()

	clients, err := mcpoauth.ClientsFromEnv(db)
	if err != nil {
		return err
	}
	if err := connect(ctx, base+mcpoauth.RoutePrefix); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// The background side: a job acting as the user. When the server
	// refuses a call for want of scope, the runtime records the scope and
	// says whether connecting again can grant it (InsufficientScopeError.
	// StepUp); the user then connects again from the list page, which
	// asks for it. A server that refuses what was granted gets no second
	// round (the suite's retry-limit scenario).
	for {
		err := job(ctx, clients)
		var scope *mcpoauth.InsufficientScopeError
		if err == nil || !errors.As(err, &scope) || !scope.StepUp {
			if err != nil {
				return fmt.Errorf("job: %w", err)
			}
			return nil
		}
		log.Printf("job: %v; connecting again", err)
		if err := connect(ctx, base+mcpoauth.RoutePrefix); err != nil {
			return fmt.Errorf("connect again: %w", err)
		}
	}
}

// job lists the server's tools and calls each, as the user.
func job(ctx context.Context, clients *mcpoauth.Clients) error {
	session, err := clients.For(ctx, userID, nil)
	if err != nil {
		return err
	}
	defer session.Close()
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	for _, tool := range tools.Tools {
		if _, err := session.CallTool(ctx, &mcp.CallToolParams{Name: tool.Name, Arguments: map[string]any{}}); err != nil {
			return fmt.Errorf("calling %s: %w", tool.Name, err)
		}
	}
	return nil
}

// signedIn is the app's current-user function: everyone is user 1.
func signedIn(*http.Request) (int64, bool) { return userID, true }

// connect does what the user's browser does on the connection pages:
// press Connect, follow the authorization server's redirects (the
// suite's authorization endpoint answers at once, without a consent
// page) to the callback, and land on the list.
func connect(ctx context.Context, pages string) error {
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pages+"/connect", strings.NewReader(url.Values{"server": {"default"}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for hops := 0; hops < 10; hops++ {
		resp, err := noRedirects.Do(req)
		if err != nil {
			return err
		}
		body := make([]byte, 512)
		n, _ := resp.Body.Read(body)
		_ = resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, body[:n])
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			return err
		}
		if next.Path == mcpoauth.RoutePrefix && strings.HasPrefix(pages, next.Scheme+"://"+next.Host) {
			if e := next.Query().Get("error"); e != "" {
				return fmt.Errorf("the pages report %s", e)
			}
			return nil // back on the list: connected
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
			return err
		}
	}
	return errors.New("too many redirects")
}

// environment configures the app as its operator would: the scenario's
// server as the default one, a fresh key, this run's address, and the
// scenario's pre-registered client when it gives one.
func environment(server, base string) error {
	key := make([]byte, mcpoauth.KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	env := map[string]string{
		"MCP_OAUTH_ENCRYPTION_KEYS": base64.StdEncoding.EncodeToString(key),
		"DEFAULT_MCP_SERVER_URL":    server,
		"MCP_OAUTH_BASE_URL":        base,
		// The app publishes a Client ID Metadata Document, at the address
		// the suite's authorization servers expect; the handler serves
		// it, and servers without CIMD support get a registration.
		"MCP_OAUTH_CLIENT_METADATA_URL": "https://conformance-test.local/client-metadata.json",
	}
	if raw := os.Getenv("MCP_CONFORMANCE_CONTEXT"); raw != "" {
		var c struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
		if c.ClientID != "" {
			env["MCP_OAUTH_CLIENT_ID"] = c.ClientID
			env["MCP_OAUTH_CLIENT_SECRET"] = c.ClientSecret
		}
	}
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// openDatabase migrates a fresh SQLite file with the app's migrations and
// adds the signed-in user.
func openDatabase(migrations string) (*sql.DB, error) {
	dir, err := os.MkdirTemp("", "conformance-client-")
	if err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "app.db") + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	goose.SetLogger(goose.NopLogger())
	if err := goose.SetDialect("sqlite3"); err != nil {
		return nil, err
	}
	if err := goose.Up(db, migrations); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if _, err := db.Exec(`INSERT INTO users (id, email) VALUES (?, ?)`, userID, "user@example.com"); err != nil {
		return nil, err
	}
	return db, nil
}
