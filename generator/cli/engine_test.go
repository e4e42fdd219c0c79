package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const storeFile = "internal/mcpoauth/store.go"

// statuses parses Thor status lines into path -> status.
func statuses(out string) map[string]string {
	m := map[string]string{}
	re := regexp.MustCompile(`^\s*(\w+)  (\S+)`)
	for _, line := range strings.Split(out, "\n") {
		if s := re.FindStringSubmatch(line); s != nil && s[1] != "detect" {
			m[s[2]] = s[1]
		}
	}
	return m
}

func TestStatusLinesAreSortedThorColumns(t *testing.T) {
	dir := copyApp(t, "shop")
	out := install(t, dir)
	var paths []string
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			break
		}
		if !regexp.MustCompile(`^ {0,12}[a-z]+  \S`).MatchString(line) || len(line) < 14 || line[12:14] != "  " {
			t.Fatalf("not a Thor status line: %q", line)
		}
		if strings.TrimSpace(line[:12]) != "detect" {
			paths = append(paths, line[14:])
		}
	}
	for i := 1; i < len(paths); i++ {
		if paths[i-1] >= paths[i] {
			t.Errorf("status lines not sorted: %q before %q", paths[i-1], paths[i])
		}
	}
	if s := statuses(out); s[storeFile] != "create" || s[".mcpgen.json"] != "create" {
		t.Errorf("first install statuses: %v", s)
	}
	if !strings.Contains(out, "Next steps") || !strings.Contains(out, "goose -dir db/migrations sqlite3") ||
		!strings.Contains(out, "MCP_OAUTH_ENCRYPTION_KEYS") {
		t.Errorf("next steps missing from output:\n%s", out)
	}
}

func TestSecondRunChangesNothing(t *testing.T) {
	dir := copyApp(t, "shop")
	install(t, dir)
	first := tree(t, dir)
	out := install(t, dir, "--clock=2027-01-01T00:00:00Z") // a later clock must not renumber migrations
	for p, s := range statuses(out) {
		if s != "identical" && s != "unchanged" {
			t.Errorf("second run: %s %s, want identical", s, p)
		}
	}
	sameTree(t, first, tree(t, dir))
}

func TestConflictWritesNothing(t *testing.T) {
	dir := copyApp(t, "shop")
	install(t, dir)
	edit(t, dir, storeFile, "// my change\n")
	// A missing generated file would be created by a normal run: it must
	// not be, because the run as a whole stops.
	remove(t, dir, "internal/mcpoauth/queries.go")
	before := tree(t, dir)

	code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if s := statuses(out); s[storeFile] != "conflict" || s["internal/mcpoauth/queries.go"] != "create" {
		t.Errorf("statuses: %v", s)
	}
	if !strings.Contains(errOut, storeFile) || !strings.Contains(errOut, "nothing was written") || !strings.Contains(errOut, "--force") {
		t.Errorf("stderr does not list the conflict and the fix:\n%s", errOut)
	}
	sameTree(t, before, tree(t, dir))
}

func TestSkipAndForce(t *testing.T) {
	dir := copyApp(t, "shop")
	install(t, dir)
	pristine := read(t, dir, storeFile)
	edit(t, dir, storeFile, "// mine\n")
	edited := read(t, dir, storeFile)
	remove(t, dir, "internal/mcpoauth/queries.go")

	out := install(t, dir, "--skip")
	if s := statuses(out); s[storeFile] != "skip" || s["internal/mcpoauth/queries.go"] != "create" {
		t.Errorf("--skip statuses: %v", s)
	}
	if read(t, dir, storeFile) != edited {
		t.Error("--skip changed the edited file")
	}
	// The edit is still a conflict next time: --skip does not adopt it.
	if code, _, _ := mcpgen(t, "oauth", "install", "--dir", dir); code != 1 {
		t.Errorf("after --skip, a plain run exit %d, want 1 (still a conflict)", code)
	}

	if err := os.Chmod(filepath.Join(dir, storeFile), 0o600); err != nil {
		t.Fatal(err)
	}
	out = install(t, dir, "--force")
	if s := statuses(out); s[storeFile] != "force" {
		t.Errorf("--force statuses: %v", s)
	}
	if read(t, dir, storeFile) != pristine {
		t.Error("--force did not restore the generated content")
	}
	if info, _ := os.Stat(filepath.Join(dir, storeFile)); info.Mode().Perm() != 0o600 {
		t.Errorf("--force changed the file mode to %v, want 0600 kept", info.Mode().Perm())
	}
	if s := statuses(install(t, dir)); s[storeFile] != "identical" {
		t.Errorf("after --force, a plain run: %v", s)
	}
	noTempFiles(t, dir)
}

func TestPretendAndDiffWriteNothing(t *testing.T) {
	for _, flag := range []string{"--pretend", "-p", "--diff"} {
		t.Run(flag, func(t *testing.T) {
			dir := copyApp(t, "shop")
			before := tree(t, dir)
			code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir, "--clock", testClock, flag)
			if want := map[bool]int{true: 1, false: 0}[flag == "--diff"]; code != want {
				t.Errorf("%s on an app without the install: exit %d, want %d\n%s", flag, code, want, errOut)
			}
			if s := statuses(out); s[storeFile] != "create" {
				t.Errorf("%s statuses: %v", flag, s)
			}
			if flag == "--diff" && !strings.Contains(out, "+++ b/"+storeFile) {
				t.Errorf("--diff printed no diff of %s:\n%.2000s", storeFile, out)
			}
			if strings.Contains(out, "Next steps") {
				t.Errorf("%s printed next steps though nothing was installed", flag)
			}
			sameTree(t, before, tree(t, dir))
		})
	}
}

func TestDiffShowsAnEdit(t *testing.T) {
	dir := copyApp(t, "shop")
	install(t, dir)
	edit(t, dir, storeFile, "// mine\n")
	before := tree(t, dir)
	code, out, _ := mcpgen(t, "oauth", "install", "--dir", dir, "--diff")
	if code != 1 {
		t.Errorf("--diff with a conflict: exit %d, want 1", code)
	}
	if !strings.Contains(out, "--- a/"+storeFile) || !strings.Contains(out, "-// mine") {
		t.Errorf("--diff does not show the edit being undone:\n%s", out)
	}
	sameTree(t, before, tree(t, dir))
}

// TestDiffGatesCI is the README's CI recipe: `mcpgen oauth install --diff`
// passes on an app that is what this mcpgen writes and fails, showing
// the diff, once the templates have changed since the app was generated
// (here: a file holds an earlier mcpgen's output, its hash in the
// manifest, as an upgrade of mcpgen leaves it).
func TestDiffGatesCI(t *testing.T) {
	dir := copyApp(t, "shop")
	install(t, dir)
	code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir, "--diff")
	if code != 0 || strings.Contains(out, "+++ ") || errOut != "" {
		t.Fatalf("--diff on an up-to-date app: exit %d, want 0 and no diff\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	pristine := read(t, dir, storeFile)
	older := strings.Replace(pristine, "package mcpoauth", "package mcpoauth\n\n// older output", 1)
	write(t, dir, storeFile, older)
	write(t, dir, ".mcpgen.json", strings.Replace(read(t, dir, ".mcpgen.json"), hashOf(pristine), hashOf(older), 1))
	before := tree(t, dir)
	code, out, errOut = mcpgen(t, "oauth", "install", "--dir", dir, "--diff")
	if code != 1 {
		t.Errorf("--diff after a template change: exit %d, want 1", code)
	}
	if s := statuses(out); s[storeFile] != "update" {
		t.Errorf("statuses: %v", s)
	}
	if !strings.Contains(out, "+++ b/"+storeFile) || !strings.Contains(out, "-// older output") {
		t.Errorf("--diff does not show the change:\n%s", out)
	}
	if !strings.Contains(errOut, "file(s) differ from what mcpgen") || !strings.Contains(errOut, "without --diff") {
		t.Errorf("stderr does not say what differs and how to apply it:\n%s", errOut)
	}
	sameTree(t, before, tree(t, dir))

	install(t, dir)
	if code, _, errOut := mcpgen(t, "oauth", "install", "--dir", dir, "--diff"); code != 0 {
		t.Errorf("--diff after applying the change: exit %d\n%s", code, errOut)
	}
}

func TestQuiet(t *testing.T) {
	dir := copyApp(t, "shop")
	if out := install(t, dir, "-q"); out != "" {
		t.Errorf("--quiet printed:\n%s", out)
	}
}

// An unedited file from an earlier mcpgen (its hash is in the manifest) is
// updated without --force.
func TestManifestUpdatesUneditedFiles(t *testing.T) {
	dir := copyApp(t, "shop")
	install(t, dir)
	pristine := read(t, dir, storeFile)
	older := strings.Replace(pristine, "package mcpoauth", "package mcpoauth\n\n// older output", 1)
	write(t, dir, storeFile, older)
	manifest := read(t, dir, ".mcpgen.json")
	manifest = strings.Replace(manifest, hashOf(pristine), hashOf(older), 1)
	write(t, dir, ".mcpgen.json", manifest)

	out := install(t, dir)
	if s := statuses(out); s[storeFile] != "update" {
		t.Fatalf("statuses: %v", s)
	}
	if read(t, dir, storeFile) != pristine {
		t.Error("update did not write the new output")
	}
}

func TestUninstallRestoresTheTree(t *testing.T) {
	dir := copyApp(t, "shop")
	before := tree(t, dir)
	install(t, dir, "--namespace=Admin")
	code, out, errOut := mcpgen(t, "oauth", "uninstall", "--dir", dir, "--namespace=Admin")
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := statuses(out); s["internal/admin/mcpoauth/store.go"] != "remove" || s[".mcpgen.json"] != "remove" {
		t.Errorf("uninstall statuses: %v", s)
	}
	sameTree(t, before, tree(t, dir))
}

func TestUninstallKeepsEditedFiles(t *testing.T) {
	dir := copyApp(t, "shop")
	before := tree(t, dir)
	install(t, dir)
	edit(t, dir, storeFile, "// mine\n")
	edited := read(t, dir, storeFile)
	code, out, _ := mcpgen(t, "oauth", "uninstall", "--dir", dir)
	if code != 0 {
		t.Fatalf("uninstall exit %d:\n%s", code, out)
	}
	if s := statuses(out); s[storeFile] != "keep" {
		t.Errorf("statuses: %v", s)
	}
	if !strings.Contains(out, "Kept 1 file") || !strings.Contains(out, "  "+storeFile) {
		t.Errorf("kept file not listed:\n%s", out)
	}
	after := tree(t, dir)
	if string(after[storeFile]) != edited {
		t.Fatal("uninstall removed or changed an edited file")
	}
	// Everything else is as before install; the manifest stays to remember
	// the kept file.
	delete(after, storeFile)
	delete(after, "internal/mcpoauth/")
	delete(after, ".mcpgen.json")
	sameTree(t, before, after)
}

func TestUninstallWithoutManifest(t *testing.T) {
	dir := copyApp(t, "shop")
	before := tree(t, dir)
	install(t, dir)
	remove(t, dir, ".mcpgen.json")
	code, out, _ := mcpgen(t, "oauth", "uninstall", "--dir", dir, "--clock", testClock)
	if code != 0 {
		t.Fatalf("uninstall exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "no .mcpgen.json") {
		t.Errorf("no note about the missing manifest:\n%s", out)
	}
	sameTree(t, before, tree(t, dir))
}

func TestSequentialMigrationsAndReuse(t *testing.T) {
	dir := copyApp(t, "crm")
	out := install(t, dir, "Person")
	s := statuses(out)
	if s["migrations/00003_create_mcp_oauth_credentials.sql"] != "create" || s["migrations/00004_create_mcp_oauth_states.sql"] != "create" {
		t.Fatalf("sequential numbering not followed: %v", s)
	}
	// A migration renumbered by the user is found by name, not duplicated.
	if err := os.Rename(filepath.Join(dir, "migrations/00004_create_mcp_oauth_states.sql"),
		filepath.Join(dir, "migrations/00010_create_mcp_oauth_states.sql")); err != nil {
		t.Fatal(err)
	}
	s = statuses(install(t, dir, "Person"))
	if s["migrations/00010_create_mcp_oauth_states.sql"] != "identical" {
		t.Errorf("renumbered migration: %v", s)
	}
	for p := range s {
		if strings.HasSuffix(p, "_create_mcp_oauth_states.sql") && p != "migrations/00010_create_mcp_oauth_states.sql" {
			t.Errorf("duplicated migration %s", p)
		}
	}
}

func TestRefusesToWriteThroughSymlinks(t *testing.T) {
	dir := copyApp(t, "shop")
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "internal"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "internal", "mcpoauth")); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir)
	if code != 2 || !strings.Contains(errOut, "internal/mcpoauth is a symbolic link") {
		t.Fatalf("install through a symlink leaving the project: exit %d, want 2 naming the link\n%s\n%s", code, out, errOut)
	}
	sameTree(t, before, tree(t, dir))
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote outside the project: %v (stderr %s)", entries, errOut)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty model", []string{""}, "user model name is empty"},
		{"digits first", []string{"123abc"}, "not a Go identifier"},
		{"dash kept", []string{"user-name!"}, "not a Go identifier"},
		{"space", []string{"my model"}, "not a Go identifier"},
		{"keyword", []string{"type"}, "keyword"},
		{"predeclared", []string{"string"}, "predeclared"},
		{"two models", []string{"User", "Account"}, "one user model"},
		{"namespace traversal", []string{"--namespace", "../../etc"}, "leaves the project"},
		{"absolute migrations dir", []string{"--migrations-dir", "/tmp"}, "absolute"},
		{"escaping migrations dir", []string{"--migrations-dir", "../elsewhere"}, "leaves the project"},
		{"unknown database", []string{"--database", "oracle"}, "unknown --database"},
		{"unknown id type", []string{"--user-id-type", "float"}, "unknown --user-id-type"},
		{"contradicting id type", []string{"--user-id-type", "uuid"}, "contradicts"},
		{"generated type as handler", []string{"--handler-name", "Store"}, "collides with Store, which mcpgen declares"},
		{"generated func as handler", []string{"--handler-name", "NewStore"}, "collides with NewStore"},
		{"colliding handler", []string{"--handler-name", "WidgetsHandler"}, "collides with type WidgetsHandler"},
		{"force and skip", []string{"--force", "--skip"}, "force"},
		{"unknown flag", []string{"--frobnicate"}, "unknown flag"},
		{"bad clock", []string{"--clock", "yesterday"}, "clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyApp(t, "shop")
			write(t, dir, "internal/mcpoauth/widgets.go", "package mcpoauth\n\n// WidgetsHandler is the app's own.\ntype WidgetsHandler struct{}\n")
			before := tree(t, dir)
			code, out, errOut := mcpgen(t, append([]string{"oauth", "install", "--dir", dir}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr does not name the problem %q:\n%s", tc.want, errOut)
			}
			sameTree(t, before, tree(t, dir))
		})
	}
}

func TestUserModelNotFound(t *testing.T) {
	dir := copyApp(t, "shop")
	before := tree(t, dir)
	// No Customer type, and no customers table for the foreign keys.
	code, _, errOut := mcpgen(t, "oauth", "install", "--dir", dir, "Customer", "--user-id-type=string")
	if code != 2 || !strings.Contains(errOut, "no migration in db/migrations creates the table customers") || !strings.Contains(errOut, "--user-table") {
		t.Errorf("install Customer without its table: exit %d, stderr:\n%s", code, errOut)
	}
	sameTree(t, before, tree(t, dir))

	out := install(t, dir, "Customer", "--user-id-type=string", "--user-table=members", "--pretend")
	if !strings.Contains(out, "type Customer struct not found") || !strings.Contains(out, "table members") {
		t.Errorf("no note about the missing model:\n%s", out)
	}
	for p := range statuses(out) {
		if strings.Contains(p, "customer_mcp_oauth") {
			t.Errorf("user helpers planned without a model: %s", p)
		}
	}
}

func TestSourceDateEpochStampsMigrations(t *testing.T) {
	dir := copyApp(t, "shop")
	t.Setenv("SOURCE_DATE_EPOCH", "1798761600") // 2027-01-01T00:00:00Z
	code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if s := statuses(out); s["db/migrations/20270101000000_create_mcp_oauth_credentials.sql"] != "create" ||
		s["db/migrations/20270101000001_create_mcp_oauth_states.sql"] != "create" {
		t.Errorf("SOURCE_DATE_EPOCH not used: %v", s)
	}
}

func TestNotAGoModule(t *testing.T) {
	dir := copyApp(t, "notamodule")
	skipInsideModule(t, dir)
	before := tree(t, dir)
	code, _, errOut := mcpgen(t, "oauth", "install", "--dir", dir)
	if code != 2 || !strings.Contains(errOut, "not a Go module") || !strings.Contains(errOut, "go mod init") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	sameTree(t, before, tree(t, dir))
}

func TestHelpShowsExamples(t *testing.T) {
	code, out, _ := mcpgen(t, "oauth", "install", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"mcpgen oauth install Account", "mcpgen oauth install --skip-routes",
		"mcpgen oauth install User --namespace=Admin", "--controller-name=OAuthConnectionsController", "OAuthConnectionsHandler"} {
		if !strings.Contains(out, want) {
			t.Errorf("install --help lacks %q", want)
		}
	}
	for _, args := range [][]string{{"oauth", "uninstall", "--help"}, {"version"}, {"completion", "bash"}} {
		if code, out, errOut := mcpgen(t, args...); code != 0 || out == "" {
			t.Errorf("mcpgen %v: exit %d, stdout %d bytes, stderr %s", args, code, len(out), errOut)
		}
	}
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	for p := range tree(t, dir) {
		if strings.Contains(p, ".mcpgen-") {
			t.Errorf("temporary file left behind: %s", p)
		}
	}
}

func read(t *testing.T, dir, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, dir, p, s string) {
	t.Helper()
	full := filepath.Join(dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, dir, p, appended string) {
	t.Helper()
	write(t, dir, p, read(t, dir, p)+appended)
}

func remove(t *testing.T, dir, p string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, p)); err != nil {
		t.Fatal(err)
	}
}

// TestPreviewDespiteTheRoutes previews an install whose routes cannot be
// injected (no marker): --pretend and --diff show everything else, then
// name the problem and exit 2; a real run writes nothing.
func TestPreviewDespiteTheRoutes(t *testing.T) {
	dir := copyApp(t, "chiapp")
	routes := filepath.Join(dir, "internal", "app", "server.go")
	src, err := os.ReadFile(routes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(routes, bytes.Replace(src, []byte("\t// mcpgen:routes\n"), nil, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	for _, flag := range []string{"--pretend", "--diff"} {
		code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir, flag)
		if code != 2 || !strings.Contains(out, "internal/mcpoauth/store.go") || !strings.Contains(errOut, "no // mcpgen:routes marker") {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s", flag, code, out, errOut)
		}
	}
	code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir)
	if code != 2 || strings.Contains(out, "create") || !strings.Contains(errOut, "no // mcpgen:routes marker") {
		t.Errorf("install: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	sameTree(t, before, tree(t, dir))
}
