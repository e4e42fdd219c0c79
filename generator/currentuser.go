package generator

import (
	"fmt"
	"go/ast"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// userFunc is a function of the module that says who is signed in: a
// func(*http.Request) (ID, bool), or a func(context.Context) (ID, bool)
// reading what the app's authentication middleware stored.
type userFunc struct {
	dir, pkg, name, file string
	ctx                  bool // takes a context.Context
}

// String names the function as the user would write it.
func (u userFunc) String() string { return u.pkg + "." + u.name + " (" + u.file + ")" }

// rank orders the candidates: in the routes' own package first, then ones
// taking the request, then ones naming the current user.
func (u userFunc) rank(markerDir string) int {
	r := 0
	if u.dir != markerDir {
		r += 4
	}
	if u.ctx {
		r += 2
	}
	if !strings.Contains(strings.ToLower(u.name), "current") {
		r++
	}
	return r
}

// findUserFuncs lists the module's functions with the signature of a
// current-user function for n's ID type: tests and mcpgen's files aside,
// and, outside the marker's package, exported ones only.
func findUserFuncs(fsys fs.FS, n Names, markerDir, markerPkg string) ([]userFunc, error) {
	var found []userFunc
	err := walkGoFiles(fsys, func(dir string, files []goFile) error {
		if dir == n.PackageDir || strings.HasPrefix(dir, n.PackageDir+"/") {
			return nil
		}
		for _, g := range files {
			f, p := g.ast, g.path
			if isGenerated(g.src) || (f.Name.Name == "main" && dir != markerDir) || (dir == markerDir && f.Name.Name != markerPkg) {
				continue
			}
			httpName, _ := importName(f, "net/http")
			ctxName, _ := importName(f, "context")
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Recv != nil || fd.Type.TypeParams != nil || (dir != markerDir && !fd.Name.IsExported()) {
					continue
				}
				params, results := flatten(fd.Type.Params), flatten(fd.Type.Results)
				if len(params) != 1 || !isUserIDResult(f, n, results) {
					continue
				}
				switch {
				case isPtrTo(params[0], httpName, "Request"):
					found = append(found, userFunc{dir: dir, pkg: f.Name.Name, name: fd.Name.Name, file: p})
				case isSelector(params[0], ctxName, "Context"):
					found = append(found, userFunc{dir: dir, pkg: f.Name.Name, name: fd.Name.Name, file: p, ctx: true})
				}
			}
		}
		return nil
	})
	sort.SliceStable(found, func(i, j int) bool { return found[i].rank(markerDir) < found[j].rank(markerDir) })
	return found, err
}

// chooseUserFunc settles the current-user function: the one --current-user
// names, else the best ranked candidate when it is the only one of its
// rank. An install never guesses: without one, it stops, naming the
// candidates and the flag.
func chooseUserFunc(fsys fs.FS, n Names, site *routesSite) (userFunc, string, error) {
	markerDir := path.Dir(site.path)
	cands, err := findUserFuncs(fsys, n, markerDir, site.file.Name.Name)
	if err != nil {
		return userFunc{}, "", err
	}
	sig := fmt.Sprintf("func(*http.Request) (%[1]s, bool) or func(context.Context) (%[1]s, bool)", userIDGoType(n))
	var list []string
	for _, c := range cands {
		list = append(list, c.String())
	}
	listed := strings.Join(list, ", ")
	if listed == "" {
		listed = "none"
	}
	if want := n.CurrentUser; want != "" {
		if want == n.PackageName+".UserFromContext" {
			return userFunc{name: "UserFromContext", pkg: n.PackageName, dir: n.PackageDir}, "routes: the signed-in user comes from " + want +
				": set it in your authentication middleware with " + n.PackageName + ".WithUser", nil
		}
		dir, name := markerDir, want
		if i := strings.LastIndexByte(want, '.'); i >= 0 {
			dir, name = strings.TrimPrefix(strings.TrimPrefix(want[:i], n.Module), "/"), want[i+1:]
		}
		for _, c := range cands {
			if c.name == name && (c.dir == dir || c.pkg == dir) {
				return c, "routes: the signed-in user comes from " + c.String() + ", as --current-user says", nil
			}
		}
		return userFunc{}, "", inputErrorf("pass --current-user=<package folder or name>.<Func> of a "+sig+" (candidates: "+listed+")",
			"--current-user=%s: no such function with the signature %s", want, sig)
	}
	fix := "pass --current-user=<package folder>.<Func> naming the " + sig + " that says who is signed in (candidates: " + listed +
		"), or --current-user=" + n.PackageName + ".UserFromContext and set the user with " + n.PackageName + ".WithUser in your authentication middleware"
	if len(cands) == 0 {
		return userFunc{}, "", inputErrorf(fix, "no function of the module says who is signed in (%s): the connection pages would refuse every user", sig)
	}
	best := cands[0].rank(markerDir)
	if len(cands) > 1 && cands[1].rank(markerDir) == best {
		return userFunc{}, "", inputErrorf(fix, "several functions could say who is signed in: %s", listed)
	}
	why := "the only " + sig + " of the module"
	if len(cands) > 1 {
		why = "ranked first of " + listed + " (in the routes' package, taking the request, named Current… win)"
	}
	return cands[0], "routes: the signed-in user comes from " + cands[0].String() + ": " + why, nil
}

// isUserIDResult reports whether results are (ID, bool) for n's user ID type.
func isUserIDResult(f *ast.File, n Names, results []ast.Expr) bool {
	if len(results) != 2 {
		return false
	}
	if id, ok := results[1].(*ast.Ident); !ok || id.Name != "bool" {
		return false
	}
	if pkg, ok := importName(f, n.PackageImport); ok && isSelector(results[0], pkg, "UserID") {
		return true
	}
	switch n.UserIDType {
	case IDUUID:
		pkg, ok := importName(f, n.UserIDImport)
		return ok && isSelector(results[0], pkg, "UUID")
	case IDString:
		id, ok := results[0].(*ast.Ident)
		return ok && id.Name == "string"
	default:
		id, ok := results[0].(*ast.Ident)
		return ok && id.Name == "int64"
	}
}
