// Command bench is `make bench`: the scale benchmarks of BENCHMARKS.md,
// of the code mcpgen oauth install writes, on each database given. For
// SQLite, and for PostgreSQL and MySQL when MCPGEN_TEST_POSTGRES_URL and
// MCPGEN_TEST_MYSQL_DSN are set (each gets a fresh database, dropped
// afterwards), it scaffolds the shop sample app into a temporary folder
// with `mcpgen oauth install`, copies the benchmarks (app/, files of the
// generated package kept in this repository) into the generated package,
// runs go mod tidy, and runs go test -bench there: the hot path and client
// setup for a while, the multi-process refresh for 20 rounds, the cleanup
// of 1,100,000 states once. It prints the machine first and the go test
// output as it comes; -out keeps the benchmark lines for benchstat.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mcpgen/mcpgen/generator/cli"
	"github.com/mcpgen/mcpgen/generator/e2e"
)

// pkg is the generated package the benchmarks are in.
const pkg = "./internal/mcpoauth/"

// run is one go test -bench invocation.
type run struct {
	bench, benchtime string
	count            int
}

func main() {
	only := flag.String("databases", "", "comma-separated subset of sqlite,postgres,mysql (default: SQLite and every database configured)")
	quick := flag.Bool("quick", false, "a smoke run: 110,000 states, short bench times")
	out := flag.String("out", "", "also write the benchmark result lines to this file (benchstat input)")
	keep := flag.Bool("keep", false, "keep the scaffolded apps")
	flag.Parse()
	log.SetFlags(0)
	if err := bench(*only, *quick, *out, *keep); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

func bench(only string, quick bool, outPath string, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	runs := []run{
		{"JobHotPath|ClientSetup", "2s", 3},
		{"RefreshContention", "20x", 1},
		{"CleanupExpiredStates", "1x", 1},
	}
	states := ""
	if quick {
		runs = []run{{"JobHotPath|ClientSetup", "200ms", 1}, {"RefreshContention", "3x", 1}, {"CleanupExpiredStates", "1x", 1}}
		states = "100000,10000"
	}

	var results io.Writer = io.Discard
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		results = f
	}

	dbs := []string{"sqlite", "postgres", "mysql"}
	if only != "" {
		dbs = strings.Split(only, ",")
	}
	machine(ctx, dbs)
	for _, d := range dbs {
		dsn, drop, err := freshDatabase(d)
		if err != nil {
			return err
		}
		if d != "sqlite" && dsn == "" {
			fmt.Printf("\n==> %s: skipped (set %s)\n", d, envOf[d])
			continue
		}
		err = benchDatabase(ctx, repo, d, dsn, states, runs, results, keep)
		drop()
		if err != nil {
			return err
		}
	}
	return nil
}

// envOf names the variables that give the databases.
var envOf = map[string]string{"postgres": "MCPGEN_TEST_POSTGRES_URL", "mysql": "MCPGEN_TEST_MYSQL_DSN"}

// benchDatabase scaffolds the app for database d and runs the benchmarks
// in it, with the generated tests pointed at dsn.
func benchDatabase(ctx context.Context, repo, d, dsn, states string, runs []run, results io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "mcpgen-bench-"+d+"-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	app := filepath.Join(dir, "shop")
	fmt.Printf("\n==> %s: mcpgen oauth install in a copy of testdata/apps/shop at %s\n", d, app)
	if err := os.CopyFS(app, os.DirFS(filepath.Join(repo, "testdata", "apps", "shop"))); err != nil {
		return fmt.Errorf("copy the sample app: %w", err)
	}
	args := []string{"oauth", "install", "--dir", app, "-q"}
	if d != "sqlite" {
		args = append(args, "--database="+d)
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Run(args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		return fmt.Errorf("mcpgen %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	// The benchmarks are this repository's, not the generator's: they go
	// into the generated package here, before go mod tidy sees their imports.
	if err := os.CopyFS(filepath.Join(app, filepath.FromSlash(pkg)), os.DirFS(filepath.Join(repo, "testdata", "bench", "app"))); err != nil {
		return fmt.Errorf("copy the benchmarks: %w", err)
	}
	if err := e2e.UseRuntimeCheckout(ctx, app, repo); err != nil {
		return err
	}
	if _, err := e2e.Go(ctx, app, nil, "mod", "tidy"); err != nil {
		return err
	}

	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod"}
	if dsn != "" {
		env = append(env, "MCP_OAUTH_TEST_DATABASE_URL="+dsn)
	}
	if states != "" {
		env = append(env, "MCP_OAUTH_BENCH_STATES="+states)
	}
	for _, r := range runs {
		args := []string{"test", "-run", "^$", "-bench", r.bench, "-benchtime", r.benchtime,
			"-count", fmt.Sprint(r.count), "-timeout", "60m", pkg}
		fmt.Printf("\n==> %s: go %s\n", d, shellWords(args))
		if err := goTest(ctx, app, env, args, results); err != nil {
			return err
		}
	}
	return nil
}

// shellWords joins args for a shell, quoting those that need it.
func shellWords(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, "|^$*? ") {
			out[i] = "'" + a + "'"
		}
	}
	return strings.Join(out, " ")
}

// goTest runs the go tool in dir, printing its output as it comes and
// copying the benchmark result lines to results. A run without a result
// fails: it measured nothing.
func goTest(ctx context.Context, dir string, env, args []string, results io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	measured := false
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		measured = measured || strings.Contains(line, " ns/op")
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "goos:") ||
			strings.HasPrefix(line, "goarch:") || strings.HasPrefix(line, "pkg:") || strings.HasPrefix(line, "cpu:") {
			fmt.Fprintln(results, line)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	if !measured { // no benchmark matched, or every one skipped
		return fmt.Errorf("go %s: passed without a benchmark result", shellWords(args))
	}
	return nil
}

// freshDatabase creates a database for d on the server its variable names
// and returns its DSN and a function dropping it; "" when the variable is
// unset, and for SQLite, whose tests make files of their own.
func freshDatabase(d string) (dsn string, drop func(), err error) {
	drop = func() {}
	base := os.Getenv(envOf[d])
	if d == "sqlite" || base == "" {
		return "", drop, nil
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "mcpgen_bench_" + hex.EncodeToString(rnd[:])
	driver, dropSQL := "pgx", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"
	if d == "mysql" {
		driver, dropSQL = "mysql", "DROP DATABASE IF EXISTS "+name
	}
	admin, err := sql.Open(driver, base)
	if err != nil {
		return "", drop, fmt.Errorf("%s: %w", envOf[d], err)
	}
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", drop, fmt.Errorf("%s: create database: %w", envOf[d], err)
	}
	drop = func() {
		if _, err := admin.Exec(dropSQL); err != nil {
			log.Printf("bench: %s: %v", dropSQL, err)
		}
		admin.Close()
	}
	if d == "postgres" {
		u, err := url.Parse(base)
		if err != nil {
			drop()
			return "", func() {}, fmt.Errorf("%s: %w", envOf[d], err)
		}
		u.Path = "/" + name
		return u.String(), drop, nil
	}
	// user:pass@tcp(host)/db?params: swap the database name.
	slash := strings.LastIndex(base, "/")
	if slash < 0 {
		drop()
		return "", func() {}, fmt.Errorf("%s=%q has no /database", envOf[d], base)
	}
	rest := ""
	if q := strings.IndexByte(base[slash:], '?'); q >= 0 {
		rest = base[slash+q:]
	}
	return base[:slash+1] + name + rest, drop, nil
}

// machine prints what BENCHMARKS.md records of the machine.
func machine(ctx context.Context, dbs []string) {
	fmt.Printf("==> machine\n    date     %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("    cpus     %d (%s/%s)\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("    cpu      %s\n", procField("/proc/cpuinfo", "model name"))
	fmt.Printf("    memory   %s\n", procField("/proc/meminfo", "MemTotal"))
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		fmt.Printf("    go       %s\n", strings.TrimSpace(string(out)))
	}
	for _, d := range dbs {
		driver, dsn, q := "sqlite", ":memory:", "SELECT 'SQLite ' || sqlite_version() || ' (modernc.org/sqlite)'"
		if d != "sqlite" {
			driver, dsn, q = map[string]string{"postgres": "pgx", "mysql": "mysql"}[d], os.Getenv(envOf[d]), "SELECT version()"
		}
		if dsn == "" {
			continue
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			continue
		}
		var v string
		if err := db.QueryRowContext(ctx, q).Scan(&v); err == nil {
			fmt.Printf("    %-8s %s\n", d, v)
		}
		db.Close()
	}
}

// procField returns the value of the first line of a /proc file starting
// with key, or "unknown".
func procField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
