package cli_test

import (
	"bytes"
	"context"
	"flag"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/tools/imports"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/e2e"
)

var update = flag.Bool("update", false, "rewrite golden/ from the generator's output (make golden)")

// goldenCase is one install whose output is kept under golden/<name>.
type goldenCase struct {
	name    string
	app     string // sample app under testdata/apps
	dialect generator.Dialect
	args    []string
}

var goldenCases = []goldenCase{
	{"default", "shop", generator.SQLite, nil},
	{"account-postgres", "shop", generator.Postgres, []string{"Account", "--database=postgres"}},
	{"account-admin-postgres", "shop", generator.Postgres, []string{"Account", "--namespace=Admin", "--database=postgres"}},
	{"admin-mysql", "shop", generator.MySQL, []string{"User", "--namespace=Admin", "--database=mysql"}},
	{"handler-name", "shop", generator.SQLite, []string{"--handler-name=ToolConnectionsHandler"}},
	{"controller-name", "shop", generator.SQLite, []string{"--controller-name=OAuthConnectionsController"}},
	{"skip-routes", "shop", generator.SQLite, []string{"--skip-routes"}},
	{"skip-views", "shop", generator.SQLite, []string{"--skip-views"}},
	{"member-string-id", "shop", generator.SQLite, []string{"Member"}},
	{"team-member-nested", "shop", generator.MySQL, []string{"team_member", "--namespace=Admin/Tools", "--database=mysql"}},
	{"person-uuid-sequential", "crm", generator.Postgres, []string{"Person"}},
}

// TestGolden scaffolds each case into a copy of its sample app, compares
// what changed with golden/<case>, and then builds, vets and tests the
// generated app, so the golden files are known to work, not only to match.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := copyApp(t, tc.app)
			before := tree(t, dir)
			out := install(t, dir, tc.args...)
			out = strings.ReplaceAll(out, dir, "$APP")
			got := changedFiles(before, tree(t, dir))
			got["stdout.txt"] = []byte(out)
			goldenDir := filepath.Join(repo(t), "golden", tc.name)
			if *update {
				writeGolden(t, goldenDir, got)
			}
			want := goldenTree(t, goldenDir)
			sameTree(t, want, got)
			checkGeneratedFiles(t, before, got)

			if testing.Short() {
				t.Skip("-short: not building the generated app")
			}
			var env []string
			dsn := testDatabase(t, tc.dialect)
			if dsn != "" {
				env = append(env, "MCP_OAUTH_TEST_DATABASE_URL="+dsn)
			}
			if err := e2e.UseRuntimeCheckout(context.Background(), dir, repo(t)); err != nil {
				t.Fatal(err)
			}
			goCmd(t, dir, nil, "mod", "tidy")
			goCmd(t, dir, nil, "build", "./...")
			// The app imports the runtime, never the generator's own tools.
			deps := goCmd(t, dir, nil, "list", "-deps", "-test", "./...")
			if !strings.Contains(deps, generator.RuntimeModule+"\n") {
				t.Errorf("go list -deps: the app does not import the runtime %s", generator.RuntimeModule)
			}
			for _, tool := range []string{"github.com/spf13/cobra", "github.com/dave/jennifer", "github.com/Masterminds/sprig"} {
				if strings.Contains(deps, tool) {
					t.Errorf("go list -deps: the app depends on %s, a tool of the generator", tool)
				}
			}
			goCmd(t, dir, nil, "vet", "./...")
			res := goCmd(t, dir, env, "test", "-count=1", "-v", "./...")
			if !strings.Contains(res, "--- PASS") {
				t.Fatalf("the generated app ran no test:\n%s", res)
			}
			// With a database given, nothing may skip: a skip would hide a
			// dialect the golden files claim works.
			if (dsn != "" || tc.dialect == generator.SQLite) && strings.Contains(res, "--- SKIP") {
				t.Fatalf("generated tests skipped with a database available:\n%s", res)
			}
			t.Logf("go test in the generated app: %d passed, %d skipped",
				strings.Count(res, "--- PASS"), strings.Count(res, "--- SKIP"))
		})
	}
}

// checkGeneratedFiles checks what every file mcpgen creates must be: a
// first line naming mcpgen and its version, and Go that gofmt and
// goimports (the app's packages in a group of their own) leave as is.
func checkGeneratedFiles(t *testing.T, before, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		if _, existed := before[p]; existed || p == "stdout.txt" || p == generator.ManifestPath {
			continue // the user's own files get injections, not headers
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if !strings.Contains(first, "mcpgen v"+generator.Version) {
			t.Errorf("%s: first line %q does not name mcpgen v%s", p, first, generator.Version)
		}
		if strings.HasSuffix(p, ".go") {
			if formatted, err := format.Source(b); err != nil || !bytes.Equal(formatted, b) {
				t.Errorf("%s is not gofmt'd (%v)", p, err)
			}
			imports.LocalPrefix = modfile.ModulePath(before["go.mod"])
			if grouped, err := imports.Process(p, b, &imports.Options{FormatOnly: true, Comments: true, TabIndent: true, TabWidth: 8}); err != nil || !bytes.Equal(grouped, b) {
				t.Errorf("%s is not goimports-clean (%v):\n%s", p, err, grouped)
			}
		}
	}
}

// changedFiles returns the files of after that are new or differ from before.
func changedFiles(before, after map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for p, b := range after {
		if strings.HasSuffix(p, "/") {
			continue
		}
		if old, ok := before[p]; !ok || !bytes.Equal(old, b) {
			out[p] = b
		}
	}
	return out
}

// Golden files are stored with a .golden suffix on Go files so that
// neither the Go tool nor gofmt ever treats them as sources.
func goldenName(p string) string {
	if strings.HasSuffix(p, ".go") {
		return p + ".golden"
	}
	return p
}

func writeGolden(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(goldenName(p)))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func goldenTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no golden output at %s: run `make golden`", dir)
	}
	out := map[string][]byte{}
	for p, b := range tree(t, dir) {
		if strings.HasSuffix(p, "/") {
			continue
		}
		out[strings.TrimSuffix(p, ".golden")] = b
	}
	return out
}
