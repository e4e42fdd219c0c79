package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mcpgen/mcpgen/generator"
)

// moduleRoot returns the root of the Go module dir is in: dir itself or
// the nearest folder above it with a go.mod, as the go command finds its
// main module and git its work tree.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if info, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && info.Mode().IsRegular() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", &generator.InputError{
				Problem: fmt.Sprintf("no go.mod in %s or any folder above it: the target is not a Go module", dir),
				Fix:     "run mcpgen inside a Go module (in the folder of its go.mod or below it), pass --dir, or create one with `go mod init`",
			}
		}
		d = parent
	}
}
