package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// RuntimeModule is the module of the runtime generated code imports.
const RuntimeModule = "github.com/mcpgen/mcpgen/mcpoauth"

// pinnedModules are the versions of the modules generated code imports
// that this mcpgen is tested with. Install requires at least these, so
// that `go mod tidy` does not pick whatever is newest; a newer version
// the app already requires is kept.
var pinnedModules = []struct {
	path, version string
	river         bool // only where River runs
	shared        bool // the app's own tool too: never dropped without a manifest
}{
	{path: RuntimeModule, version: "v" + Version},
	{path: "github.com/modelcontextprotocol/go-sdk", version: "v1.8.0"},
	{path: "golang.org/x/oauth2", version: "v0.35.0"},
	{path: "github.com/pressly/goose/v3", version: "v3.30.1", shared: true},
	{path: "github.com/riverqueue/river", version: "v0.51.2", river: true},
}

// requireModules plans the go.mod change that requires the runtime and
// the pinned modules (StatusRequire), or StatusUnchanged when go.mod
// requires them all already at these versions or newer. It returns the
// requirements it adds, as "path@version", for the manifest.
func requireModules(fsys fs.FS, n Names) (Change, []string, error) {
	src, f, err := readModFile(fsys)
	if err != nil {
		return Change{}, nil, err
	}
	have := map[string]string{}
	reqs := make([]*modfile.Require, 0, len(f.Require)+len(pinnedModules))
	for _, r := range f.Require {
		have[r.Mod.Path] = r.Mod.Version
		reqs = append(reqs, &modfile.Require{Mod: r.Mod, Indirect: r.Indirect})
	}
	var added []string
	for _, m := range pinnedModules {
		if m.river && !riverDialect(n.Dialect) {
			continue
		}
		v, ok := have[m.path]
		if ok && semver.Compare(v, m.version) >= 0 {
			continue
		}
		if ok {
			reqs = slices.DeleteFunc(reqs, func(r *modfile.Require) bool { return r.Mod.Path == m.path })
		}
		reqs = append(reqs, &modfile.Require{Mod: module.Version{Path: m.path, Version: m.version}})
		added = append(added, m.path+"@"+m.version)
	}
	if len(added) == 0 {
		return Change{Path: "go.mod", Status: StatusUnchanged, Old: src, New: src}, nil, nil
	}
	f.SetRequireSeparateIndirect(reqs)
	out, err := formatModFile(f)
	if err != nil {
		return Change{}, nil, err
	}
	return Change{Path: "go.mod", Status: StatusRequire, Old: src, New: out, Note: strings.Join(added, " ")}, added, nil
}

// pinnedRequires is every pinned module but the shared ones as
// "path@version"; the runtime's with no version, to match whichever is
// required.
func pinnedRequires() []string {
	out := []string{RuntimeModule + "@"}
	for _, m := range pinnedModules[1:] {
		if !m.shared {
			out = append(out, m.path+"@"+m.version)
		}
	}
	return out
}

// unrequireModules plans taking the requirements install added (as
// "path@version") out of go.mod again (StatusRevert), where go.mod still
// requires them at that version; an empty version matches any. With
// onlyWithRuntime, nothing is dropped unless the runtime is required.
func unrequireModules(fsys fs.FS, added []string, onlyWithRuntime bool) (Change, bool, error) {
	src, f, err := readModFile(fsys)
	if err != nil {
		return Change{}, false, err
	}
	if onlyWithRuntime && !slices.ContainsFunc(f.Require, func(r *modfile.Require) bool { return r.Mod.Path == RuntimeModule }) {
		return Change{}, false, nil
	}
	dropped := false
	for _, pv := range added {
		p, v, _ := strings.Cut(pv, "@")
		for _, r := range f.Require {
			if r.Mod.Path == p && (v == "" || r.Mod.Version == v) {
				if err := f.DropRequire(p); err != nil {
					return Change{}, false, fmt.Errorf("go.mod: drop %s: %w", p, err)
				}
				dropped = true
			}
		}
	}
	if !dropped {
		return Change{}, false, nil
	}
	out, err := formatModFile(f)
	if err != nil {
		return Change{}, false, err
	}
	return Change{Path: "go.mod", Status: StatusRevert, Old: src, New: out, Note: "requirements of mcpgen's runtime"}, true, nil
}

func readModFile(fsys fs.FS) ([]byte, *modfile.File, error) {
	src, err := fs.ReadFile(fsys, "go.mod")
	if err != nil {
		return nil, nil, fmt.Errorf("read go.mod: %w", err)
	}
	f, err := modfile.Parse("go.mod", src, nil)
	if err != nil {
		return nil, nil, inputErrorf("fix go.mod so that `go mod tidy` accepts it", "go.mod does not parse: %v", err)
	}
	return src, f, nil
}

func formatModFile(f *modfile.File) ([]byte, error) {
	f.Cleanup()
	out, err := f.Format()
	if err != nil {
		return nil, fmt.Errorf("go.mod: %w", err)
	}
	if _, err := modfile.Parse("go.mod", out, nil); err != nil {
		return nil, errors.New("go.mod: the edited file does not parse; nothing was changed")
	}
	return out, nil
}
