package cli

import (
	"io"
	"testing"
)

// IsTerminal is the check colour uses to tell a terminal.
var IsTerminal = func(w io.Writer) bool { return isTerminal(w) }

// SetTerminal makes colour take every writer for a terminal, or none,
// until the test ends.
func SetTerminal(t testing.TB, tty bool) {
	old := isTerminal
	isTerminal = func(io.Writer) bool { return tty }
	t.Cleanup(func() { isTerminal = old })
}
