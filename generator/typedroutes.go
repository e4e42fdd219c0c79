package generator

import (
	"go/token"
	"go/types"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/packages"
)

// typedScope is the marker's package as the type checker sees it, for
// what the syntax cannot tell: a router a helper of the app returns
// (r := newRouter()), a variable of an interface type, a database handle
// that is a field or method of a type of another package (app.DB()).
type typedScope struct {
	pkg  *types.Package
	vars []*types.Var // in scope at the marker and declared before it, innermost first
}

// loadTypedScope loads the marker's package with go/packages (the go
// tool, the module's dependencies), once per site, so only when the
// syntax found nothing and the target is on disk. It returns nil when the
// package does not load or type-check.
func loadTypedScope(n Names, site *routesSite) *typedScope {
	if site.typed != nil || n.Dir == "" {
		return site.typed
	}
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:  filepath.Join(n.Dir, filepath.FromSlash(path.Dir(site.path))),
	}
	pkgs, err := packages.Load(cfg, ".")
	if err != nil || len(pkgs) != 1 || pkgs[0].Types == nil || pkgs[0].TypesInfo == nil {
		return nil
	}
	pkg := pkgs[0]
	var pos token.Pos
	for _, f := range pkg.Syntax {
		tf := pkg.Fset.File(f.Pos())
		if tf != nil && filepath.ToSlash(tf.Name()) == filepath.ToSlash(filepath.Join(n.Dir, site.path)) {
			pos = tf.Pos(site.fset.Position(site.pos).Offset)
		}
	}
	if !pos.IsValid() {
		return nil
	}
	ts := &typedScope{pkg: pkg.Types}
	seen := map[string]bool{}
	for scope := pkg.Types.Scope().Innermost(pos); scope != nil && scope != pkg.Types.Scope(); scope = scope.Parent() {
		for _, name := range scope.Names() {
			v, ok := scope.Lookup(name).(*types.Var)
			if !ok || seen[name] || !v.Pos().IsValid() || v.Pos() >= pos || name == "_" {
				continue
			}
			seen[name] = true
			ts.vars = append(ts.vars, v)
		}
	}
	site.typed = ts
	return ts
}

// typedRouters finds the router variables in scope at the marker by
// their types.
func typedRouters(n Names, site *routesSite) []routerVar {
	ts := loadTypedScope(n, site)
	if ts == nil {
		return nil
	}
	var out []routerVar
	for _, v := range ts.vars {
		if k, ok := routerKindOf(v.Type()); ok {
			pkgName, imported := importName(site.file, k.importPath)
			if !imported {
				pkgName = defaultImportName(k.importPath)
			}
			out = append(out, routerVar{name: v.Name(), kind: k, pkg: pkgName, addImport: !imported && strings.Contains(k.mount, "%[5]s")})
		}
	}
	return out
}

// typedHandles finds the expressions at the marker that give a
// *<importPath>.<name> (*sql.DB, *pgxpool.Pool) by their types: a
// variable in scope of that type, or a field of one or a method taking
// nothing and returning it, two steps deep at most (s.db, app.DB(),
// s.deps.DB, s.store.DB()), where the marker's package may use them.
func typedHandles(n Names, site *routesSite, importPath, name string) []string {
	ts := loadTypedScope(n, site)
	if ts == nil {
		return nil
	}
	is := func(t types.Type) bool {
		p, ok := t.(*types.Pointer)
		if !ok {
			return false
		}
		named, ok := p.Elem().(*types.Named)
		return ok && named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == importPath && named.Obj().Name() == name
	}
	var out []string
	var walk func(expr string, t types.Type, depth int)
	walk = func(expr string, t types.Type, depth int) {
		if is(t) {
			out = append(out, expr)
			return
		}
		if depth == 0 {
			return
		}
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if _, ok := t.(*types.Named); !ok {
			return // a struct literal type, a basic type: nothing of the app's
		}
		mt := t // a variable is addressable: its pointer methods are callable
		if !types.IsInterface(t) {
			mt = types.NewPointer(t)
		}
		ms := types.NewMethodSet(mt)
		for i := range ms.Len() {
			fn, ok := ms.At(i).Obj().(*types.Func)
			if !ok || !accessible(fn, ts.pkg) {
				continue
			}
			if sig := fn.Type().(*types.Signature); sig.Params().Len() == 0 && sig.Results().Len() == 1 {
				walk(expr+"."+fn.Name()+"()", sig.Results().At(0).Type(), depth-1)
			}
		}
		if st, ok := t.Underlying().(*types.Struct); ok {
			for i := range st.NumFields() {
				if f := st.Field(i); accessible(f, ts.pkg) {
					walk(expr+"."+f.Name(), f.Type(), depth-1)
				}
			}
		}
	}
	for _, v := range ts.vars {
		walk(v.Name(), v.Type(), 2)
	}
	return out
}

// accessible reports whether code in pkg may use obj: exported, or of pkg.
func accessible(obj types.Object, pkg *types.Package) bool {
	return obj.Exported() || obj.Pkg() == pkg
}

// routerKindOf says which known router t is: a named type of a router
// package, or a pointer to one.
func routerKindOf(t types.Type) (routerKind, bool) {
	ptr := false
	if p, ok := t.(*types.Pointer); ok {
		t, ptr = p.Elem(), true
	}
	named, ok := t.(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return routerKind{}, false
	}
	for _, k := range routerKinds {
		if named.Obj().Pkg().Path() != k.importPath {
			continue
		}
		names := k.types
		if ptr {
			names = k.pointers
		}
		for _, name := range names {
			if named.Obj().Name() == name {
				return k, true
			}
		}
	}
	return routerKind{}, false
}
