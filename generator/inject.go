package generator

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// routesMarker is the comment that says where the routes are registered:
// the call goes on the line after it, inside the function that sets up the
// app's *http.ServeMux.
const routesMarker = "// mcpgen:routes"

// importMarker is the Marker of an Injection that is an import spec mcpgen
// added to the file's imports (the Snippet is the exact text added).
const importMarker = "import"

// injections plans the snippets install adds to the user's own files (the
// routes): one Change per file (StatusInject, or StatusUnchanged when the
// snippet is there already), what to record in the manifest, and notes.
//
// The file is the one Go file of the module holding the marker comment;
// the call registering the routes goes on the line after it, with the
// *http.ServeMux and *sql.DB found in scope there, and the package's own
// current-user function when it has one of the right signature. Anything
// mcpgen cannot settle for sure is an InputError, and nothing is written.
func injections(fsys fs.FS, n Names) ([]Change, []Injection, []string, error) {
	sites, err := findRoutesMarkers(fsys, n)
	if n.SkipRoutes {
		// Nothing is injected: a marker file that does not parse is no
		// reason to stop; the note shows the generic call then.
		if err != nil {
			sites = nil
		}
		return nil, nil, []string{skipRoutesNote(fsys, n, sites)}, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	switch len(sites) {
	case 0:
		return nil, nil, nil, inputErrorf(
			"add this line where your routes are registered, inside the function that creates the *http.ServeMux (after it is created), then re-run:\n"+
				"\t"+routesMarker+"\n"+
				"  or pass --skip-routes and add the call yourself: "+genericRoutesCall(n),
			"no %s marker comment in the module's Go files: mcpgen does not know where to register the routes", routesMarker)
	case 1:
	default:
		var at []string
		for _, s := range sites {
			at = append(at, s.where())
		}
		return nil, nil, nil, inputErrorf(
			"keep exactly one "+routesMarker+" line, in the function that sets up the *http.ServeMux the routes belong to",
			"several %s markers: %s", routesMarker, strings.Join(at, ", "))
	}
	site := sites[0]
	call, err := planRoutesCall(fsys, n, site)
	if err != nil {
		return nil, nil, nil, err
	}
	var notes []string
	if call.note != "" {
		notes = append(notes, call.note)
	}

	if line, present := call.existing(); present {
		c := Change{Path: site.path, Status: StatusUnchanged, Old: site.src, New: site.src}
		if !bytes.HasPrefix(site.src[site.lineEnd:], []byte(call.snippet())) {
			// The user moved or edited the call: theirs now, not recorded.
			c.Note = fmt.Sprintf("routes already registered at line %d", line)
			return []Change{c}, nil, notes, nil
		}
		return []Change{c}, []Injection{{Path: site.path, Marker: site.marker, Snippet: call.snippet()}}, notes, nil
	}

	out, injected, err := injectRoutes(site, call)
	if err != nil {
		return nil, nil, nil, err
	}
	c := Change{Path: site.path, Status: StatusInject, Old: site.src, New: out, Note: call.expr()}
	return []Change{c}, injected, notes, nil
}

// uninjections plans taking recorded snippets out again (StatusRevert).
// A snippet that is no longer there as mcpgen wrote it is left alone,
// with the whole file, and said so in the change's note.
func uninjections(fsys fs.FS, recorded []Injection) ([]Change, error) {
	var paths []string
	byPath := map[string][]Injection{}
	for _, in := range recorded {
		if _, ok := byPath[in.Path]; !ok {
			paths = append(paths, in.Path)
		}
		byPath[in.Path] = append(byPath[in.Path], in)
	}
	var out []Change
	for _, p := range paths {
		cur, err := readRegular(fsys, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		reverted, leftAlone, note := revertInjections(cur, byPath[p])
		switch {
		case leftAlone:
			out = append(out, Change{Path: p, Status: StatusUnchanged, Old: cur, New: cur, Note: note})
		case !bytes.Equal(reverted, cur):
			out = append(out, Change{Path: p, Status: StatusRevert, Old: cur, New: reverted, Note: note})
		}
	}
	return out, nil
}

// uninjectionsWithoutManifest plans taking out the routes call when there
// is no manifest recording it: the file is reverted only to a content
// from which install would produce exactly the file as it is now.
func uninjectionsWithoutManifest(fsys fs.FS, n Names) ([]Change, error) {
	sites, err := findRoutesMarkers(fsys, n)
	if err != nil || len(sites) != 1 {
		return nil, nil // nothing mcpgen can recognise as its own
	}
	site := sites[0]
	call, err := planRoutesCall(fsys, n, site)
	if err != nil || call.addImport {
		return nil, nil // an injected file imports the package already
	}
	snippet := call.snippet()
	if !bytes.HasPrefix(site.src[site.lineEnd:], []byte(snippet)) {
		return nil, nil
	}
	without := slices.Concat(site.src[:site.lineEnd], site.src[site.lineEnd+len(snippet):])
	// The import goes too when nothing else uses it: left alone, it would
	// not compile.
	cands := [][]byte{without}
	if f, err := parser.ParseFile(token.NewFileSet(), "", without, parser.SkipObjectResolution); err == nil && !usesName(f, call.pkg) {
		cands = importRemovals(without, n.PackageImport)
	}
	for _, cand := range cands {
		s, err := parseRoutesSite(site.path, cand)
		if err != nil || s == nil {
			continue
		}
		c, err := planRoutesCall(fsys, n, s)
		if err != nil {
			continue
		}
		if again, _, err := injectRoutes(s, c); err == nil && bytes.Equal(again, site.src) {
			return []Change{{Path: site.path, Status: StatusRevert, Old: site.src, New: cand}}, nil
		}
	}
	return []Change{{Path: site.path, Status: StatusUnchanged, Old: site.src, New: site.src,
		Note: "not what mcpgen injects: left alone; remove " + call.expr() + " yourself"}}, nil
}

// genericRoutesCall is the call that registers the routes, with
// placeholders for the app's variables.
func genericRoutesCall(n Names) string {
	return n.PackageName + ".Register(mux, db, " + n.PackageName + ".UserFromContext)" +
		" (import " + strconv.Quote(n.PackageImport) + ")"
}

// skipRoutesNote tells a --skip-routes user what to add: the call as
// mcpgen would inject it when the marker settles it, else the generic one.
func skipRoutesNote(fsys fs.FS, n Names, sites []*routesSite) string {
	if len(sites) == 1 {
		if call, err := planRoutesCall(fsys, n, sites[0]); err == nil {
			if _, present := call.existing(); present {
				return "routes: --skip-routes, and " + sites[0].path + " registers them already"
			}
			return fmt.Sprintf("routes: --skip-routes, so not injected; add to %s after line %d: %s (import %q)",
				sites[0].path, sites[0].line, call.expr(), n.PackageImport)
		}
	}
	return "routes: --skip-routes, so not injected; register them where you build your *http.ServeMux: " + genericRoutesCall(n)
}

// routesSite is a marker comment found in a Go file.
type routesSite struct {
	path    string
	src     []byte
	fset    *token.FileSet
	file    *ast.File
	marker  string      // the comment as written
	pos     token.Pos   // of the comment
	line    int         // its line, from 1
	lineEnd int         // offset just past the marker line's newline
	indent  string      // the marker line's indentation
	typed   *typedScope // loaded on first need; see loadTypedScope
}

func (s *routesSite) where() string { return fmt.Sprintf("%s:%d", s.path, s.line) }

// findRoutesMarkers returns the marker comments in the module's Go files,
// skipping tests, vendored and testdata folders and the generated package.
func findRoutesMarkers(fsys fs.FS, n Names) ([]*routesSite, error) {
	var sites []*routesSite
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != "." && (name == "vendor" || name == "testdata" || name == "node_modules" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || p == n.PackageDir) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if !bytes.Contains(src, []byte(routesMarker)) {
			return nil
		}
		found, err := parseRoutesSites(p, src)
		if err != nil {
			return err
		}
		sites = append(sites, found...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sites, nil
}

// parseRoutesSite parses src and returns its one marker, or nil.
func parseRoutesSite(p string, src []byte) (*routesSite, error) {
	sites, err := parseRoutesSites(p, src)
	if err != nil || len(sites) != 1 {
		return nil, err
	}
	return sites[0], nil
}

func parseRoutesSites(p string, src []byte) ([]*routesSite, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, inputErrorf("fix the file, or pass --skip-routes", "%s has the %s marker but does not parse: %v", p, routesMarker, err)
	}
	var sites []*routesSite
	for _, g := range f.Comments {
		for _, c := range g.List {
			if c.Text != routesMarker && !strings.HasPrefix(c.Text, routesMarker+" ") {
				continue
			}
			off := fset.Position(c.Pos()).Offset
			s := &routesSite{path: p, src: src, fset: fset, file: f, marker: c.Text, pos: c.Pos(),
				line: fset.Position(c.Pos()).Line, lineEnd: lineAfter(src, off), indent: string(src[lineStart(src, off):off])}
			if strings.TrimLeft(s.indent, " \t") != "" {
				return nil, inputErrorf("put the marker comment on a line of its own",
					"%s: the %s marker shares its line with code", s.where(), routesMarker)
			}
			sites = append(sites, s)
		}
	}
	return sites, nil
}

// routesCall is the call registering the routes at a site.
type routesCall struct {
	site       *routesSite
	module     string // of the app
	importPath string // of the generated package
	pkg        string // name the file refers to the generated package by
	addImport  bool   // the file does not import it yet
	router     routerVar
	imports    [][2]string // more packages to import, path and name: the current user's, pgx's stdlib
	local      string      // a free name for a variable the statements need (gin's handler)
	args       [2]string   // the database and the current-user function
	note       string      // what the user should know about the choice of arguments
}

// statements are the lines mounting the routes, unindented.
func (c routesCall) statements() []string {
	return c.router.kind.statements(c.router.name, c.pkg, c.args[0], c.args[1], c.router.pkg, c.local)
}

// expr is the statements on one line, for messages.
func (c routesCall) expr() string { return strings.Join(c.statements(), "; ") }

// snippet is the lines added after the marker.
func (c routesCall) snippet() string {
	return c.site.indent + strings.Join(c.statements(), "\n"+c.site.indent) + "\n"
}

// existing reports whether the file calls <pkg>.Register already, and
// the line of the first such call.
func (c routesCall) existing() (int, bool) {
	if c.addImport {
		return 0, false
	}
	calls := registerCalls(c.site.file, c.pkg)
	if len(calls) == 0 {
		return 0, false
	}
	return c.site.fset.Position(calls[0].Pos()).Line, true
}

// poolMark prefixes a *pgxpool.Pool among the database candidates.
const poolMark = "pool:"

// registerCalls finds the calls registering the routes in f:
// pkg.Register(...) and pkg.Routes(...).
func registerCalls(f *ast.File, pkg string) []*ast.CallExpr {
	var out []*ast.CallExpr
	ast.Inspect(f, func(nd ast.Node) bool {
		if call, ok := nd.(*ast.CallExpr); ok && (isSelector(call.Fun, pkg, "Register") || isSelector(call.Fun, pkg, "Routes")) {
			out = append(out, call)
		}
		return true
	})
	return out
}

// planRoutesCall settles the arguments and the package name of the call
// at site.
func planRoutesCall(fsys fs.FS, n Names, site *routesSite) (routesCall, error) {
	call := routesCall{site: site, module: n.Module, importPath: n.PackageImport}
	if path.Dir(site.path) == n.PackageDir {
		return call, inputErrorf("move the marker to the app's own routes", "%s is inside the generated package %s", site.where(), n.PackageDir)
	}
	funcs := enclosingFuncs(site.file, site.pos)
	if len(funcs) == 0 {
		return call, inputErrorf("move the marker into the function that sets up your *http.ServeMux",
			"%s: the %s marker is not inside a function", site.where(), routesMarker)
	}
	fix := func(router string) string {
		return "move the marker where exactly one router and one *sql.DB are in scope, or pass --skip-routes and add the line yourself: " + router
	}
	routers := routersInScope(site, funcs)
	if len(routers) == 0 {
		routers = typedRouters(n, site)
	}
	switch len(routers) {
	case 0:
		return call, inputErrorf(fix(routerIdioms(n.PackageName)),
			"%s: no router variable in scope at the %s marker (mcpgen knows *http.ServeMux, chi, gorilla/mux, echo and gin, as parameters, receivers and local variables, or by their type)",
			site.where(), routesMarker)
	case 1:
		call.router = routers[0]
	default:
		var names []string
		for _, r := range routers {
			names = append(names, r.name+" ("+r.kind.name+")")
		}
		return call, inputErrorf(fix(routerIdioms(n.PackageName)), "%s: several routers in scope at the %s marker: %s",
			site.where(), routesMarker, strings.Join(names, ", "))
	}

	sqlName, _ := importName(site.file, "database/sql")
	dbs := namesInScope(funcs, site.pos, func(t ast.Expr) bool { return isPtrTo(t, sqlName, "DB") },
		func(v ast.Expr) bool { return isCallOf(v, sqlName, "OpenDB") },
		func(v ast.Expr) bool { return isCallOf(v, sqlName, "Open") })
	pkgFiles, err := packageFiles(fsys, site)
	if err != nil {
		return call, err
	}
	if len(dbs) == 0 {
		dbs = dbFieldsInScope(site, funcs, dbFields(pkgFiles, "database/sql", "DB"))
	}
	if len(dbs) == 0 {
		dbs = typedHandles(n, site, "database/sql", "DB")
	}
	if len(dbs) == 0 && n.Dialect == Postgres {
		// A pgx pool serves the store through database/sql's adapter.
		poolName, _ := importName(site.file, importPgxPool)
		pools := namesInScope(funcs, site.pos, func(t ast.Expr) bool { return isPtrTo(t, poolName, "Pool") },
			func(ast.Expr) bool { return false },
			func(v ast.Expr) bool { return isCallOf(v, poolName, "New") || isCallOf(v, poolName, "NewWithConfig") })
		pools = append(pools, dbFieldsInScope(site, funcs, dbFields(pkgFiles, importPgxPool, "Pool"))...)
		if len(pools) == 0 {
			pools = typedHandles(n, site, importPgxPool, "Pool")
		}
		for _, p := range pools {
			dbs = append(dbs, poolMark+p)
		}
	}
	paste := strings.Join(call.router.kind.statements(call.router.name, n.PackageName, "db", "currentUser", call.router.pkg, "h"), "; ")
	switch len(dbs) {
	case 0:
		return call, inputErrorf(fix(paste), "%s: no *sql.DB in scope at the %s marker (mcpgen looks at parameters, receivers, local variables, their fields and methods returning one)",
			site.where(), routesMarker)
	case 1:
	default:
		return call, inputErrorf(fix(paste), "%s: several *sql.DB in scope at the %s marker: %s",
			site.where(), routesMarker, strings.Join(dbs, ", "))
	}

	pkg, imported := importName(site.file, n.PackageImport)
	if imported && (pkg == "_" || pkg == ".") {
		return call, inputErrorf("import it by name, or pass --skip-routes", "%s imports %s as %s", site.path, n.PackageImport, pkg)
	}
	taken := map[string]bool{}
	for _, name := range packageDecls(pkgFiles) {
		taken[name] = true
	}
	for _, im := range site.file.Imports {
		taken[specName(im)] = true
	}
	// Names used before the marker are taken; what follows it may be what
	// an earlier install wrote, and must plan the same again.
	for _, fn := range funcs {
		ast.Inspect(fn, func(nd ast.Node) bool {
			if id, ok := nd.(*ast.Ident); ok && id.Pos() < site.pos {
				taken[id.Name] = true
			}
			return true
		})
	}
	free := func(name string) string {
		out := name
		for i := 1; taken[out]; i++ {
			out = name + strconv.Itoa(i+1)
		}
		taken[out] = true
		return out
	}
	if !imported {
		pkg = free(n.PackageName)
		call.addImport = true
	}
	call.pkg = pkg
	call.local = free("mcpConnections")
	if call.router.addImport {
		call.router.pkg = free(call.router.pkg)
		call.imports = append(call.imports, [2]string{call.router.kind.importPath, call.router.pkg})
	}

	u, note, err := chooseUserFunc(fsys, n, site)
	if err != nil {
		return call, err
	}
	call.note = note
	user := u.name
	switch {
	case u.dir == n.PackageDir: // UserFromContext, as --current-user asked
		user = pkg + "." + u.name
	case u.dir != path.Dir(site.path):
		imp := n.Module
		if u.dir != "." {
			imp += "/" + u.dir
		}
		name, ok := importName(site.file, imp)
		if !ok {
			name = free(u.pkg)
			call.imports = append(call.imports, [2]string{imp, name})
		}
		user = name + "." + u.name
	}
	db := dbs[0]
	if pool, ok := strings.CutPrefix(db, poolMark); ok {
		name, imported := importName(site.file, importStdlib)
		if !imported {
			name = free("stdlib")
			call.imports = append(call.imports, [2]string{importStdlib, name})
		}
		db = name + ".OpenDBFromPool(" + pool + ")"
	}
	if u.ctx {
		user = pkg + ".FromContext(" + user + ")"
	}
	call.args = [2]string{db, user}
	return call, nil
}

// enclosingFuncs returns the functions whose body holds pos, outermost
// first.
func enclosingFuncs(f *ast.File, pos token.Pos) []ast.Node {
	var out []ast.Node
	ast.Inspect(f, func(nd ast.Node) bool {
		var body *ast.BlockStmt
		switch fn := nd.(type) {
		case *ast.FuncDecl:
			body = fn.Body
		case *ast.FuncLit:
			body = fn.Body
		}
		if body != nil && body.Lbrace < pos && pos < body.Rbrace {
			out = append(out, nd)
		}
		return nd == nil || (nd.Pos() <= pos && pos < nd.End())
	})
	return out
}

// namesInScope returns, deduplicated in order of appearance, the names
// visible at pos that funcs declare with a type matching isType (as
// parameters, results or typed var declarations) or that are defined
// from a value matching isValue (single) or isPair (the first of two,
// like sql.Open's result).
func namesInScope(funcs []ast.Node, pos token.Pos, isType, isValue, isPair func(ast.Expr) bool) []string {
	var names []string
	add := func(id *ast.Ident) {
		if id != nil && id.Name != "_" && !slices.Contains(names, id.Name) {
			names = append(names, id.Name)
		}
	}
	fields := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			if isType(f.Type) {
				for _, id := range f.Names {
					add(id)
				}
			}
		}
	}
	for _, fn := range funcs {
		var ft *ast.FuncType
		var body *ast.BlockStmt
		switch fn := fn.(type) {
		case *ast.FuncDecl:
			ft, body = fn.Type, fn.Body
			fields(fn.Recv)
		case *ast.FuncLit:
			ft, body = fn.Type, fn.Body
		}
		fields(ft.Params)
		fields(ft.Results)

		// Declarations before pos, in a scope that holds pos. Nested
		// function literals are their own entries in funcs, or not in
		// scope at all.
		var stack []ast.Node
		ast.Inspect(body, func(nd ast.Node) bool {
			if nd == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			if _, ok := nd.(*ast.FuncLit); ok || nd.Pos() >= pos {
				return false
			}
			inScope := scopeHolds(stack, pos)
			stack = append(stack, nd)
			if !inScope {
				return true
			}
			switch s := nd.(type) {
			case *ast.AssignStmt:
				if s.Tok != token.DEFINE {
					break
				}
				if len(s.Lhs) == len(s.Rhs) {
					for i, v := range s.Rhs {
						if isValue(v) {
							id, _ := s.Lhs[i].(*ast.Ident)
							add(id)
						}
					}
				} else if len(s.Lhs) == 2 && len(s.Rhs) == 1 && isPair != nil && isPair(s.Rhs[0]) {
					id, _ := s.Lhs[0].(*ast.Ident)
					add(id)
				}
			case *ast.ValueSpec:
				for i, id := range s.Names {
					switch {
					case s.Type != nil && isType(s.Type):
						add(id)
					case s.Type == nil && len(s.Values) == len(s.Names) && isValue(s.Values[i]):
						add(id)
					case s.Type == nil && i == 0 && len(s.Names) == 2 && len(s.Values) == 1 && isPair != nil && isPair(s.Values[0]):
						add(id)
					}
				}
			}
			return true
		})
	}
	return names
}

// scopeHolds reports whether a declaration whose ancestors are stack
// (innermost last) is visible at pos: its innermost enclosing block-like
// node must hold pos.
func scopeHolds(stack []ast.Node, pos token.Pos) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		switch s := stack[i].(type) {
		case *ast.BlockStmt, *ast.CaseClause, *ast.CommClause, *ast.IfStmt, *ast.ForStmt,
			*ast.RangeStmt, *ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.SelectStmt:
			return s.Pos() <= pos && pos < s.End()
		}
	}
	return true
}

// packageFiles parses the marker file's package: the non-test files of its
// folder with its package name, the marker's file as read.
func packageFiles(fsys fs.FS, site *routesSite) ([]*ast.File, error) {
	dir := path.Dir(site.path)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		p := path.Join(dir, name)
		f := site.file
		if p != site.path {
			src, err := fs.ReadFile(fsys, p)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			f, err = parser.ParseFile(token.NewFileSet(), p, src, parser.SkipObjectResolution)
			if err != nil || f.Name.Name != site.file.Name.Name {
				continue // not part of the package as it builds
			}
		}
		files = append(files, f)
	}
	return files, nil
}

// packageDecls returns the top-level names of the package's files.
func packageDecls(files []*ast.File) []string {
	var decls []string
	for _, f := range files {
		for _, d := range topLevelNames(f) {
			decls = append(decls, d.name)
		}
	}
	return decls
}

// userIDGoType spells the user ID type for messages.
func userIDGoType(n Names) string {
	switch n.UserIDType {
	case IDUUID:
		return "uuid.UUID"
	case IDString:
		return "string"
	}
	return "int64"
}

// flatten lists a field list's types, one per name.
func flatten(fl *ast.FieldList) []ast.Expr {
	if fl == nil {
		return nil
	}
	var out []ast.Expr
	for _, f := range fl.List {
		for range max(1, len(f.Names)) {
			out = append(out, f.Type)
		}
	}
	return out
}

// importName returns the name f refers to the package at importPath by.
func importName(f *ast.File, importPath string) (string, bool) {
	for _, im := range f.Imports {
		if p, err := strconv.Unquote(im.Path.Value); err == nil && p == importPath {
			return specName(im), true
		}
	}
	return "", false
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// specName is the name an import spec binds: its explicit name, else the
// last element of the path (the one before a /vN major version suffix).
func specName(im *ast.ImportSpec) string {
	if im.Name != nil {
		return im.Name.Name
	}
	p, _ := strconv.Unquote(im.Path.Value)
	base := path.Base(p)
	if majorVersion.MatchString(base) && path.Dir(p) != "." {
		base = path.Base(path.Dir(p))
	}
	return strings.ReplaceAll(base, "-", "_")
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && pkg != "" && id.Name == pkg
}

func isPtrTo(e ast.Expr, pkg, name string) bool {
	star, ok := e.(*ast.StarExpr)
	return ok && isSelector(star.X, pkg, name)
}

func isCallOf(e ast.Expr, pkg, name string) bool {
	call, ok := e.(*ast.CallExpr)
	return ok && isSelector(call.Fun, pkg, name)
}

func isAddrOfLit(e ast.Expr, pkg, name string) bool {
	u, ok := e.(*ast.UnaryExpr)
	if !ok || u.Op != token.AND {
		return false
	}
	lit, ok := u.X.(*ast.CompositeLit)
	return ok && isSelector(lit.Type, pkg, name)
}

// injectRoutes adds the call after the marker, and the import when the
// file lacks it, then checks the result: it parses, calls Register once,
// and is gofmt-clean when the original was.
func injectRoutes(site *routesSite, call routesCall) ([]byte, []Injection, error) {
	snippet := call.snippet()
	out := slices.Concat(site.src[:site.lineEnd], []byte(snippet), site.src[site.lineEnd:])
	injected := []Injection{{Path: site.path, Marker: site.marker, Snippet: snippet}}
	// The imports go in at offsets of the original file, before the
	// snippet's line: the last first, so the others stay where they were.
	type insertion struct {
		at   int
		text string
	}
	var ins []insertion
	var imports [][2]string
	if call.addImport {
		imports = append(imports, [2]string{call.importPath, call.pkg})
	}
	for _, im := range append(imports, call.imports...) {
		spec := strconv.Quote(im[0])
		if im[1] != defaultImportName(im[0]) {
			spec = im[1] + " " + spec
		}
		at, text, err := importInsertion(site, call.module, im[0], spec)
		if err != nil {
			return nil, nil, err
		}
		ins = append(ins, insertion{at, text})
	}
	slices.SortFunc(ins, func(a, b insertion) int {
		if a.at != b.at {
			return b.at - a.at
		}
		return strings.Compare(b.text, a.text)
	})
	for _, in := range ins {
		out = slices.Concat(out[:in.at], []byte(in.text), out[in.at:])
		injected = append(injected, Injection{Path: site.path, Marker: importMarker, Snippet: in.text})
	}
	if err := checkInjected(site, call, out); err != nil {
		return nil, nil, err
	}
	return out, injected, nil
}

func defaultImportName(p string) string {
	return specName(&ast.ImportSpec{Path: &ast.BasicLit{Value: strconv.Quote(p)}})
}

// importInsertion returns where to insert the import spec into the site's
// file, and the text to insert: in the import group of the app's own
// packages, at its sorted place, else in a new group after the others.
func importInsertion(site *routesSite, module, importPath, spec string) (int, string, error) {
	src, fset := site.src, site.fset
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	line := func(p token.Pos) int { return fset.Position(p).Line }
	doubt := func(format string, args ...any) error {
		return inputErrorf("add the import "+spec+" to "+site.path+" yourself and re-run, or pass --skip-routes",
			"%s: "+format, append([]any{site.path}, args...)...)
	}

	var decls []*ast.GenDecl
	var paren *ast.GenDecl
	for _, d := range site.file.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			decls = append(decls, g)
			if g.Lparen.IsValid() {
				paren = g
			}
		}
	}
	switch {
	case len(decls) == 0:
		return lineAfter(src, off(site.file.Name.End())), "\nimport " + spec + "\n", nil
	case paren == nil:
		last := decls[len(decls)-1]
		return lineAfter(src, off(last.End())), "import " + spec + "\n", nil
	}

	// One spec per line, and the closing parenthesis on a line of its own,
	// as gofmt writes them; anything else is left to the user.
	var specs []*ast.ImportSpec
	prevLine := line(paren.Lparen)
	for _, sp := range paren.Specs {
		is := sp.(*ast.ImportSpec)
		start := is.Pos()
		if is.Doc != nil {
			start = is.Doc.Pos()
		}
		if line(start) <= prevLine || !onlySpaceBefore(src, off(start)) {
			return 0, "", doubt("its imports are not one per line")
		}
		prevLine = line(is.End())
		specs = append(specs, is)
	}
	if len(specs) == 0 || !onlySpaceBefore(src, off(paren.Rparen)) || line(paren.Rparen) <= prevLine {
		return 0, "", doubt("its import block is not laid out as gofmt does")
	}

	// Runs of specs on successive lines are the groups gofmt sorts.
	var groups [][]*ast.ImportSpec
	for i, is := range specs {
		if i == 0 || line(specStart(is)) > line(specs[i-1].End())+1 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], is)
	}
	own := -1
	for gi, g := range groups {
		for _, is := range g {
			if p := specPath(is); p == module || strings.HasPrefix(p, module+"/") {
				own = gi
			}
		}
	}
	if own < 0 {
		last := specs[len(specs)-1]
		return lineAfter(src, off(last.End())), "\n" + lineIndent(src, off(last.Pos())) + spec + "\n", nil
	}
	g := groups[own]
	for _, is := range g {
		if specPath(is) > importPath {
			at := lineStart(src, off(specStart(is)))
			return at, lineIndent(src, off(is.Pos())) + spec + "\n", nil
		}
	}
	last := g[len(g)-1]
	return lineAfter(src, off(last.End())), lineIndent(src, off(last.Pos())) + spec + "\n", nil
}

func specStart(is *ast.ImportSpec) token.Pos {
	if is.Doc != nil {
		return is.Doc.Pos()
	}
	return is.Pos()
}

func specPath(is *ast.ImportSpec) string {
	p, _ := strconv.Unquote(is.Path.Value)
	return p
}

// lineStart is the offset of the start of the line holding off.
func lineStart(src []byte, off int) int { return bytes.LastIndexByte(src[:off], '\n') + 1 }

// lineAfter is the offset just past the newline ending the line holding off.
func lineAfter(src []byte, off int) int {
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(src)
}

// lineIndent is the whitespace the line holding off starts with.
func lineIndent(src []byte, off int) string {
	ls := lineStart(src, off)
	rest := src[ls:]
	return string(rest[:len(rest)-len(bytes.TrimLeft(rest, " \t"))])
}

func onlySpaceBefore(src []byte, off int) bool {
	return len(bytes.Trim(src[lineStart(src, off):off], " \t")) == 0
}

// checkInjected checks an injected file before anything is written: it
// parses, calls Register exactly once, inside a function, imports the
// package by the name used, and is gofmt-clean if the original was.
func checkInjected(site *routesSite, call routesCall, out []byte) error {
	fail := func(format string, args ...any) error {
		return inputErrorf("pass --skip-routes and add "+call.expr()+" yourself (and please report this)",
			"%s: adding the routes would leave the file wrong, so mcpgen leaves it as it is: "+format,
			append([]any{site.path}, args...)...)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, site.path, out, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return fail("%v", err)
	}
	calls := registerCalls(f, call.pkg)
	if len(calls) != 1 {
		return fail("%d calls of %s.Register or %s.Routes, want 1", len(calls), call.pkg, call.pkg)
	}
	if len(enclosingFuncs(f, calls[0].Pos())) == 0 {
		return fail("the call is not inside a function")
	}
	if name, ok := importName(f, call.importPath); !ok || name != call.pkg {
		return fail("%s is not imported as %s", call.importPath, call.pkg)
	}
	if clean, err := format.Source(site.src); err == nil && bytes.Equal(clean, site.src) {
		if formatted, err := format.Source(out); err != nil || !bytes.Equal(formatted, out) {
			return fail("the result is not gofmt-clean")
		}
	}
	return nil
}

// revertInjections takes the recorded snippets out of one file's content.
// leftAlone is true, with a note saying why, when a snippet is not as
// mcpgen wrote it: then out is cur, untouched.
func revertInjections(cur []byte, recs []Injection) (out []byte, leftAlone bool, note string) {
	out = cur
	var imports []Injection
	for _, r := range recs {
		if r.Marker == importMarker {
			imports = append(imports, r)
			continue
		}
		if next, ok := removeSnippet(out, r); ok {
			out = next
			continue
		}
		call := strings.TrimSpace(r.Snippet)
		pkg, _, _ := strings.Cut(call, ".")
		if bytes.Contains(out, []byte(pkg+".Register(")) {
			return cur, true, "the routes call mcpgen added (" + call + ") was edited: left alone; remove it yourself"
		}
		// Gone already: the user took it out.
	}
	var notes []string
	for _, r := range imports {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "", out, parser.SkipObjectResolution)
		if err != nil {
			return cur, true, "would not parse once reverted: left alone"
		}
		spec := strings.TrimPrefix(strings.TrimSpace(r.Snippet), "import ")
		name, quoted, aliased := strings.Cut(spec, " ")
		if !aliased {
			name, quoted = "", spec
		}
		var is *ast.ImportSpec
		for _, im := range f.Imports {
			if im.Path.Value == quoted && (im.Name == nil && name == "" || im.Name != nil && im.Name.Name == name) {
				is = im
			}
		}
		if is == nil {
			continue // removed already
		}
		if usesName(f, specName(is)) {
			notes = append(notes, "kept the import "+spec+": the file still uses it")
			continue
		}
		i := bytes.Index(out, []byte(r.Snippet))
		if i < 0 || bytes.Count(out, []byte(r.Snippet)) != 1 {
			return cur, true, "the import mcpgen added (" + spec + ") was edited: left alone; remove it yourself"
		}
		// The spec itself, past any newline the snippet starts with, must
		// be inside an import declaration.
		at := i + len(r.Snippet) - len(strings.TrimLeft(r.Snippet, "\n"))
		inImports := false
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT &&
				fset.Position(g.Pos()).Offset <= at && at < fset.Position(g.End()).Offset {
				inImports = true
			}
		}
		if !inImports {
			return cur, true, "the import mcpgen added (" + spec + ") was moved: left alone; remove it yourself"
		}
		out = slices.Concat(out[:i], out[i+len(r.Snippet):])
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "", out, parser.SkipObjectResolution); err != nil {
		return cur, true, "would not parse once reverted: left alone"
	}
	return out, false, strings.Join(notes, "; ")
}

// removeSnippet removes a recorded snippet: right after its marker line,
// else wherever it is, if it is there exactly once at the start of a line.
func removeSnippet(src []byte, r Injection) ([]byte, bool) {
	for off := 0; off < len(src); {
		end := lineAfter(src, off)
		if strings.TrimSpace(string(src[off:end])) == r.Marker && bytes.HasPrefix(src[end:], []byte(r.Snippet)) {
			return slices.Concat(src[:end], src[end+len(r.Snippet):]), true
		}
		off = end
	}
	if bytes.Count(src, []byte(r.Snippet)) != 1 {
		return nil, false
	}
	i := bytes.Index(src, []byte(r.Snippet))
	if lineStart(src, i) != i {
		return nil, false
	}
	return slices.Concat(src[:i], src[i+len(r.Snippet):]), true
}

// usesName reports whether f refers to name as a package: name.X.
func usesName(f *ast.File, name string) bool {
	used := false
	ast.Inspect(f, func(nd ast.Node) bool {
		if sel, ok := nd.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == name {
				used = true
			}
		}
		return !used
	})
	return used
}

// importRemovals returns the contents src may have had before mcpgen
// added the import of importPath: without the spec's line, and without
// it and a blank line before it (a group of its own).
func importRemovals(src []byte, importPath string) [][]byte {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	var out [][]byte
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.IMPORT {
			continue
		}
		for _, sp := range g.Specs {
			is := sp.(*ast.ImportSpec)
			if specPath(is) != importPath {
				continue
			}
			from, to := specStart(is), is.End()
			if !g.Lparen.IsValid() {
				from, to = g.Pos(), g.End()
			}
			start := lineStart(src, fset.Position(from).Offset)
			end := lineAfter(src, fset.Position(to).Offset)
			out = append(out, slices.Concat(src[:start], src[end:]))
			if start > 0 && lineStart(src, start-1) == start-1 {
				out = append(out, slices.Concat(src[:start-1], src[end:]))
			}
		}
	}
	return out
}
