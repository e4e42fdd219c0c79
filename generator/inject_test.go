package generator

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// injectNames are the Names of an install into module example.com/app.
func injectNames(idType IDType) Names {
	n := Names{
		Module: "example.com/app", PackageDir: "internal/mcpoauth", PackageName: "mcpoauth",
		PackageImport: "example.com/app/internal/mcpoauth", UserIDType: idType,
	}
	if idType == IDUUID {
		n.UserIDImport = "github.com/google/uuid"
	}
	return n
}

const routesSrc = `// Package web is the app's HTTP interface.
package web

import (
	"database/sql"
	"net/http"

	"example.com/app/internal/models"
)

// Routes returns the app's handlers.
func Routes(db *sql.DB) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", models.Home(db))
	// mcpgen:routes
	return mux
}
`

const routesInjected = `// Package web is the app's HTTP interface.
package web

import (
	"database/sql"
	"net/http"

	"example.com/app/internal/mcpoauth"
	"example.com/app/internal/models"
)

// Routes returns the app's handlers.
func Routes(db *sql.DB) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", models.Home(db))
	// mcpgen:routes
	mcpoauth.Register(mux, db, CurrentUserID)
	return mux
}
`

const currentUserSrc = `package web

import "net/http"

// CurrentUserID returns the signed-in user.
func CurrentUserID(r *http.Request) (int64, bool) { return 0, false }

// helper has the wrong signature: it is not a candidate.
func helper(r *http.Request) (string, bool) { return "", false }
`

// appFS is a module holding files, and a current-user function in
// internal/web unless files give that file.
func appFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"go.mod":               {Data: []byte("module example.com/app\n\ngo 1.26\n")},
		"internal/web/user.go": {Data: []byte(currentUserSrc)},
	}
	for p, s := range files {
		fsys[p] = &fstest.MapFile{Data: []byte(s)}
	}
	return fsys
}

// injectOne runs injections and returns its one change.
func injectOne(t *testing.T, fsys fstest.MapFS, n Names) (Change, []Injection, []string) {
	t.Helper()
	changes, recs, notes, err := injections(fsys, n)
	if err != nil {
		t.Fatalf("injections: %v", err)
	}
	if len(changes) != 1 {
		t.Fatalf("changes: %+v, want one", changes)
	}
	return changes[0], recs, notes
}

func TestInjectRoutes(t *testing.T) {
	fsys := appFS(map[string]string{"internal/web/routes.go": routesSrc, "internal/web/user.go": currentUserSrc})
	c, recs, notes := injectOne(t, fsys, injectNames(IDInt64))
	if c.Status != StatusInject || c.Path != "internal/web/routes.go" {
		t.Fatalf("change %s %s, want inject internal/web/routes.go", c.Status, c.Path)
	}
	if string(c.New) != routesInjected {
		t.Errorf("injected file:\n%s\nwant:\n%s", c.New, routesInjected)
	}
	if string(c.Old) != routesSrc {
		t.Error("Old is not the file as it was")
	}
	if c.Note != "mcpoauth.Register(mux, db, CurrentUserID)" {
		t.Errorf("note %q", c.Note)
	}
	want := []Injection{
		{Path: "internal/web/routes.go", Marker: "// mcpgen:routes", Snippet: "\tmcpoauth.Register(mux, db, CurrentUserID)\n"},
		{Path: "internal/web/routes.go", Marker: importMarker, Snippet: "\t\"example.com/app/internal/mcpoauth\"\n"},
	}
	if len(recs) != 2 || recs[0] != want[0] || recs[1] != want[1] {
		t.Errorf("recorded %+v\nwant %+v", recs, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "CurrentUserID") {
		t.Errorf("notes %q", notes)
	}

	// A second run finds the call: unchanged, the call recorded again.
	fsys["internal/web/routes.go"].Data = c.New
	again, recs2, _ := injectOne(t, fsys, injectNames(IDInt64))
	if again.Status != StatusUnchanged || len(recs2) != 1 || recs2[0] != want[0] {
		t.Errorf("second run: %s %+v", again.Status, recs2)
	}

	// Uninstall restores the file byte for byte.
	rev, err := uninjections(fsys, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev) != 1 || rev[0].Status != StatusRevert || string(rev[0].New) != routesSrc {
		t.Fatalf("uninjections: %+v", rev)
	}

	// So does uninstall without a manifest.
	rev, err = uninjectionsWithoutManifest(fsys, injectNames(IDInt64))
	if err != nil {
		t.Fatal(err)
	}
	if len(rev) != 1 || rev[0].Status != StatusRevert || string(rev[0].New) != routesSrc {
		t.Fatalf("uninjectionsWithoutManifest: %+v", rev)
	}
}

func TestUninjectLeavesEditedSnippetAlone(t *testing.T) {
	edited := strings.Replace(routesInjected, "mcpoauth.Register(mux, db, CurrentUserID)", "mcpoauth.Register(mux, db, myUser)", 1)
	fsys := appFS(map[string]string{"internal/web/routes.go": edited})
	recs := []Injection{
		{Path: "internal/web/routes.go", Marker: "// mcpgen:routes", Snippet: "\tmcpoauth.Register(mux, db, CurrentUserID)\n"},
		{Path: "internal/web/routes.go", Marker: importMarker, Snippet: "\t\"example.com/app/internal/mcpoauth\"\n"},
	}
	rev, err := uninjections(fsys, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev) != 1 || rev[0].Status != StatusUnchanged || string(rev[0].New) != edited || !strings.Contains(rev[0].Note, "edited") {
		t.Fatalf("uninjections of an edited call: %+v", rev)
	}

	// A call moved elsewhere, verbatim, is still taken out; an import the
	// file still uses stays.
	moved := strings.Replace(routesInjected, "\t// mcpgen:routes\n\tmcpoauth.Register(mux, db, CurrentUserID)\n",
		"\tmcpoauth.Register(mux, db, CurrentUserID)\n\t_ = mcpoauth.UserFromContext\n\t// mcpgen:routes\n", 1)
	fsys["internal/web/routes.go"].Data = []byte(moved)
	rev, err = uninjections(fsys, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev) != 1 || rev[0].Status != StatusRevert || strings.Contains(string(rev[0].New), "Register") ||
		!strings.Contains(string(rev[0].New), `"example.com/app/internal/mcpoauth"`) || !strings.Contains(rev[0].Note, "still uses") {
		t.Fatalf("uninjections of a moved call: %+v", rev)
	}

	// Already removed by hand: nothing to do.
	fsys["internal/web/routes.go"].Data = []byte(routesSrc)
	rev, err = uninjections(fsys, recs)
	if err != nil || len(rev) != 0 {
		t.Fatalf("uninjections of a removed call: %+v, %v", rev, err)
	}
}

func TestInjectRoutesRefuses(t *testing.T) {
	two := strings.Replace(routesSrc, "\treturn mux", "\t// mcpgen:routes\n\treturn mux", 1)
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no marker", map[string]string{"main.go": "package main\n\nfunc main() {}\n"},
			[]string{"no // mcpgen:routes marker", "\t// mcpgen:routes\n", "--skip-routes", "mcpoauth.Register(mux, db, mcpoauth.UserFromContext)"}},
		{"two markers in a file", map[string]string{"internal/web/routes.go": two},
			[]string{"several // mcpgen:routes markers", "internal/web/routes.go:15, internal/web/routes.go:16"}},
		{"markers in two files", map[string]string{"a/routes.go": routesSrc, "b/routes.go": routesSrc},
			[]string{"a/routes.go:15, b/routes.go:15"}},
		{"no database", map[string]string{"internal/web/routes.go": strings.Replace(routesSrc, "Routes(db *sql.DB)", "Routes(conn string)", 1)},
			[]string{"internal/web/routes.go:15: no *sql.DB in scope"}},
		{"two muxes", map[string]string{"internal/web/routes.go": strings.Replace(routesSrc, "mux := http.NewServeMux()", "mux := http.NewServeMux()\n\tadmin := &http.ServeMux{}\n\t_ = admin", 1)},
			[]string{"several routers in scope", "mux (*http.ServeMux), admin (*http.ServeMux)"}},
		{"outside a function", map[string]string{"internal/web/routes.go": routesSrc + "\n// mcpgen:routes\n"},
			[]string{"several"}},
		{"not on its own line", map[string]string{"internal/web/routes.go": strings.Replace(routesSrc, "\t// mcpgen:routes", "\t_ = 1 // mcpgen:routes", 1)},
			[]string{"shares its line with code"}},
		{"does not parse", map[string]string{"internal/web/routes.go": routesSrc + "func {"},
			[]string{"does not parse"}},
		{"import block on one line", map[string]string{"internal/web/routes.go": strings.Replace(routesSrc,
			"import (\n\t\"database/sql\"\n\t\"net/http\"\n\n\t\"example.com/app/internal/models\"\n)",
			"import (\"database/sql\"; \"net/http\"; \"example.com/app/internal/models\")", 1)},
			[]string{"not one per line"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			changes, recs, _, err := injections(appFS(tc.files), injectNames(IDInt64))
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (changes %+v), want an InputError", err, changes)
			}
			if changes != nil || recs != nil {
				t.Errorf("changes %+v, records %+v alongside an error", changes, recs)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestInjectRoutesMarkerOutsideAFunction(t *testing.T) {
	src := strings.Replace(routesSrc, "\t// mcpgen:routes\n", "", 1) + "\n// mcpgen:routes\n"
	_, _, _, err := injections(appFS(map[string]string{"internal/web/routes.go": src}), injectNames(IDInt64))
	if err == nil || !strings.Contains(err.Error(), "not inside a function") {
		t.Fatalf("err = %v", err)
	}
}

func TestInjectRoutesFindsVariables(t *testing.T) {
	const src = `package httpapi

import (
	"database/sql"
	"net/http"
	"os"
)

func Serve() error {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	if true {
		other := http.NewServeMux() // not in scope at the marker
		_ = other
	}
	var mux = http.NewServeMux()
	handler := func() http.Handler {
		// mcpgen:routes
		return mux
	}
	return http.ListenAndServe(":8080", handler())
}
`
	n := injectNames(IDUUID)
	n.CurrentUser = "mcpoauth.UserFromContext" // no func of the module gives a uuid
	c, _, notes := injectOne(t, appFS(map[string]string{"cmd/app/serve.go": src}), n)
	want := "\t\t// mcpgen:routes\n\t\tmcpoauth.Register(mux, db, mcpoauth.UserFromContext)\n"
	if !strings.Contains(string(c.New), want) {
		t.Errorf("injected:\n%s", c.New)
	}
	if !strings.Contains(string(c.New), "\t\"os\"\n\n\t\"example.com/app/internal/mcpoauth\"\n)") {
		t.Errorf("import not added in a group of its own:\n%s", c.New)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "WithUser") {
		t.Errorf("notes %q", notes)
	}
}

func TestInjectRoutesUserFuncs(t *testing.T) {
	uuidUser := `package web

import (
	"net/http"

	"github.com/google/uuid"
)

func CurrentPerson(r *http.Request) (id uuid.UUID, ok bool) { return uuid.UUID{}, false }
`
	cases := []struct {
		name   string
		idType IDType
		user   string
		want   string
	}{
		{"int64", IDInt64, currentUserSrc, "CurrentUserID"},
		{"string id", IDString, currentUserSrc, "helper"},
		{"uuid", IDUUID, uuidUser, "CurrentPerson"},
		{"several, one current", IDInt64, currentUserSrc + "func UserOf(r *http.Request) (int64, bool) { return 0, false }\n", "CurrentUserID"},
		{"several", IDInt64, "package web\n\nimport \"net/http\"\n\nfunc A(r *http.Request) (int64, bool) { return 0, false }\nfunc B(*http.Request) (int64, bool) { return 0, false }\n",
			"error: several functions could say who is signed in: web.A (internal/web/user.go), web.B (internal/web/user.go)"},
		{"method is no candidate", IDInt64, "package web\n\nimport \"net/http\"\n\ntype S struct{}\n\nfunc (S) CurrentUser(r *http.Request) (int64, bool) { return 0, false }\n",
			"error: no function of the module says who is signed in"},
		{"other package in the folder", IDInt64, strings.Replace(currentUserSrc, "package web", "package web_test", 1), "error: --current-user=<package folder>.<Func>"},
		{"a context one in the package", IDInt64, "package web\n\nimport \"context\"\n\nfunc AccountID(ctx context.Context) (int64, bool) { return 0, false }\n",
			"mcpoauth.FromContext(AccountID)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := appFS(map[string]string{"internal/web/routes.go": routesSrc, "internal/web/user.go": tc.user})
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				_, _, _, err := injections(fsys, injectNames(tc.idType))
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want one saying %q", err, want)
				}
				return
			}
			c, _, _ := injectOne(t, fsys, injectNames(tc.idType))
			if want := "mcpoauth.Register(mux, db, " + tc.want + ")"; c.Note != want {
				t.Errorf("call %q, want %q", c.Note, want)
			}
		})
	}
}

// TestInjectRoutesCurrentUserOfAnotherPackage finds the user in the auth
// package's context helper, imports it, and adapts it with FromContext;
// --current-user picks among several.
func TestInjectRoutesCurrentUserOfAnotherPackage(t *testing.T) {
	auth := "package auth\n\nimport \"context\"\n\n// AccountID is set by the middleware.\nfunc AccountID(ctx context.Context) (int64, bool) { return 0, false }\n\nfunc Other(ctx context.Context) (int64, bool) { return 0, false }\n"
	fsys := appFS(map[string]string{"internal/web/routes.go": routesSrc, "internal/web/user.go": "package web\n", "internal/auth/auth.go": auth})
	_, _, _, err := injections(fsys, injectNames(IDInt64))
	if err == nil || !strings.Contains(err.Error(), "auth.AccountID (internal/auth/auth.go), auth.Other (internal/auth/auth.go)") {
		t.Fatalf("two candidates of one rank: %v, want them named", err)
	}
	n := injectNames(IDInt64)
	n.CurrentUser = "internal/auth.AccountID"
	c, recs, notes := injectOne(t, fsys, n)
	if !strings.Contains(string(c.New), "\tmcpoauth.Register(mux, db, mcpoauth.FromContext(auth.AccountID))\n") ||
		!strings.Contains(string(c.New), "\t\"example.com/app/internal/auth\"\n\t\"example.com/app/internal/mcpoauth\"\n\t\"example.com/app/internal/models\"\n") {
		t.Errorf("injected:\n%s", c.New)
	}
	if len(recs) != 3 || len(notes) != 1 || !strings.Contains(notes[0], "as --current-user says") {
		t.Errorf("records %+v, notes %q", recs, notes)
	}
	fsys["internal/web/routes.go"].Data = c.New
	rev, err := uninjections(fsys, recs)
	if err != nil || len(rev) != 1 || string(rev[0].New) != routesSrc {
		t.Fatalf("uninstall: %+v, %v; want the file as it was", rev, err)
	}
}

func TestInjectRoutesAliasesAClashingName(t *testing.T) {
	src := strings.Replace(routesSrc, "\tmux := http.NewServeMux()\n", "\tmux := http.NewServeMux()\n\tmcpoauth := \"taken\"\n\t_ = mcpoauth\n", 1)
	fsys := appFS(map[string]string{"internal/web/routes.go": src})
	c, recs, _ := injectOne(t, fsys, injectNames(IDInt64))
	if !strings.Contains(string(c.New), "\tmcpoauth2 \"example.com/app/internal/mcpoauth\"\n\t\"example.com/app/internal/models\"\n") ||
		!strings.Contains(string(c.New), "\tmcpoauth2.Register(mux, db, CurrentUserID)\n") {
		t.Errorf("injected:\n%s", c.New)
	}
	fsys["internal/web/routes.go"].Data = c.New
	rev, err := uninjections(fsys, recs)
	if err != nil || len(rev) != 1 || string(rev[0].New) != src {
		t.Fatalf("uninjections: %+v %v", rev, err)
	}
}

func TestInjectRoutesImportForms(t *testing.T) {
	body := "\nfunc Routes(db *sql.DB) *http.ServeMux {\n\tmux := http.NewServeMux()\n\t// mcpgen:routes\n\treturn mux\n}\n"
	cases := []struct {
		name, imports, want string
	}{
		{"single imports", "import \"database/sql\"\nimport \"net/http\"\n",
			"import \"database/sql\"\nimport \"net/http\"\nimport \"example.com/app/internal/mcpoauth\"\n"},
		{"sorted into the app's group", "import (\n\t\"database/sql\"\n\t\"net/http\"\n\n\t\"example.com/app/internal/auth\"\n\t\"example.com/app/internal/models\"\n)\n",
			"\t\"example.com/app/internal/auth\"\n\t\"example.com/app/internal/mcpoauth\"\n\t\"example.com/app/internal/models\"\n)"},
		{"after third-party imports", "import (\n\t\"database/sql\"\n\t\"net/http\"\n\n\t\"github.com/go-chi/chi/v5\"\n)\n",
			"\t\"github.com/go-chi/chi/v5\"\n\n\t\"example.com/app/internal/mcpoauth\"\n)"},
		{"already imported", "import (\n\t\"database/sql\"\n\t\"net/http\"\n\n\toauth \"example.com/app/internal/mcpoauth\"\n)\n\nvar _ = oauth.UserFromContext\n",
			"\toauth.Register(mux, db, CurrentUserID)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "package web\n\n" + tc.imports + body
			fsys := appFS(map[string]string{"internal/web/routes.go": src})
			c, recs, _ := injectOne(t, fsys, injectNames(IDInt64))
			if c.Status != StatusInject || !strings.Contains(string(c.New), tc.want) {
				t.Fatalf("%s:\n%s", c.Status, c.New)
			}
			fsys["internal/web/routes.go"].Data = c.New
			rev, err := uninjections(fsys, recs)
			if err != nil || len(rev) != 1 || string(rev[0].New) != src {
				t.Fatalf("uninjections: %+v %v", rev, err)
			}
			rev, err = uninjectionsWithoutManifest(fsys, injectNames(IDInt64))
			if err != nil || len(rev) != 1 || string(rev[0].New) != src {
				t.Fatalf("uninjectionsWithoutManifest: %+v %v", rev, err)
			}
		})
	}
}

func TestInjectRoutesLeavesAMovedCallAlone(t *testing.T) {
	moved := strings.Replace(routesInjected, "\t// mcpgen:routes\n\tmcpoauth.Register(mux, db, CurrentUserID)\n",
		"\tmcpoauth.Register(mux, db, CurrentUserID)\n\t// mcpgen:routes\n", 1)
	c, recs, _ := injectOne(t, appFS(map[string]string{"internal/web/routes.go": moved}), injectNames(IDInt64))
	if c.Status != StatusUnchanged || recs != nil || !strings.Contains(c.Note, "already registered at line 16") {
		t.Errorf("%s %q %+v", c.Status, c.Note, recs)
	}
}

func TestSkipRoutesPrintsTheCall(t *testing.T) {
	n := injectNames(IDInt64)
	n.SkipRoutes = true
	fsys := appFS(map[string]string{"internal/web/routes.go": routesSrc, "internal/web/user.go": currentUserSrc})
	changes, recs, notes, err := injections(fsys, n)
	if err != nil || changes != nil || recs != nil {
		t.Fatalf("--skip-routes: %+v %+v %v", changes, recs, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "internal/web/routes.go after line 15: mcpoauth.Register(mux, db, CurrentUserID)") ||
		!strings.Contains(notes[0], `"example.com/app/internal/mcpoauth"`) {
		t.Errorf("notes %q", notes)
	}
	// Without a marker, or with one in a file that does not parse, the
	// generic call.
	for _, fsys := range []fstest.MapFS{appFS(nil), appFS(map[string]string{"internal/web/routes.go": routesSrc + "func {"})} {
		_, _, notes, err = injections(fsys, n)
		if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "mcpoauth.Register(mux, db, mcpoauth.UserFromContext)") {
			t.Errorf("notes %q, %v", notes, err)
		}
	}
}

func TestInjectRoutesSkipsTestsVendorAndTheGeneratedPackage(t *testing.T) {
	fsys := appFS(map[string]string{
		"internal/web/routes.go":      routesSrc,
		"internal/web/routes_test.go": routesSrc,
		"vendor/x/routes.go":          routesSrc,
		"testdata/routes.go":          routesSrc,
		".hidden/routes.go":           routesSrc,
		"internal/mcpoauth/doc.go":    routesSrc,
	})
	c, _, _ := injectOne(t, fsys, injectNames(IDInt64))
	if c.Path != "internal/web/routes.go" {
		t.Errorf("injected into %s", c.Path)
	}
}

// TestInjectRoutesOnOtherRouters injects the mount line each router takes,
// with the database found as a field of the server the routes hang off.
func TestInjectRoutesOnOtherRouters(t *testing.T) {
	for _, tc := range []struct {
		name, imports, setup, want string
	}{
		{"chi", `"github.com/go-chi/chi/v5"`, "r := chi.NewRouter()",
			"r.Mount(mcpoauth.RoutePrefix, mcpoauth.Routes(s.db, CurrentUserID))"},
		{"chi.Router parameter", `"github.com/go-chi/chi/v5"`, "var r chi.Router = chi.NewMux()",
			"r.Mount(mcpoauth.RoutePrefix, mcpoauth.Routes(s.db, CurrentUserID))"},
		{"gorilla", `"github.com/gorilla/mux"`, "r := mux.NewRouter()",
			"r.PathPrefix(mcpoauth.RoutePrefix).Handler(mcpoauth.Routes(s.db, CurrentUserID))"},
		{"echo", `"github.com/labstack/echo/v4"`, "e := echo.New()",
			`e.Any(mcpoauth.RoutePrefix+"*", echo.WrapHandler(mcpoauth.Routes(s.db, CurrentUserID)))`},
		{"echo renamed", `web "github.com/labstack/echo/v4"`, "e := web.New()",
			`e.Any(mcpoauth.RoutePrefix+"*", web.WrapHandler(mcpoauth.Routes(s.db, CurrentUserID)))`},
		{"gin", `"github.com/gin-gonic/gin"`, "r := gin.Default()",
			"mcpConnections := gin.WrapH(mcpoauth.Routes(s.db, CurrentUserID))\n\tr.Any(mcpoauth.RoutePrefix, mcpConnections)\n\tr.Any(mcpoauth.RoutePrefix+\"/*path\", mcpConnections)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "package web\n\nimport (\n\t\"database/sql\"\n\n\t" + tc.imports + "\n)\n\n" +
				"type server struct {\n\tdb   *sql.DB\n\tname string\n}\n\n" +
				"func (s *server) routes() {\n\t" + tc.setup + "\n\t// mcpgen:routes\n\t_ = r\n}\n"
			src = strings.Replace(src, "\t_ = r\n", map[bool]string{true: "\t_ = e\n", false: "\t_ = r\n"}[strings.HasPrefix(tc.name, "echo")], 1)
			fsys := appFS(map[string]string{"internal/web/routes.go": src, "internal/web/user.go": currentUserSrc})
			c, _, _ := injectOne(t, fsys, injectNames(IDInt64))
			if c.Status != StatusInject || !strings.Contains(string(c.New), "\t// mcpgen:routes\n\t"+tc.want+"\n") ||
				!strings.Contains(string(c.New), `"example.com/app/internal/mcpoauth"`) {
				t.Errorf("injected:\n%s\nwant the line %s", c.New, tc.want)
			}
			rev, err := uninjectionsWithoutManifest(appFS(map[string]string{"internal/web/routes.go": string(c.New), "internal/web/user.go": currentUserSrc}), injectNames(IDInt64))
			if err != nil || len(rev) != 1 || string(rev[0].New) != src {
				t.Errorf("uninstall without a manifest: %+v, %v; want the file as it was", rev, err)
			}
		})
	}
}

// TestInjectRoutesWithoutRouterShowsWhatToPaste checks the error names the
// line for each router.
func TestInjectRoutesWithoutRouterShowsWhatToPaste(t *testing.T) {
	src := "package web\n\nimport \"database/sql\"\n\nfunc routes(db *sql.DB) {\n\t// mcpgen:routes\n}\n"
	_, _, _, err := injections(appFS(map[string]string{"internal/web/routes.go": src}), injectNames(IDInt64))
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v, want an InputError", err)
	}
	for _, want := range []string{"no router variable in scope", "mcpoauth.Register(mux, db, currentUser)",
		"r.Mount(mcpoauth.RoutePrefix, mcpoauth.Routes(db, currentUser))", "r.PathPrefix(mcpoauth.RoutePrefix)", "echo.WrapHandler("} {
		if !strings.Contains(ie.Problem+" "+ie.Fix, want) {
			t.Errorf("error does not show %q:\n%s\n%s", want, ie.Problem, ie.Fix)
		}
	}
}

// TestInjectRoutesWithAPgxPool hands the store a *sql.DB over the app's
// pgx pool when that is all the routes have, on PostgreSQL.
func TestInjectRoutesWithAPgxPool(t *testing.T) {
	src := "package web\n\nimport (\n\t\"net/http\"\n\n\t\"github.com/jackc/pgx/v5/pgxpool\"\n)\n\n" +
		"func Routes(pool *pgxpool.Pool) *http.ServeMux {\n\tmux := http.NewServeMux()\n\t// mcpgen:routes\n\treturn mux\n}\n"
	n := injectNames(IDInt64)
	n.Dialect = Postgres
	fsys := appFS(map[string]string{"internal/web/routes.go": src})
	c, recs, _ := injectOne(t, fsys, n)
	if !strings.Contains(string(c.New), "\tmcpoauth.Register(mux, stdlib.OpenDBFromPool(pool), CurrentUserID)\n") ||
		!strings.Contains(string(c.New), "\t\"github.com/jackc/pgx/v5/stdlib\"\n") {
		t.Errorf("injected:\n%s", c.New)
	}
	fsys["internal/web/routes.go"].Data = c.New
	if rev, err := uninjections(fsys, recs); err != nil || len(rev) != 1 || string(rev[0].New) != src {
		t.Fatalf("uninstall: %+v, %v; want the file as it was", rev, err)
	}
	n.Dialect = SQLite // a pool cannot serve a SQLite store
	if _, _, _, err := injections(appFS(map[string]string{"internal/web/routes.go": src}), n); err == nil || !strings.Contains(err.Error(), "no *sql.DB in scope") {
		t.Errorf("sqlite with a pgx pool only: %v", err)
	}
}
