package generator

import (
	"fmt"
	"go/ast"
	"sort"
	"strings"
)

// routerKind is a router the routes call can be injected for: how a
// variable of it is recognised, and the statement mounting the generated
// routes on it.
type routerKind struct {
	name       string // for messages
	importPath string
	types      []string // pointer-to or plain named types of the package
	pointers   []string
	ctors      []string // functions of the package returning one
	// mount is the statements, with %[1]s the router, %[2]s the generated
	// package, %[3]s the database, %[4]s the current-user function and
	// %[5]s the router package's name in the file, %[6]s a free variable name;
	// lines are separate statements.
	mount   string
	example string // the router variable's usual name, for messages
}

var routerKinds = []routerKind{
	{name: "*http.ServeMux", importPath: "net/http", pointers: []string{"ServeMux"}, ctors: []string{"NewServeMux"},
		example: "mux", mount: "%[2]s.Register(%[1]s, %[3]s, %[4]s)"},
	{name: "chi.Router", importPath: "github.com/go-chi/chi/v5", types: []string{"Router"}, pointers: []string{"Mux"}, ctors: []string{"NewRouter", "NewMux"},
		example: "r", mount: "%[1]s.Mount(%[2]s.RoutePrefix, %[2]s.Routes(%[3]s, %[4]s))"},
	{name: "*mux.Router (gorilla/mux)", importPath: "github.com/gorilla/mux", pointers: []string{"Router"}, ctors: []string{"NewRouter"},
		example: "r", mount: "%[1]s.PathPrefix(%[2]s.RoutePrefix).Handler(%[2]s.Routes(%[3]s, %[4]s))"},
	{name: "*echo.Echo", importPath: "github.com/labstack/echo/v4", pointers: []string{"Echo"}, ctors: []string{"New"},
		example: "e", mount: `%[1]s.Any(%[2]s.RoutePrefix+"*", %[5]s.WrapHandler(%[2]s.Routes(%[3]s, %[4]s)))`},
	{name: "*gin.Engine", importPath: "github.com/gin-gonic/gin", types: []string{"IRouter"}, pointers: []string{"Engine", "RouterGroup"}, ctors: []string{"New", "Default"},
		example: "r", mount: "%[6]s := %[5]s.WrapH(%[2]s.Routes(%[3]s, %[4]s))\n%[1]s.Any(%[2]s.RoutePrefix, %[6]s)\n%[1]s.Any(%[2]s.RoutePrefix+\"/*path\", %[6]s)"},
}

// routerVar is a router variable in scope at the marker.
type routerVar struct {
	name      string
	kind      routerKind
	pkg       string // the router package's name in the file
	addImport bool   // the file must import it for the mount line
}

// routersInScope finds the variables of every known router in scope at
// the site.
func routersInScope(site *routesSite, funcs []ast.Node) []routerVar {
	var out []routerVar
	for _, k := range routerKinds {
		pkg, ok := importName(site.file, k.importPath)
		if !ok || pkg == "_" || pkg == "." {
			continue
		}
		isType := func(t ast.Expr) bool {
			for _, name := range k.pointers {
				if isPtrTo(t, pkg, name) {
					return true
				}
			}
			for _, name := range k.types {
				if isSelector(t, pkg, name) {
					return true
				}
			}
			return false
		}
		isValue := func(v ast.Expr) bool {
			for _, name := range k.ctors {
				if isCallOf(v, pkg, name) {
					return true
				}
			}
			for _, name := range k.pointers {
				if isAddrOfLit(v, pkg, name) {
					return true
				}
			}
			return false
		}
		for _, name := range namesInScope(funcs, site.pos, isType, isValue, nil) {
			out = append(out, routerVar{name: name, kind: k, pkg: pkg})
		}
	}
	return out
}

// routerIdioms is what to paste for each router, for an error that cannot
// settle the router.
func routerIdioms(pkg string) string {
	var lines []string
	for _, k := range routerKinds {
		lines = append(lines, k.name+": "+strings.Join(k.statements(k.example, pkg, "db", "currentUser", defaultImportName(k.importPath), "h"), "; "))
	}
	return strings.Join(lines, "; ")
}

// statements are the lines mounting the routes on router (see mount).
func (k routerKind) statements(router, pkg, db, user, routerPkg, local string) []string {
	return strings.Split(fmt.Sprintf(k.mount, router, pkg, db, user, routerPkg, local), "\n")
}

// dbFields lists, for the structs the package declares, their fields of
// type *<importPath>.<name> (*sql.DB, *pgxpool.Pool), as "Type" -> field
// names: the database handle is often a field of the app's server or
// state (s.db, app.DB).
func dbFields(pkgFiles []*ast.File, importPath, name string) map[string][]string {
	out := map[string][]string{}
	for _, f := range pkgFiles {
		pkg, ok := importName(f, importPath)
		if !ok {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok {
					continue
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, field := range st.Fields.List {
					if isPtrTo(field.Type, pkg, name) {
						for _, id := range field.Names {
							out[ts.Name.Name] = append(out[ts.Name.Name], id.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// dbFieldsInScope returns x.f for the variables x in scope (receivers,
// parameters, locals) of a struct type of the package with a *sql.DB field f.
func dbFieldsInScope(site *routesSite, funcs []ast.Node, fields map[string][]string) []string {
	var out []string
	for typ, names := range fields {
		isType := func(t ast.Expr) bool {
			if star, ok := t.(*ast.StarExpr); ok {
				t = star.X
			}
			id, ok := t.(*ast.Ident)
			return ok && id.Name == typ
		}
		isValue := func(v ast.Expr) bool {
			if u, ok := v.(*ast.UnaryExpr); ok {
				v = u.X
			}
			lit, ok := v.(*ast.CompositeLit)
			return ok && isType(lit.Type)
		}
		for _, x := range namesInScope(funcs, site.pos, isType, isValue, nil) {
			for _, f := range names {
				out = append(out, x+"."+f)
			}
		}
	}
	sort.Strings(out)
	return out
}
