package generator

import (
	"go/token"
	"go/types"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/packages"
)

// typedRouters finds the router variables in scope at the marker from the
// package's type information, for what the syntax cannot tell: a router a
// helper of the app returns (r := newRouter()), or one held in a variable
// of an interface type. It loads the marker's package with go/packages
// (the go tool, the module's dependencies), so it runs only when the
// syntax found none and the target is on disk.
func typedRouters(n Names, site *routesSite) []routerVar {
	if n.Dir == "" {
		return nil
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
	var out []routerVar
	seen := map[string]bool{}
	for scope := pkg.Types.Scope().Innermost(pos); scope != nil && scope != pkg.Types.Scope(); scope = scope.Parent() {
		for _, name := range scope.Names() {
			v, ok := scope.Lookup(name).(*types.Var)
			if !ok || seen[name] || !v.Pos().IsValid() || v.Pos() >= pos || name == "_" {
				continue
			}
			seen[name] = true
			if k, ok := routerKindOf(v.Type()); ok {
				pkgName, imported := importName(site.file, k.importPath)
				if !imported {
					pkgName = defaultImportName(k.importPath)
				}
				out = append(out, routerVar{name: name, kind: k, pkg: pkgName, addImport: !imported && strings.Contains(k.mount, "%[5]s")})
			}
		}
	}
	return out
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
