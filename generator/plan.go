package generator

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// Status is what a run does, or would do, to one file. The names are
// Thor's, so Rails users read them at a glance.
type Status string

// The statuses of a Change.
const (
	StatusCreate    Status = "create"    // new file
	StatusIdentical Status = "identical" // already what mcpgen writes
	StatusUpdate    Status = "update"    // mcpgen's own earlier output, unedited: replaced
	StatusConflict  Status = "conflict"  // edited or foreign: nothing is written
	StatusForce     Status = "force"     // conflict overwritten with --force
	StatusSkip      Status = "skip"      // conflict left alone with --skip
	StatusInject    Status = "inject"    // a snippet added to a user's file
	StatusUnchanged Status = "unchanged" // the snippet is already there
	StatusRemove    Status = "remove"    // deleted by uninstall, or no longer generated
	StatusKeep      Status = "keep"      // edited since mcpgen wrote it: uninstall spares it
	StatusRevert    Status = "revert"    // uninstall took an injected snippet out again
	StatusRequire   Status = "require"   // go.mod now requires the runtime (and the modules it is tested with)
)

// writes reports whether the status changes the file on disk.
func (s Status) writes() bool {
	switch s {
	case StatusCreate, StatusUpdate, StatusForce, StatusInject, StatusRemove, StatusRevert, StatusRequire:
		return true
	}
	return false
}

// Change is one file of a Plan.
type Change struct {
	Path   string
	Status Status
	Old    []byte // content on disk; nil when absent
	New    []byte // content to write; nil when removed
	Note   string // why, for statuses that need a word
}

// Plan is the complete, ordered list of changes of one run, computed
// without writing anything. Apply carries it out.
type Plan struct {
	Names   Names
	Notes   []string // what detection found
	Changes []Change // sorted by path; the manifest is among them

	// RemoveDirs are folders to remove, deepest first, when they are empty
	// after the changes.
	RemoveDirs []string

	// Blocked is a problem that forbids applying the plan but not showing
	// it: the routes cannot be injected. --pretend and --diff still show
	// everything else, then report it.
	Blocked error
}

// Conflicts returns the changes in conflict.
func (p *Plan) Conflicts() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Status == StatusConflict {
			out = append(out, c)
		}
	}
	return out
}

// Pending returns the changes that applying the plan would write.
func (p *Plan) Pending() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Status.writes() {
			out = append(out, c)
		}
	}
	return out
}

// Dirty reports whether applying the plan would change the tree.
func (p *Plan) Dirty() bool { return len(p.Pending()) > 0 }

// renderPlaced renders every file of an install for n, migrations placed
// in the target's migrations folder (stamped with opts.Now, else now).
func renderPlaced(fsys fs.FS, n Names, opts Options) ([]File, error) {
	files, migs, err := render(n)
	if err != nil {
		return nil, err
	}
	if err := checkGeneratedNames(n, files); err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	migFiles, err := placeMigrations(fsys, n.MigrationsDir, now, migs)
	if err != nil {
		return nil, err
	}
	return append(files, migFiles...), nil
}

// PlanInstall computes the changes of `mcpgen oauth install` on the target
// read through fsys.
func PlanInstall(fsys fs.FS, opts Options, mode Mode) (*Plan, error) {
	n, notes, err := Resolve(fsys, opts)
	if err != nil {
		return nil, err
	}
	files, err := renderPlaced(fsys, n, opts)
	if err != nil {
		return nil, err
	}
	old, err := readManifest(fsys)
	if err != nil {
		return nil, err
	}
	p := &Plan{Names: n, Notes: notes}
	next := &Manifest{Version: Version, Options: manifestOptions(n), Files: map[string]string{}}
	dirs := map[string]bool{}
	if old != nil {
		for _, d := range old.Dirs {
			if isDir(fsys, d) {
				dirs[d] = true
			}
		}
	}

	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.Path] {
			return nil, fmt.Errorf("internal error: two generated files at %s", f.Path)
		}
		seen[f.Path] = true
		c, err := compare(fsys, f, old, mode)
		if err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, c)
		switch c.Status {
		case StatusSkip, StatusConflict:
			// Not ours now: keep what the old manifest knew, if anything.
			if old != nil && old.Files[f.Path] != "" {
				next.Files[f.Path] = old.Files[f.Path]
			}
		default:
			next.Files[f.Path] = hash(f.Content)
		}
		if c.Status == StatusCreate {
			for d := path.Dir(f.Path); d != "." && !isDir(fsys, d); d = path.Dir(d) {
				dirs[d] = true
			}
		}
	}

	// Files an earlier run wrote that this one no longer generates (options
	// changed, or a newer mcpgen): removed when unedited. Migrations stay:
	// they may have been applied.
	if old != nil {
		for fp, h := range old.Files {
			if seen[fp] || migrationFile.MatchString(path.Base(fp)) {
				if !seen[fp] {
					next.Files[fp] = h
				}
				continue
			}
			c, ok, err := removal(fsys, fp, h)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if c.Status == StatusKeep {
				c.Note = "no longer generated, but edited: kept"
				next.Files[fp] = h
			}
			p.Changes = append(p.Changes, c)
		}
	}

	// Snippets injected into the user's own files (routes).
	ichanges, injected, inotes, err := injections(fsys, n)
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		p.Blocked = err
	case err != nil:
		return nil, err
	}
	p.Changes = append(p.Changes, ichanges...)

	// The runtime, pinned in go.mod.
	gomod, added, err := requireModules(fsys, n)
	if err != nil {
		return nil, err
	}
	if gomod.Status != StatusUnchanged {
		p.Changes = append(p.Changes, gomod)
	}
	next.Requires = added
	if old != nil {
		for _, r := range old.Requires {
			if !slices.Contains(next.Requires, r) {
				next.Requires = append(next.Requires, r)
			}
		}
	}
	p.Notes = append(p.Notes, inotes...)
	next.Injections = injected
	if old != nil {
		// An injection this run does not repeat (say, --skip-routes now)
		// stays recorded, so uninstall can still take it out.
		for _, oi := range old.Injections {
			if !slices.Contains(injected, oi) {
				next.Injections = append(next.Injections, oi)
			}
		}
	}

	for d := range dirs {
		next.Dirs = append(next.Dirs, d)
	}
	mc, err := manifestChange(fsys, next.encode())
	if err != nil {
		return nil, err
	}
	p.Changes = append(p.Changes, mc)
	sortChanges(p.Changes)
	return p, nil
}

// checkGeneratedNames refuses a handler name that another declaration of
// the generated package already uses (Store, NewStore, KeysEnv, ...): the
// package would not compile.
func checkGeneratedNames(n Names, files []File) error {
	fset := token.NewFileSet()
	for _, f := range files {
		if path.Dir(f.Path) != n.PackageDir || !strings.HasSuffix(f.Path, ".go") {
			continue
		}
		af, err := parser.ParseFile(fset, f.Path, f.Content, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("internal error: generated %s does not parse: %w", f.Path, err)
		}
		for _, name := range topLevelNames(af) {
			// The handler itself, the struct handler.go declares, is no collision.
			if name.name == n.HandlerType && !(name.isStruct && f.Path == n.PackageDir+"/handler.go") {
				return inputErrorf("pass another --handler-name, e.g. "+n.HandlerType+"Handler",
					"handler name %s collides with %s, which mcpgen declares in %s", n.HandlerType, name.name, f.Path)
			}
		}
	}
	return nil
}

type declName struct {
	name     string
	isStruct bool // a struct type
}

// topLevelNames lists the package-level names a file declares.
func topLevelNames(f *ast.File) []declName {
	var out []declName
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				out = append(out, declName{name: d.Name.Name})
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					_, isStruct := s.Type.(*ast.StructType)
					out = append(out, declName{name: s.Name.Name, isStruct: isStruct})
				case *ast.ValueSpec:
					for _, id := range s.Names {
						out = append(out, declName{name: id.Name})
					}
				}
			}
		}
	}
	return out
}

// compare classifies one generated file against the target: the three-way
// check between what is on disk, what mcpgen wrote last time (the
// manifest) and what it would write now.
func compare(fsys fs.FS, f File, old *Manifest, mode Mode) (Change, error) {
	c := Change{Path: f.Path, New: f.Content}
	cur, err := readRegular(fsys, f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		c.Status = StatusCreate
		return c, nil
	}
	if err != nil {
		return c, err
	}
	c.Old = cur
	switch {
	case bytes.Equal(cur, f.Content):
		c.Status = StatusIdentical
	case old != nil && old.Files[f.Path] == hash(cur):
		c.Status = StatusUpdate
	case mode == ModeForce:
		c.Status = StatusForce
	case mode == ModeSkip:
		c.Status = StatusSkip
	default:
		c.Status = StatusConflict
		c.Note = "differs from what mcpgen writes"
		if old != nil && old.Files[f.Path] != "" {
			c.Note = "edited since mcpgen wrote it"
		}
	}
	return c, nil
}

// removal plans the removal of a file mcpgen wrote with hash h. ok is
// false when the file is already gone.
func removal(fsys fs.FS, p, h string) (Change, bool, error) {
	cur, err := readRegular(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return Change{}, false, nil
	}
	if err != nil {
		return Change{}, false, err
	}
	c := Change{Path: p, Old: cur, Status: StatusRemove}
	if hash(cur) != h {
		c.Status, c.New, c.Note = StatusKeep, cur, "edited since mcpgen wrote it: kept"
	}
	return c, true, nil
}

// manifestChange plans writing the manifest; it is mcpgen's own file, so
// it is never a conflict.
func manifestChange(fsys fs.FS, content []byte) (Change, error) {
	c := Change{Path: ManifestPath, New: content}
	cur, err := readRegular(fsys, ManifestPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Status = StatusCreate
	case err != nil:
		return c, err
	case bytes.Equal(cur, content):
		c.Old, c.Status = cur, StatusIdentical
	default:
		c.Old, c.Status = cur, StatusUpdate
	}
	return c, nil
}

// PlanUninstall computes the removal of what install wrote. With a
// manifest, files unedited since mcpgen wrote them are removed and edited
// ones kept; without one, only files identical to what this version of
// mcpgen would write for opts are removed.
func PlanUninstall(fsys fs.FS, opts Options) (*Plan, error) {
	n, notes, err := Resolve(fsys, opts)
	if err != nil {
		return nil, err
	}
	old, err := readManifest(fsys)
	if err != nil {
		return nil, err
	}
	p := &Plan{Names: n, Notes: notes}
	if old == nil {
		return uninstallWithoutManifest(fsys, p, opts)
	}
	kept := &Manifest{Version: old.Version, Options: old.Options, Files: map[string]string{}}
	for fp, h := range old.Files {
		c, ok, err := removal(fsys, fp, h)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if c.Status == StatusKeep {
			kept.Files[fp] = h
		}
		p.Changes = append(p.Changes, c)
	}
	uchanges, err := uninjections(fsys, old.Injections)
	if err != nil {
		return nil, err
	}
	p.Changes = append(p.Changes, uchanges...)
	if c, ok, err := unrequireModules(fsys, old.Requires, false); err != nil {
		return nil, err
	} else if ok {
		p.Changes = append(p.Changes, c)
	}
	p.RemoveDirs = append(p.RemoveDirs, old.Dirs...)
	if len(kept.Files) == 0 {
		cur, err := readRegular(fsys, ManifestPath)
		if err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, Change{Path: ManifestPath, Status: StatusRemove, Old: cur})
	} else {
		kept.Dirs = old.Dirs
		mc, err := manifestChange(fsys, kept.encode())
		if err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, mc)
	}
	sortChanges(p.Changes)
	sortDirs(p.RemoveDirs)
	return p, nil
}

func uninstallWithoutManifest(fsys fs.FS, p *Plan, opts Options) (*Plan, error) {
	p.Notes = append(p.Notes, "no "+ManifestPath+" in the target: removing only files identical to what this mcpgen writes for these options")
	files, err := renderPlaced(fsys, p.Names, opts)
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, f := range files {
		c, ok, err := removal(fsys, f.Path, hash(f.Content))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if c.Status == StatusKeep {
			c.Note = "differs from what mcpgen writes: kept"
		}
		p.Changes = append(p.Changes, c)
		// Only folders inside the generated package are surely mcpgen's.
		for d := path.Dir(f.Path); d == p.Names.PackageDir || strings.HasPrefix(d, p.Names.PackageDir+"/"); d = path.Dir(d) {
			dirs[d] = true
		}
	}
	uchanges, err := uninjectionsWithoutManifest(fsys, p.Names)
	if err != nil {
		return nil, err
	}
	p.Changes = append(p.Changes, uchanges...)
	// The runtime is surely mcpgen's; the modules it pins are taken to be
	// too where go.mod requires them at exactly the pinned version.
	if c, ok, err := unrequireModules(fsys, pinnedRequires(), true); err != nil {
		return nil, err
	} else if ok {
		p.Changes = append(p.Changes, c)
	}
	for d := range dirs {
		p.RemoveDirs = append(p.RemoveDirs, d)
	}
	sortChanges(p.Changes)
	sortDirs(p.RemoveDirs)
	return p, nil
}

// readRegular reads a file, refusing folders and other non-regular files
// where a generated file belongs, and paths that lead outside the target.
func readRegular(fsys fs.FS, p string) ([]byte, error) {
	if err := checkConfined(fsys, p); err != nil {
		return nil, err
	}
	info, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, inputErrorf("move it away, then re-run", "%s exists and is not a regular file", p)
	}
	return fs.ReadFile(fsys, p)
}

// checkConfined names the symbolic link when p, or a folder on the way to
// it, is a link leading outside the target. (The writer's os.Root refuses
// such paths anyway; this turns its error into one that says what to do.)
func checkConfined(fsys fs.FS, p string) error {
	lfs, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil
	}
	parts := strings.Split(p, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		info, err := lfs.Lstat(prefix)
		if err != nil {
			return nil // missing: nothing to follow
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := lfs.ReadLink(prefix)
		if err != nil {
			return fmt.Errorf("read link %s: %w", prefix, err)
		}
		joined := path.Join(path.Dir(prefix), target)
		if path.IsAbs(target) || joined == ".." || strings.HasPrefix(joined, "../") {
			return inputErrorf("replace the link with a real folder or file inside the project, or move it away",
				"%s is a symbolic link to %s, outside the project: mcpgen writes only inside it", prefix, target)
		}
	}
	return nil
}

func isDir(fsys fs.FS, p string) bool {
	info, err := fs.Stat(fsys, p)
	return err == nil && info.IsDir()
}

func sortChanges(cs []Change) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Path < cs[j].Path })
}

// sortDirs orders folders deepest first, so children go before parents.
func sortDirs(ds []string) {
	sort.Slice(ds, func(i, j int) bool {
		ci, cj := strings.Count(ds[i], "/"), strings.Count(ds[j], "/")
		if ci != cj {
			return ci > cj
		}
		return ds[i] < ds[j]
	})
}
