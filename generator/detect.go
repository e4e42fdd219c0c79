package generator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// goMod is what mcpgen needs from the target's go.mod.
type goMod struct {
	Module   string
	Requires []string // direct requirements (indirect ones are ignored)
}

// readGoMod reads go.mod at the root of fsys.
func readGoMod(fsys fs.FS) (goMod, error) {
	src, err := fs.ReadFile(fsys, "go.mod")
	if errors.Is(err, fs.ErrNotExist) {
		return goMod{}, inputErrorf("run mcpgen at the root of a Go module (where go.mod is), pass --dir, or create one with `go mod init`",
			"the target is not a Go module: it has no go.mod")
	}
	if err != nil {
		return goMod{}, fmt.Errorf("read go.mod: %w", err)
	}
	var m goMod
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		indirect := strings.Contains(line, "// indirect")
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inBlock && f[0] == ")":
			inBlock = false
		case inBlock:
			if !indirect {
				m.Requires = append(m.Requires, unquote(f[0]))
			}
		case f[0] == "module" && len(f) >= 2:
			m.Module = unquote(f[1])
		case f[0] == "require" && len(f) >= 2 && f[1] == "(":
			inBlock = true
		case f[0] == "require" && len(f) >= 3 && !indirect:
			m.Requires = append(m.Requires, unquote(f[1]))
		}
	}
	if m.Module == "" {
		return goMod{}, inputErrorf("add a module line, e.g. `module example.com/app`", "go.mod has no module path")
	}
	return m, nil
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// drivers maps database/sql driver modules to the dialect they serve.
var drivers = map[string]Dialect{
	"modernc.org/sqlite":             SQLite,
	"github.com/mattn/go-sqlite3":    SQLite,
	"github.com/ncruces/go-sqlite3":  SQLite,
	"github.com/glebarez/go-sqlite":  SQLite,
	"github.com/jackc/pgx/v5":        Postgres,
	"github.com/jackc/pgx/v4":        Postgres,
	"github.com/lib/pq":              Postgres,
	"github.com/go-sql-driver/mysql": MySQL,
}

// detectDialect picks the database from the driver modules go.mod
// requires, else from the SQL of the app's migrations, else SQLite.
func detectDialect(m goMod, schema appSchema) (Dialect, string, error) {
	found := map[Dialect][]string{}
	for _, r := range m.Requires {
		if d, ok := drivers[r]; ok {
			found[d] = append(found[d], r)
		}
	}
	switch len(found) {
	case 0:
		if schema.Dialect != "" {
			return schema.Dialect, fmt.Sprintf("database %s, from %s (no database driver in go.mod yet)", schema.Dialect, schema.Signal), nil
		}
		return SQLite, "no database driver in go.mod, nor SQL of one database in the migrations: using sqlite (pass --database to choose)", nil
	case 1:
		for d, mods := range found {
			return d, fmt.Sprintf("database %s, from %s in go.mod", d, strings.Join(mods, ", ")), nil
		}
	}
	var names []string
	for d := range found {
		names = append(names, string(d))
	}
	sort.Strings(names)
	return "", "", inputErrorf("pass --database="+names[0]+" (or another of them)",
		"go.mod requires drivers for several databases (%s): mcpgen cannot tell which one the app uses", strings.Join(names, ", "))
}

func parseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pg":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	}
	return "", inputErrorf("use --database=sqlite, --database=postgres or --database=mysql",
		"unknown --database %s", quote(s))
}

func parseIDType(s string) (IDType, error) {
	switch s {
	case "int64":
		return IDInt64, nil
	case "string":
		return IDString, nil
	case "uuid":
		return IDUUID, nil
	}
	return "", inputErrorf("use --user-id-type=int64, --user-id-type=string or --user-id-type=uuid",
		"unknown --user-id-type %s", quote(s))
}

// walkGo calls fn for every directory of the target's own module,
// skipping vendor, testdata, hidden folders and nested modules.
func walkDirs(fsys fs.FS, fn func(dir string, entries []fs.DirEntry) error) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // an unreadable folder is not the user's model
		}
		if !d.IsDir() {
			return nil
		}
		if p != "." {
			base := path.Base(p)
			if base == "vendor" || base == "testdata" || base == "node_modules" ||
				strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
				return fs.SkipDir
			}
			if _, err := fs.Stat(fsys, path.Join(p, "go.mod")); err == nil {
				return fs.SkipDir
			}
		}
		entries, err := fs.ReadDir(fsys, p)
		if err != nil {
			return nil
		}
		return fn(p, entries)
	})
}

var gooseUp = regexp.MustCompile(`(?mi)^\s*--\s*\+goose\s+up\b`)

// findMigrationsDir returns the folder of the target's existing goose SQL
// migrations, preferring the shallowest, or "" when there is none.
func findMigrationsDir(fsys fs.FS) (string, error) {
	var found []string
	err := walkDirs(fsys, func(dir string, entries []fs.DirEntry) error {
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") || !migrationFile.MatchString(e.Name()) {
				continue
			}
			src, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
			if err == nil && gooseUp.Match(src) {
				found = append(found, dir)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look for migrations: %w", err)
	}
	if len(found) == 0 {
		return "", nil
	}
	sort.Slice(found, func(i, j int) bool {
		di, dj := strings.Count(found[i], "/"), strings.Count(found[j], "/")
		if di != dj {
			return di < dj
		}
		return found[i] < found[j]
	})
	return found[0], nil
}

// userModel is what detection learned of the user model.
type userModel struct {
	File    string // slash path of the declaring file
	Pkg     string // its package name
	IDField string
	IDType  IDType // "" when the ID field's type is not one mcpgen maps
	IDRaw   string // the ID field's type as written, for messages
	UUIDImp string // import path of the uuid package
}

// goFile is a parsed non-test Go file of the module.
type goFile struct {
	path string
	src  []byte
	ast  *ast.File
}

// walkGoFiles calls fn with the non-test Go files of each directory of
// the module (walkDirs' choice of folders) that parse: a file that does
// not is not mcpgen's to judge.
func walkGoFiles(fsys fs.FS, fn func(dir string, files []goFile) error) error {
	return walkDirs(fsys, func(dir string, entries []fs.DirEntry) error {
		var files []goFile
		fset := token.NewFileSet()
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			p := path.Join(dir, n)
			src, err := fs.ReadFile(fsys, p)
			if err != nil {
				continue
			}
			if f, err := parser.ParseFile(fset, p, src, parser.SkipObjectResolution); err == nil {
				files = append(files, goFile{p, src, f})
			}
		}
		return fn(dir, files)
	})
}

// findUserModel looks for `type <name> struct` in the target's Go files
// (not tests). It returns nil when there is none; with several, the
// shallowest path wins and the others are returned for a note.
func findUserModel(fsys fs.FS, name string) (*userModel, []string, error) {
	var found []*userModel
	err := walkGoFiles(fsys, func(dir string, gfs []goFile) error {
		files := make([]*ast.File, len(gfs))
		for i, g := range gfs {
			files[i] = g.ast
		}
		for _, g := range gfs {
			if m := modelIn(g.ast, files, name); m != nil {
				m.File = g.path
				found = append(found, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("look for type %s: %w", name, err)
	}
	if len(found) == 0 {
		return nil, nil, nil
	}
	sort.Slice(found, func(i, j int) bool {
		di, dj := strings.Count(found[i].File, "/"), strings.Count(found[j].File, "/")
		if di != dj {
			return di < dj
		}
		return found[i].File < found[j].File
	})
	var others []string
	for _, m := range found[1:] {
		others = append(others, m.File)
	}
	return found[0], others, nil
}

// modelIn finds `type name struct` in f and classifies its ID field, looking
// through the package's other files for a named ID type.
func modelIn(f *ast.File, pkg []*ast.File, name string) *userModel {
	st, ok := typeSpec(f, name).(*ast.StructType)
	if !ok {
		return nil
	}
	m := &userModel{Pkg: f.Name.Name}
	for _, field := range st.Fields.List {
		for _, n := range field.Names {
			if n.Name == "ID" || n.Name == "Id" {
				m.IDField = n.Name
				m.IDRaw = exprString(field.Type)
				m.IDType, m.UUIDImp = classifyID(field.Type, f, pkg, 0)
			}
		}
	}
	return m
}

func typeSpec(f *ast.File, name string) ast.Expr {
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.Name == name && ts.Assign == token.NoPos {
				return ts.Type
			}
		}
	}
	return nil
}

// classifyID maps an ID field type to an IDType: integer kinds to int64,
// string to string, uuid.UUID (of any package named uuid) to uuid, and a
// named type of the same package to what it is defined as.
func classifyID(e ast.Expr, f *ast.File, pkg []*ast.File, depth int) (IDType, string) {
	switch t := e.(type) {
	case *ast.Ident:
		switch t.Name {
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
			return IDInt64, ""
		case "string":
			return IDString, ""
		}
		if depth < 3 {
			for _, pf := range pkg {
				if under := typeSpec(pf, t.Name); under != nil {
					return classifyID(under, pf, pkg, depth+1)
				}
			}
		}
	case *ast.SelectorExpr:
		x, ok := t.X.(*ast.Ident)
		if !ok || t.Sel.Name != "UUID" {
			return "", ""
		}
		for _, imp := range f.Imports {
			p := unquote(imp.Path.Value)
			local := path.Base(p)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			if local == x.Name && path.Base(p) == "uuid" {
				return IDUUID, p
			}
		}
	}
	return "", ""
}

func exprString(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		return exprString(t.X) + "." + t.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(t.X)
	}
	return fmt.Sprintf("%T", e)
}

// declaredTypes lists the type names declared in the Go files of dir,
// by file, so a handler name that would collide is caught before writing.
func declaredTypes(fsys fs.FS, dir string) (map[string]string, error) {
	if err := checkConfined(fsys, dir); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	types := map[string]string{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		p := path.Join(dir, e.Name())
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		f, err := parser.ParseFile(fset, p, src, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
				for _, s := range gd.Specs {
					types[s.(*ast.TypeSpec).Name.Name] = p
				}
			}
		}
	}
	return types, nil
}

// modelCandidate is a struct that looks like the user model.
type modelCandidate struct {
	Name, File, Table string
}

// userModelCandidates lists the structs of the module (tests and mcpgen's
// files aside) that have an ID field and whose table, by the naming
// convention, the app's migrations create.
func userModelCandidates(fsys fs.FS, schema appSchema) ([]modelCandidate, error) {
	var found []modelCandidate
	err := walkGoFiles(fsys, func(dir string, files []goFile) error {
		for _, g := range files {
			if isGenerated(g.src) {
				continue
			}
			f, p := g.ast, g.path
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					if m := modelIn(f, []*ast.File{f}, ts.Name.Name); m == nil || m.IDField == "" || !ts.Name.IsExported() {
						continue
					}
					table := pluralize(underscore(ts.Name.Name))
					if _, ok := schema.Tables[table]; ok {
						found = append(found, modelCandidate{Name: ts.Name.Name, File: p, Table: table})
					}
				}
			}
		}
		return nil
	})
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found, err
}
