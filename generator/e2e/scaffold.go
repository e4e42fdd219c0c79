package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/cli"
)

// Options say what to scaffold and where.
type Options struct {
	Repo        string   // root of the mcpgen repository (for testdata)
	Dir         string   // an empty folder to scaffold into
	InstallArgs []string // arguments of `mcpgen oauth install`, after --dir
	Database    string   // sqlite, postgres or mysql
	DSN         string   // the database for postgres and mysql; SQLite uses a file in Dir
	Package     string   // the generated package, relative to the module: internal/mcpoauth
	Mcpgen      string   // an mcpgen binary to install with; "" runs the CLI in-process
	Log         io.Writer
}

// Scaffold is the shop sample app with mcpgen installed, the wiring of
// testdata/wiring added, both programs built and the database migrated.
type Scaffold struct {
	Dir      string
	Web      string // binary of cmd/shop
	Worker   string // binary of cmd/shop-worker
	Database string // sqlite, postgres or mysql
	Driver   string // database/sql driver name
	DSN      string
	Keys     string // MCP_OAUTH_ENCRYPTION_KEYS
	Install  string // what mcpgen printed
}

var driverNames = map[string]string{"sqlite": "sqlite", "postgres": "pgx", "mysql": "mysql"}

// NewScaffold copies testdata/apps/shop to o.Dir, installs mcpgen into it,
// adds the wiring a user writes, runs go mod tidy, builds both programs and
// migrates the database (goose, then River's tables).
func NewScaffold(ctx context.Context, o Options) (*Scaffold, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	driver, ok := driverNames[o.Database]
	if !ok {
		return nil, fmt.Errorf("e2e: unknown database %q", o.Database)
	}
	s := &Scaffold{Dir: o.Dir, Database: o.Database, Driver: driver}
	if err := os.CopyFS(o.Dir, os.DirFS(filepath.Join(o.Repo, "testdata", "apps", "shop"))); err != nil {
		return nil, fmt.Errorf("copy the sample app: %w", err)
	}

	args := append([]string{"oauth", "install", "--dir", o.Dir}, o.InstallArgs...)
	if o.Database != "sqlite" {
		args = append(args, "--database="+o.Database)
	}
	if o.Mcpgen != "" {
		out, err := Run(ctx, o.Dir, o.Mcpgen, nil, args...)
		if err != nil {
			return nil, fmt.Errorf("%w\n%s", err, out)
		}
		s.Install = out
	} else {
		var out, errOut bytes.Buffer
		if code := cli.Run(args, strings.NewReader(""), &out, &errOut); code != 0 {
			return nil, fmt.Errorf("mcpgen %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		s.Install = out.String()
	}

	if err := s.addWiring(o); err != nil {
		return nil, err
	}
	logf("==> go mod edit -replace (the runtime of this checkout), go mod tidy, go build ./cmd/shop ./cmd/shop-worker")
	if err := UseRuntimeCheckout(ctx, o.Dir, o.Repo); err != nil {
		return nil, err
	}
	if _, err := Go(ctx, o.Dir, nil, "mod", "tidy"); err != nil {
		return nil, err
	}
	bin := filepath.Join(o.Dir, "bin")
	s.Web, s.Worker = filepath.Join(bin, "shop"), filepath.Join(bin, "shop-worker")
	if _, err := Go(ctx, o.Dir, nil, "build", "-o", bin+"/", "./cmd/shop", "./cmd/shop-worker"); err != nil {
		return nil, err
	}

	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	s.Keys = base64.StdEncoding.EncodeToString(key[:])

	logf("==> migrating: shop migrate up (goose), shop-worker migrate (River)")
	dsn := o.DSN
	if o.Database == "sqlite" {
		dsn = filepath.Join(o.Dir, "shop.db")
	}
	return s.WithDatabase(ctx, dsn)
}

// WithDatabase returns a copy of s working on another database, migrated
// as NewScaffold migrates the first: dsn is a Postgres or MySQL connection
// string, or for SQLite the path of the database file to create. The
// programs, the folder and the encryption keys are shared, so that tests
// build once and still get a fresh database each.
func (s *Scaffold) WithDatabase(ctx context.Context, dsn string) (*Scaffold, error) {
	c := *s
	switch c.Database {
	case "sqlite":
		c.DSN = "file:" + dsn +
			"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	case "mysql":
		c.DSN = dsn
		if !strings.Contains(c.DSN, "parseTime") {
			sep := "?"
			if strings.Contains(c.DSN, "?") {
				sep = "&"
			}
			c.DSN += sep + "parseTime=true"
		}
	default:
		c.DSN = dsn
	}
	if out, err := Run(ctx, c.Dir, c.Web, c.Env(""), "migrate", "up"); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	if out, err := Run(ctx, c.Dir, c.Worker, c.Env(""), "migrate"); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return &c, nil
}

// addWiring copies testdata/wiring/shop into the scaffold: the worker
// program, its runner for the database, and the web process's driver.
func (s *Scaffold) addWiring(o Options) error {
	wiring := filepath.Join(o.Repo, "testdata", "wiring", "shop")
	files := map[string]string{
		"cmd/shop-worker/main.go":                      "cmd/shop-worker/main.go",
		"cmd/shop-worker/runner_" + o.Database + ".go": "cmd/shop-worker/runner.go",
		"cmd/shop-worker/river.go":                     "cmd/shop-worker/river.go",
		"drivers/" + o.Database + ".go":                "cmd/shop/driver.go",
	}
	if o.Database == "mysql" {
		delete(files, "cmd/shop-worker/river.go") // River does not run on MySQL
	}
	for from, to := range files {
		src, err := os.ReadFile(filepath.Join(wiring, from))
		if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(from, "drivers/") {
			continue // the app imports SQLite's driver itself
		}
		if err != nil {
			return err
		}
		out := strings.ReplaceAll(string(src), "example.com/shop/internal/mcpoauth", "example.com/shop/"+o.Package)
		dst := filepath.Join(o.Dir, filepath.FromSlash(to))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Env is the environment of both programs; mcpURL is the MCP server the
// app connects its users to ("" before one runs).
func (s *Scaffold) Env(mcpURL string, extra ...string) []string {
	env := []string{
		"DATABASE_DRIVER=" + s.Driver,
		"DATABASE_URL=" + s.DSN,
		"MCP_OAUTH_ENCRYPTION_KEYS=" + s.Keys,
		"MCP_OAUTH_SCOPES=mcp:read mcp:write",
		// No MCP_OAUTH_REFRESH_WINDOW: the dev server's tokens live seconds,
		// and the default window shrinks to a quarter of their lifetime.
	}
	if mcpURL != "" {
		env = append(env, "DEFAULT_MCP_SERVER_URL="+mcpURL)
	}
	return append(env, extra...)
}

// Open opens the scaffold's database, to seed and inspect it; the driver
// must be linked into the caller.
func (s *Scaffold) Open() (*sql.DB, error) { return sql.Open(s.Driver, s.DSN) }

// SeedUsers inserts rows 1..n into table (the app's users).
func (s *Scaffold) SeedUsers(table string, n int) error {
	db, err := s.Open()
	if err != nil {
		return err
	}
	defer db.Close()
	for id := 1; id <= n; id++ {
		if _, err := db.Exec(fmt.Sprintf("INSERT INTO %s (id) VALUES (%d)", table, id)); err != nil {
			return fmt.Errorf("seed %s %d: %w", table, id, err)
		}
	}
	return nil
}

// StartWeb runs the web process on a free loopback port and waits until it
// answers; base is its URL, and its MCP_OAUTH_BASE_URL. The extra
// variables come last, so they win: a second instance of the app behind
// the same public address gets the first one's MCP_OAUTH_BASE_URL, and so
// the same redirect URI.
func (s *Scaffold) StartWeb(mcpURL string, extra ...string) (p *Process, base string, err error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, "", err
	}
	base = "http://" + addr
	env := s.Env(mcpURL, append([]string{"ADDR=" + addr, "MCP_OAUTH_BASE_URL=" + base}, extra...)...)
	p, err = Start("shop web "+addr, s.Dir, s.Web, env)
	if err != nil {
		return nil, "", err
	}
	if err := p.WaitHTTP(base+"/healthz", 30*time.Second); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, base, nil
}

// UseRuntimeCheckout points the app in dir at the runtime module of the
// mcpgen checkout at repo, as a developer of mcpgen does with
// `go mod edit -replace`: the app then builds against this checkout's
// runtime, not a published version.
func UseRuntimeCheckout(ctx context.Context, dir, repo string) error {
	_, err := Go(ctx, dir, nil, "mod", "edit", "-replace",
		generator.RuntimeModule+"="+filepath.Join(repo, "mcpoauth"))
	return err
}
