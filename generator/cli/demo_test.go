package cli_test

import (
	"strings"
	"testing"
)

// TestDemo runs what `make demo` runs, so the demo cannot rot: it must end
// with a tool result obtained through the browser flow and show the token
// stored encrypted.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no demo run")
	}
	// TMPDIR: the demo leaves its scaffold for the user to look at; not here.
	out := goCmd(t, repo(t), []string{"TMPDIR=" + t.TempDir()}, "run", "./testdata/demo")
	for _, want := range []string{
		"      create  internal/mcpoauth/store.go",
		"     require  go.mod",
		"approved as demo-user",
		"token in clear in the column: false",
		`result: {"server":"default"`,
		`\"user\":\"demo-user\"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
