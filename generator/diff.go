package generator

import (
	"github.com/aymanbagabas/go-udiff"
)

// unifiedDiff returns the changes that turn a into b as a unified diff
// headed "--- oldName" and "+++ newName", with three lines of context as
// `diff -u` and git show, or "" when a and b are equal.
func unifiedDiff(oldName, newName string, a, b []byte) string {
	return udiff.Unified(oldName, newName, string(a), string(b))
}
