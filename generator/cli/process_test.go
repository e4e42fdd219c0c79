package cli_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcpgen/mcpgen/generator/e2e"
)

// buildBinary builds the main package pkg of the module in dir and returns
// the binary's path.
func buildBinary(t testing.TB, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	goCmd(t, dir, nil, "build", "-o", bin, pkg)
	return bin
}

// start runs bin in the background; the test's cleanup stops it and, when
// the test failed, prints its output.
func start(t testing.TB, name, dir, bin string, env []string, args ...string) *e2e.Process {
	t.Helper()
	p, err := e2e.Start(name, dir, bin, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// run runs bin to completion: its output, and an error when it failed.
func run(t testing.TB, dir, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	return e2e.Run(context.Background(), dir, bin, env, args...)
}
