// Command conformance is `make conformance`: the official MCP conformance
// suite's client authorization scenarios run against an app as mcpgen
// leaves one. It installs the suite with npm (pinned below, with the Node
// 22 it needs) into the user's cache folder, scaffolds the shop sample app
// with `mcpgen oauth install` into a temporary folder, adds the client
// program (client/, a command of the app using its generated package),
// builds it, and runs every client auth scenario of the 2025-11-25,
// 2025-03-26 and draft specifications (not the extensions) against it. It
// prints one line per scenario and fails when any check failed or warned,
// or the client did not finish.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mcpgen/mcpgen/generator/cli"
	"github.com/mcpgen/mcpgen/generator/e2e"
)

// The suite and the Node.js it runs on, pinned: a new suite version is a
// change of this file, seen in review.
const (
	suitePackage = "@modelcontextprotocol/conformance"
	suiteVersion = "0.1.16"
	nodeVersion  = "22.23.3"
)

// specs are the specification versions whose client scenarios run.
var specs = []string{"2025-11-25", "2025-03-26", "draft"}

func main() {
	only := flag.String("scenario", "", "run only the scenarios whose names contain this")
	keep := flag.Bool("keep", false, "keep the scaffolded app and the suite's results")
	flag.Parse()
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := conformance(ctx, *only, *keep); err != nil {
		log.Fatalf("conformance: %v", err)
	}
}

func conformance(ctx context.Context, only string, keep bool) error {
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	suite, err := installSuite(ctx)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "mcpgen-conformance-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("keeping %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	client, migrations, err := buildClient(ctx, repo, work)
	if err != nil {
		return err
	}
	scenarios, err := listScenarios(ctx, suite)
	if err != nil {
		return err
	}
	var failed []string
	ran, passed := 0, 0
	began := time.Now()
	for _, s := range scenarios {
		if !strings.Contains(s, only) {
			continue
		}
		ran++
		res, err := runScenario(ctx, suite, client, migrations, s, filepath.Join(work, "results"))
		if err != nil {
			return err
		}
		fmt.Println(res.line())
		passed += res.count("SUCCESS")
		if !res.ok() {
			failed = append(failed, s)
			fmt.Print(res.detail())
		}
	}
	if ran == 0 {
		return fmt.Errorf("no scenario matches %q", only)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d scenarios failed: %s", len(failed), ran, strings.Join(failed, ", "))
	}
	fmt.Printf("conformance: all %d scenarios passed, %d checks, in %v (%s %s)\n",
		ran, passed, time.Since(began).Round(100*time.Millisecond), suitePackage, suiteVersion)
	return nil
}

// suite is an installed copy of the conformance suite.
type suite struct {
	dir  string // its npm folder
	node string // the node binary it runs on
}

// installSuite installs the pinned suite and Node.js with npm into the
// cache folder, once; later runs reuse it.
func installSuite(ctx context.Context) (*suite, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "mcpgen", "conformance-"+suiteVersion+"-node"+nodeVersion)
	s := &suite{dir: dir, node: filepath.Join(dir, "node_modules", "node", "bin", "node")}
	if _, err := os.Stat(s.entry()); err == nil {
		if _, err := os.Stat(s.node); err == nil {
			return s, nil
		}
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return nil, fmt.Errorf("npm is needed to install %s: install Node.js and npm", suitePackage)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pkg := fmt.Sprintf(`{"name": "mcpgen-conformance", "private": true, "dependencies": {%q: %q, "node": %q}}`+"\n",
		suitePackage, suiteVersion, nodeVersion)
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
		return nil, err
	}
	fmt.Printf("==> npm install %s@%s node@%s into %s\n", suitePackage, suiteVersion, nodeVersion, dir)
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--foreground-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("npm install: %w\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, s.node, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "v22.") {
		return nil, fmt.Errorf("the node package did not install Node.js 22 (%q, %v)", bytes.TrimSpace(out), err)
	}
	return s, nil
}

// entry is the suite's command-line program.
func (s *suite) entry() string {
	return filepath.Join(s.dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
}

// command runs the suite's CLI with args.
func (s *suite) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.node, append([]string{s.entry()}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0")
	return cmd
}

// buildClient scaffolds the shop app in work, adds the client program as
// its cmd/conformance-client and builds it. It returns the binary and the
// app's migrations folder.
func buildClient(ctx context.Context, repo, work string) (bin, migrations string, err error) {
	app := filepath.Join(work, "shop")
	fmt.Printf("==> mcpgen oauth install in a copy of testdata/apps/shop at %s\n", app)
	if err := os.CopyFS(app, os.DirFS(filepath.Join(repo, "testdata", "apps", "shop"))); err != nil {
		return "", "", fmt.Errorf("copy the sample app: %w", err)
	}
	args := []string{"oauth", "install", "--dir", app, "-q"}
	var stdout, stderr bytes.Buffer
	if code := cli.Run(args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		return "", "", fmt.Errorf("mcpgen %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	if err := os.CopyFS(filepath.Join(app, "cmd", "conformance-client"), os.DirFS(filepath.Join(repo, "testdata", "conformance", "client"))); err != nil {
		return "", "", fmt.Errorf("copy the client: %w", err)
	}
	if err := e2e.UseRuntimeCheckout(ctx, app, repo); err != nil {
		return "", "", err
	}
	if _, err := e2e.Go(ctx, app, nil, "mod", "tidy"); err != nil {
		return "", "", err
	}
	bin = filepath.Join(work, "conformance-client")
	if _, err := e2e.Go(ctx, app, nil, "build", "-o", bin, "./cmd/conformance-client"); err != nil {
		return "", "", err
	}
	return bin, filepath.Join(app, "db", "migrations"), nil
}

// listScenarios returns the suite's client auth scenarios of specs, from
// its own list, so a suite upgrade brings its new scenarios in.
func listScenarios(ctx context.Context, s *suite) ([]string, error) {
	out, err := s.command(ctx, "list").Output()
	if err != nil {
		return nil, fmt.Errorf("conformance list: %w", err)
	}
	var names []string
	client := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, ":") {
			client = strings.HasPrefix(line, "Client scenarios")
			continue
		}
		name, versions, ok := strings.Cut(strings.TrimPrefix(line, "- "), " [")
		if !client || !ok || !strings.HasPrefix(name, "auth/") {
			continue
		}
		for _, v := range strings.Split(strings.TrimSuffix(versions, "]"), ",") {
			if slices.Contains(specs, v) {
				names = append(names, name)
				break
			}
		}
	}
	if len(names) < 15 {
		return nil, fmt.Errorf("conformance list gave %d client auth scenarios, want at least 15:\n%s", len(names), out)
	}
	return names, nil
}

// check is one check of the suite's checks.json.
type check struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Description string `json:"description"`
}

// result is one scenario's outcome.
type result struct {
	scenario string
	checks   []check
	exit     error
	output   string
	took     time.Duration
}

func (r *result) count(status string) int {
	n := 0
	for _, c := range r.checks {
		if c.Status == status {
			n++
		}
	}
	return n
}

func (r *result) ok() bool {
	return r.exit == nil && len(r.checks) > 0 && r.count("FAILURE") == 0 && r.count("WARNING") == 0
}

func (r *result) line() string {
	verdict := "ok  "
	if !r.ok() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s %-44s %3d passed, %d failed, %d warnings (%v)", verdict, r.scenario,
		r.count("SUCCESS"), r.count("FAILURE"), r.count("WARNING"), r.took.Round(10*time.Millisecond))
}

func (r *result) detail() string {
	var b strings.Builder
	for _, c := range r.checks {
		if c.Status == "FAILURE" || c.Status == "WARNING" {
			fmt.Fprintf(&b, "     %s %s: %s\n", c.Status, c.ID, c.Description)
		}
	}
	if r.exit != nil || b.Len() == 0 {
		fmt.Fprintf(&b, "     the suite: %v\n%s\n", r.exit, indent(r.output))
	}
	return b.String()
}

// runScenario runs one scenario against the client and reads its checks.
func runScenario(ctx context.Context, s *suite, client, migrations, scenario, results string) (*result, error) {
	out := filepath.Join(results, strings.ReplaceAll(scenario, "/", "_"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	began := time.Now()
	cmd := s.command(ctx, "client", "--command", client+" -migrations "+migrations, "--scenario", scenario, "--output-dir", out)
	combined, err := cmd.CombinedOutput()
	r := &result{scenario: scenario, exit: err, output: ansi.ReplaceAllString(string(combined), ""), took: time.Since(began)}
	var files []string
	_ = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "checks.json" {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 1 {
		return r, nil // no checks: reported as a failure with the suite's output
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &r.checks); err != nil {
		return nil, fmt.Errorf("%s: %w", files[0], err)
	}
	return r, nil
}

// ansi matches the colour sequences the suite prints whatever NO_COLOR says.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "       " + l
	}
	return strings.Join(lines, "\n")
}
