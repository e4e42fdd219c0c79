package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/cli"
)

// testClock stamps migrations in every test run, so output is stable.
const testClock = "2026-06-01T00:00:00Z"

// repo is the root of the mcpgen repository.
func repo(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyApp copies the sample app testdata/apps/<name> into a fresh folder.
func copyApp(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join(repo(t), "testdata", "apps", name)
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy sample app %s: %v", name, err)
	}
	return dst
}

// mcpgen runs the CLI in-process.
func mcpgen(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// install runs `mcpgen oauth install` on dir with the test clock and
// fails the test unless it succeeds.
func install(t testing.TB, dir string, args ...string) string {
	t.Helper()
	full := append([]string{"oauth", "install", "--dir", dir, "--clock", testClock}, args...)
	code, out, errOut := mcpgen(t, full...)
	if code != 0 {
		t.Fatalf("mcpgen %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(full, " "), code, out, errOut)
	}
	return out
}

// tree reads every file under dir, by slash path.
func tree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." {
				files[rel+"/"] = nil
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			files[rel] = []byte("symlink -> " + target)
			return err
		}
		b, err := os.ReadFile(p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameTree fails the test with the differences when two trees differ.
func sameTree(t testing.TB, want, got map[string][]byte) {
	t.Helper()
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+p)
		case !bytes.Equal(w, g):
			diffs = append(diffs, "changed "+p+"\n"+generator.ChangeDiff(generator.Change{Path: p, Status: generator.StatusUpdate, Old: w, New: g}))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("tree differs:\n%s", strings.Join(diffs, "\n"))
	}
}

// goCmd runs the go tool in dir and fails the test on error.
func goCmd(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// testDatabase creates a fresh database on the server given by the
// environment variable for d, drops it when the test ends, and returns its
// connection string for the generated app's tests. It returns "" (and
// says why) when the variable is unset.
func testDatabase(t testing.TB, d generator.Dialect) string {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "mcpgen_" + hex.EncodeToString(rnd[:])
	switch d {
	case generator.Postgres:
		base := os.Getenv("MCPGEN_TEST_POSTGRES_URL")
		if base == "" {
			t.Log("MCPGEN_TEST_POSTGRES_URL is unset: the generated Postgres tests will skip (set it, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run them)")
			return ""
		}
		admin := openAdmin(t, "pgx", base)
		exec1(t, admin, "CREATE DATABASE "+name)
		t.Cleanup(func() { exec1(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("MCPGEN_TEST_POSTGRES_URL: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	case generator.MySQL:
		base := os.Getenv("MCPGEN_TEST_MYSQL_DSN")
		if base == "" {
			t.Log("MCPGEN_TEST_MYSQL_DSN is unset: the generated MySQL tests will skip (set it, e.g. root@tcp(127.0.0.1:3306)/test, to run them)")
			return ""
		}
		admin := openAdmin(t, "mysql", base)
		exec1(t, admin, "CREATE DATABASE "+name)
		t.Cleanup(func() { exec1(t, admin, "DROP DATABASE IF EXISTS "+name) })
		// Swap the database name in user:pass@tcp(host)/db?params.
		slash := strings.LastIndex(base, "/")
		rest := ""
		if q := strings.IndexByte(base[slash:], '?'); q >= 0 {
			rest = base[slash+q:]
		}
		return base[:slash+1] + name + rest
	}
	return ""
}

func openAdmin(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec1(t testing.TB, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// hashOf is the manifest's fingerprint of s.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}
