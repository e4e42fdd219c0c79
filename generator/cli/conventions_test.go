package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/cli"
	"github.com/mcpgen/mcpgen/mcpoauth"
)

// TestUnknownCommandsAndFlags checks that a mistyped subcommand or flag
// exits 2 with the closest name and the failing command's own help,
// instead of printing the help and exiting 0.
func TestUnknownCommandsAndFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in stderr
	}{
		{[]string{"oauth", "instal"}, []string{`unknown command "instal" for "mcpgen oauth"`, "did you mean install?", "`mcpgen oauth --help`"}},
		{[]string{"oauth", "isntall"}, []string{`unknown command "isntall"`, "did you mean install?"}},
		{[]string{"oauth", "uninstal"}, []string{"did you mean uninstall?"}},
		{[]string{"oauth", "frobnicate"}, []string{`unknown command "frobnicate" for "mcpgen oauth"`, "`mcpgen oauth --help`"}},
		{[]string{"verson"}, []string{`unknown command "verson" for "mcpgen"`, "did you mean version?", "`mcpgen --help`"}},
		{[]string{"completion", "bsh"}, []string{"did you mean bash?", "`mcpgen completion --help`"}},
		{[]string{"oauth", "install", "--forse"}, []string{"unknown flag --forse; did you mean --force?", "`mcpgen oauth install --help`"}},
		{[]string{"oauth", "install", "--namesapce=Admin"}, []string{"did you mean --namespace?"}},
		{[]string{"oauth", "install", "-force"}, []string{"did you mean --force?", "`mcpgen oauth install --help`"}},
		{[]string{"oauth", "uninstall", "--pretned"}, []string{"did you mean --pretend?", "`mcpgen oauth uninstall --help`"}},
		{[]string{"dev-server", "--adr", "127.0.0.1:0"}, []string{"did you mean --addr?", "`mcpgen dev-server --help`"}},
		{[]string{"oauth", "install", "--frobnicate"}, []string{"unknown flag --frobnicate", "`mcpgen oauth install --help`"}},
		{[]string{"version", "extra"}, []string{"takes no arguments", "`mcpgen version --help`"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := mcpgen(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if out != "" {
				t.Errorf("stdout is not empty:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			if strings.Contains(errOut, "did you mean") && !strings.Contains(strings.Join(tc.want, " "), "did you mean") {
				t.Errorf("a suggestion for a name close to nothing:\n%s", errOut)
			}
		})
	}
	// A command that only groups others still shows its help when run alone.
	for _, args := range [][]string{{"oauth"}, {}} {
		code, out, errOut := mcpgen(t, args...)
		if code != 0 || !strings.Contains(out, "Available Commands:") {
			t.Errorf("mcpgen %v: exit %d, stdout:\n%s\nstderr:\n%s", args, code, out, errOut)
		}
	}
}

// TestVersionFlag checks that mcpgen --version prints what mcpgen version
// prints.
func TestVersionFlag(t *testing.T) {
	code, want, errOut := mcpgen(t, "version")
	if code != 0 || !strings.HasPrefix(want, "mcpgen v"+generator.Version) {
		t.Fatalf("mcpgen version: exit %d, stdout %q, stderr %q", code, want, errOut)
	}
	code, got, errOut := mcpgen(t, "--version")
	if code != 0 || got != want {
		t.Errorf("mcpgen --version: exit %d, stdout %q, want %q; stderr %q", code, got, want, errOut)
	}
}

// TestModuleRootFromSubfolder runs install and uninstall from a folder
// below the module root, as git runs from below the work tree's top: both
// act on the folder of go.mod, and say so.
func TestModuleRootFromSubfolder(t *testing.T) {
	dir := copyApp(t, "shop")
	before := tree(t, dir)
	t.Chdir(filepath.Join(dir, "internal", "web"))

	code, out, errOut := mcpgen(t, "oauth", "install", "--clock", testClock)
	if code != 0 {
		t.Fatalf("install from internal/web: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := "module root ../.. (" + dir + ")"; !strings.Contains(out, want) {
		t.Errorf("stdout does not say which root was used (%q):\n%s", want, out)
	}
	after := tree(t, dir)
	for _, p := range []string{"internal/mcpoauth/store.go", generator.ManifestPath} {
		if _, ok := after[p]; !ok {
			t.Errorf("%s not written at the module root", p)
		}
	}
	for p := range after {
		if strings.HasPrefix(p, "internal/web/internal/") || strings.HasPrefix(p, "internal/web/db/") {
			t.Errorf("written below the current folder instead of the root: %s", p)
		}
	}

	// --dir starts the search the same way.
	t.Chdir(t.TempDir())
	code, out, errOut = mcpgen(t, "oauth", "uninstall", "--dir", filepath.Join(dir, "internal", "models"))
	if code != 0 || !strings.Contains(out, "module root ../..") {
		t.Fatalf("uninstall --dir internal/models: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	sameTree(t, before, tree(t, dir))

	// At the root itself nothing is said about it.
	t.Chdir(dir)
	if _, out, _ := mcpgen(t, "oauth", "install", "--pretend"); strings.Contains(out, "module root") {
		t.Errorf("the root is named though it is the current folder:\n%s", out)
	}
}

// TestNoModuleAbove checks that the search for go.mod stops at the root of
// the file system with an error naming the fix.
func TestNoModuleAbove(t *testing.T) {
	dir := copyApp(t, "notamodule")
	skipInsideModule(t, dir)
	before := tree(t, dir)
	t.Chdir(dir)
	code, out, errOut := mcpgen(t, "oauth", "install")
	if code != 2 {
		t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"no go.mod in " + dir + " or any folder above it", "run mcpgen inside a Go module", "go mod init"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	sameTree(t, before, tree(t, dir))
}

// skipInsideModule skips the test when a folder above dir has a go.mod:
// mcpgen run in dir would act on that module.
func skipInsideModule(t *testing.T, dir string) {
	t.Helper()
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			t.Skipf("the temporary folder is inside a Go module (%s)", d)
		}
		if filepath.Dir(d) == d {
			return
		}
	}
}

// TestColor checks that the status lines are coloured on a terminal only,
// and never with TERM=dumb or NO_COLOR set to anything (no-color.org).
func TestColor(t *testing.T) {
	dir := copyApp(t, "shop")
	run := func(t *testing.T) string {
		t.Helper()
		code, out, errOut := mcpgen(t, "oauth", "install", "--dir", dir, "--pretend")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		tty     bool
		term    string
		noColor string
		color   bool
	}{
		{"terminal", true, "xterm-256color", "", true},
		{"terminal without TERM", true, "", "", true},
		{"NO_COLOR", true, "xterm-256color", "1", false},
		{"NO_COLOR=0", true, "xterm-256color", "0", false},
		{"TERM=dumb", true, "dumb", "", false},
		{"not a terminal", false, "xterm-256color", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli.SetTerminal(t, tc.tty)
			t.Setenv("TERM", tc.term)
			t.Setenv("NO_COLOR", tc.noColor)
			out := run(t)
			if got := strings.Contains(out, "\x1b["); got != tc.color {
				t.Errorf("ANSI escapes: %v, want %v:\n%q", got, tc.color, out)
			}
		})
	}

	// What stdout is, without the seam: a pipe, a file and a buffer are
	// not terminals.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for name, out := range map[string]io.Writer{"pipe": w, "file": f, os.DevNull: devNull, "buffer": new(bytes.Buffer)} {
		if cli.IsTerminal(out) {
			t.Errorf("a %s is taken for a terminal", name)
		}
	}
}

// TestInstallHelpListsWhatItWrites checks that install --help lists the
// files the default install writes, each with what it is for: every file
// of the plan matches an entry, and every entry a file of the plan.
func TestInstallHelpListsWhatItWrites(t *testing.T) {
	// The shop sample app takes every file: SQLite (River), views, a user
	// model and a routes marker.
	dir := copyApp(t, "shop")
	planned := statuses(install(t, dir, "--pretend"))
	routes := ""
	for p, s := range planned {
		if s == "inject" {
			routes = p
		}
	}
	// What the placeholders of the help stand for in the shop.
	placeholders := map[string]string{
		"<version>":             "[0-9]{14}",
		"<user model's folder>": regexp.QuoteMeta("internal/models"),
		"<routes file>":         regexp.QuoteMeta(routes),
	}

	code, help, errOut := mcpgen(t, "oauth", "install", "--help")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	entries := helpFiles(t, help, placeholders)
	if len(entries) == 0 {
		t.Fatalf("install --help lists no files:\n%s", help)
	}
	matched := map[string]bool{}
	for p := range planned {
		found := false
		for entry, re := range entries {
			if re.MatchString(p) {
				found, matched[entry] = true, true
			}
		}
		if !found {
			t.Errorf("install writes %s, which install --help does not list", p)
		}
	}
	for entry := range entries {
		if !matched[entry] {
			t.Errorf("install --help lists %s, which the default install does not write", entry)
		}
	}
}

// helpFiles parses the file list of install --help: folders ending in /
// indented two spaces, their files four, files at the root two, each file
// followed by its purpose. It returns each path, with <placeholders>, and
// a regular expression matching the paths it stands for, where each
// placeholder is the expression placeholders gives it.
func helpFiles(t *testing.T, help string, placeholders map[string]string) map[string]*regexp.Regexp {
	t.Helper()
	_, list, ok := strings.Cut(help, "\nWhat it writes")
	if !ok {
		t.Fatalf("install --help has no \"What it writes\" section:\n%s", help)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	line := regexp.MustCompile(`^(  |    )(\S.*?)(?: {2,}(\S.*))?$`)
	placeholder := regexp.MustCompile(`<[^>]+>`)
	entries := map[string]*regexp.Regexp{}
	folder := ""
	lines := strings.Split(list, "\n")
	for len(lines) > 0 && !strings.HasPrefix(lines[0], "  ") {
		lines = lines[1:] // the heading
	}
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		switch {
		case m == nil:
			t.Fatalf("not an entry of the file list: %q", l)
		case m[1] == "  " && strings.HasSuffix(m[2], "/") && m[3] == "":
			folder = m[2]
			continue
		case m[1] == "  ":
			folder = ""
		}
		if m[3] == "" {
			t.Errorf("%s%s has no purpose", folder, m[2])
		}
		p := folder + m[2]
		expr := regexp.QuoteMeta(p)
		for _, ph := range placeholder.FindAllString(expr, -1) {
			sub, ok := placeholders[ph]
			if !ok {
				t.Fatalf("%s: the test does not know what %s stands for", p, ph)
			}
			expr = strings.Replace(expr, ph, sub, 1)
		}
		entries[p] = regexp.MustCompile("^" + expr + "$")
	}
	return entries
}

// TestKeygen checks that mcpgen oauth keygen prints a fresh key the
// runtime's own parser accepts, as a line the shell can eval, putting it
// before the keys already set (rotation: the new key encrypts, the old
// ones still decrypt).
func TestKeygen(t *testing.T) {
	// keygen runs it and returns the keys of its export line, checking
	// that every other line is a comment naming the new key.
	keygen := func(t *testing.T) [][]byte {
		t.Helper()
		code, out, errOut := mcpgen(t, "oauth", "keygen")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var value string
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if v, ok := strings.CutPrefix(line, "export "+mcpoauth.KeysEnv+"="); ok {
				if value != "" {
					t.Fatalf("two export lines:\n%s", out)
				}
				value = v
			} else if !strings.HasPrefix(line, "#") {
				t.Errorf("a line that is neither a comment nor the export, eval would run it: %q", line)
			}
		}
		keys, err := mcpoauth.ParseKeys(value)
		if err != nil {
			t.Fatalf("the runtime does not parse %s=%s: %v", mcpoauth.KeysEnv, value, err)
		}
		if _, err := mcpoauth.NewKeyring(keys...); err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(value, ",")
		if !strings.Contains(out, "#   "+first+"\n") {
			t.Errorf("the new key is not shown on its own:\n%s", out)
		}
		return keys
	}

	t.Setenv(mcpoauth.KeysEnv, "")
	os.Unsetenv(mcpoauth.KeysEnv)
	a, b := keygen(t), keygen(t)
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("without %s: %d and %d keys, want 1", mcpoauth.KeysEnv, len(a), len(b))
	}
	if bytes.Equal(a[0], b[0]) {
		t.Error("two runs printed the same key")
	}

	t.Setenv(mcpoauth.KeysEnv, " ")
	if got := keygen(t); len(got) != 1 {
		t.Errorf("with %s empty: %d keys, want 1", mcpoauth.KeysEnv, len(got))
	}

	// Two keys set, in a form the runtime accepts but does not write.
	old1, old2 := make([]byte, mcpoauth.KeySize), make([]byte, mcpoauth.KeySize)
	rand.Read(old1)
	rand.Read(old2)
	t.Setenv(mcpoauth.KeysEnv, base64.RawURLEncoding.EncodeToString(old1)+" \n"+base64.StdEncoding.EncodeToString(old2))
	got := keygen(t)
	if len(got) != 3 || !bytes.Equal(got[1], old1) || !bytes.Equal(got[2], old2) || bytes.Equal(got[0], old1) || bytes.Equal(got[0], old2) {
		t.Errorf("rotation: got %d keys, want the new one, then the two set, in order", len(got))
	}

	// Keys that do not parse are named by position, never echoed.
	t.Setenv(mcpoauth.KeysEnv, base64.StdEncoding.EncodeToString(old1)+",not-a-key!")
	code, out, errOut := mcpgen(t, "oauth", "keygen")
	if code != 2 || out != "" || !strings.Contains(errOut, mcpoauth.KeysEnv) || !strings.Contains(errOut, "key 2 of 2") ||
		strings.Contains(errOut, "not-a-key!") {
		t.Errorf("with a bad key set: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	if code, _, _ := mcpgen(t, "oauth", "keygen", "extra"); code != 2 {
		t.Errorf("keygen with an argument: exit %d, want 2", code)
	}
}
