package generator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mcpgen/mcpgen/templates"
)

// A layer is a part of an install: tests render one at a time.
type layer int

const (
	layerData layer = iota // migrations, the SQL store, wiring, user helpers
	layerWeb               // handler, views, routes, rate limits
	layerJobs              // background jobs
)

// fileSpec declares one file an install writes. Exactly one of tmpl, view
// and build says where its content comes from; purpose says, in a few
// words for install --help, what the file is for and when it is written. Every file is the app's to
// edit, and the planner treats them alike: a re-run updates a file the
// user has not edited and reports a conflict, writing nothing, for one
// they have, unless --force.
type fileSpec struct {
	layer   layer
	path    func(Names) string
	purpose string
	tmpl    string                         // text/template under templates/; Go is gofmt'd
	view    string                         // an html/template source under templates/, copied as it is
	build   func(Names) (*jen.File, error) // Go whose shape varies with the options
	data    func(Names) any                // the template's data; nil: the Names
	when    func(Names) bool               // nil: always
}

// fileSpecs are every file an install can write.
var fileSpecs = []fileSpec{
	{layer: layerData, path: inPackage("mcpoauth.go"), purpose: "wiring: UserID, ServicesFromEnv, ClientsFromEnv", tmpl: "mcpoauth/mcpoauth.go.tmpl"},
	{layer: layerData, path: inPackage("store.go"), purpose: "the SQL store, implementing mcpoauth.Storage", tmpl: "mcpoauth/store.go.tmpl"},
	{layer: layerData, path: inPackage("store_test.go"), purpose: "the runtime's storage contract, run on your schema", tmpl: "mcpoauth/store_test.go.tmpl"},
	{layer: layerData, path: inPackage("queries.go"), purpose: "the store's SQL, for your database and user ID type", build: withDialect(queriesFile)},
	{layer: layerData, path: func(n Names) string { return testHelpersDir(n) + "/" + testHelpersPkg + ".go" }, purpose: "the tests' database and SeedUser", build: withDialect(testHelpersFile)},
	{layer: layerData, path: func(n Names) string { return n.UserHelpers }, purpose: "MCPConnected and more on your user type, if found", build: withDialect(userHelpersFile), when: hasUserHelpers},
	{layer: layerData, path: func(n Names) string { return strings.TrimSuffix(n.UserHelpers, ".go") + "_test.go" }, purpose: "the helpers' test, on the runtime's in-memory store", build: withDialect(userHelpersTestFile), when: hasUserHelpers},

	{layer: layerWeb, path: inPackage("handler.go"), purpose: "the HTTP handler over the runtime's (--handler-name)", tmpl: "web/handler.go.tmpl"},
	{layer: layerWeb, path: inPackage("register.go"), purpose: "Register and Routes, to mount it", tmpl: "web/register.go.tmpl"},
	{layer: layerWeb, path: inPackage("handler_test.go"), purpose: "the connect flow, tested against the dev server", tmpl: "web/handler_test.go.tmpl"},
	{layer: layerWeb, path: inPackage("views.go"), purpose: "the HTML views, parsed (not with --skip-views)", tmpl: "web/views.go.tmpl", when: withViews},
	{layer: layerWeb, path: inViews("layout.html"), purpose: "view: the page around the others", view: "web/views/layout.html", when: withViews},
	{layer: layerWeb, path: inViews("index.html"), purpose: "view: the user's connections", view: "web/views/index.html", when: withViews},
	{layer: layerWeb, path: inViews("tools.html"), purpose: "view: a server's tools", view: "web/views/tools.html", when: withViews},
	{layer: layerWeb, path: inViews("error.html"), purpose: "view: a failed connection", view: "web/views/error.html", when: withViews},

	{layer: layerJobs, path: inJobs("jobs.go"), purpose: "the work: cleanup, proactive refresh, DepsFromEnv", tmpl: "jobs/jobs.go.tmpl", data: jobsTemplateData},
	{layer: layerJobs, path: inJobs("research.go"), purpose: "the example job: a tool called as a user", tmpl: "jobs/research.go.tmpl", data: jobsTemplateData},
	{layer: layerJobs, path: inJobs("jobs_test.go"), purpose: "tests of the work and the example job", tmpl: "jobs/jobs_test.go.tmpl", data: jobsTemplateData},
	{layer: layerJobs, path: inJobs("river_test.go"), purpose: "the jobs through River (SQLite and Postgres)", tmpl: "jobs/river_test.go.tmpl", data: jobsTemplateData, when: withRiver},
	{layer: layerJobs, path: inJobs("db_test.go"), purpose: "the jobs tests' database", build: withJobsData(jobsDBTestFile)},
	{layer: layerJobs, path: inJobs("river.go"), purpose: "the jobs on River (SQLite and Postgres)", build: withJobsData(riverFile), when: withRiver},
}

// migrationSpecs are the goose migrations of an install, in the order they
// apply (the planner numbers them so), each a template under templates/.
var migrationSpecs = []struct {
	layer   layer
	name    string
	purpose string
}{
	{layerData, migrationCredentials, "the users' tokens, sealed"},
	{layerData, migrationStates, "flows in progress"},
	{layerData, migrationClients, "registered OAuth clients"},
	{layerWeb, migrationRateLimits, "rate limits of the routes"},
}

// Output is a file an install writes or edits, as install --help lists it.
type Output struct {
	Path    string // with the default options; <...> stands for what varies
	Purpose string
}

// Outputs lists every file an install can write or edit, with the default
// options: the migrations, then the files in the order fileSpecs declares
// them, then the edits and the manifest.
func Outputs() []Output {
	n := Names{Module: "example.com/app", Dialect: SQLite, UserModel: "User", MigrationsDir: defaultMigrationsDir}
	n.HandlerType, _ = handlerType("", "")
	n.UserHelpers = userHelpersPath("<user model's folder>/user.go", n.UserModel)
	placePackage(&n)
	var out []Output
	for _, m := range migrationSpecs {
		out = append(out, Output{migrationPath(n.MigrationsDir, "<version>", m.name), m.purpose})
	}
	for _, s := range fileSpecs {
		out = append(out, Output{s.path(n), s.purpose})
	}
	return append(out,
		Output{"go.mod", "edited: requires the runtime and the modules it is tested with"},
		Output{"<routes file>", "edited: one line at // mcpgen:routes (not with --skip-routes)"},
		Output{ManifestPath, "what mcpgen wrote, for re-runs and uninstall"},
	)
}

func inPackage(name string) func(Names) string {
	return func(n Names) string { return n.PackageDir + "/" + name }
}

func inViews(name string) func(Names) string {
	return func(n Names) string { return n.ViewDir + "/" + name }
}

func inJobs(name string) func(Names) string {
	return func(n Names) string { return n.PackageDir + "/jobs/" + name }
}

func hasUserHelpers(n Names) bool { return n.UserHelpers != "" }
func withViews(n Names) bool      { return !n.SkipViews }
func withRiver(n Names) bool      { return riverDialect(n.Dialect) }

func withDialect(build func(Names, sqlDialect) (*jen.File, error)) func(Names) (*jen.File, error) {
	return func(n Names) (*jen.File, error) { return build(n, newSQLDialect(n)) }
}

func withJobsData(build func(jobsData) (*jen.File, error)) func(Names) (*jen.File, error) {
	return func(n Names) (*jen.File, error) { return build(newJobsData(n)) }
}

func jobsTemplateData(n Names) any { return newJobsData(n) }

// render produces every file and migration an install writes for n.
func render(n Names) ([]File, []Migration, error) {
	return renderLayers(n, layerData, layerWeb, layerJobs)
}

// renderLayers renders the files and migrations of the given layers.
func renderLayers(n Names, layers ...layer) ([]File, []Migration, error) {
	in := func(l layer) bool { return slices.Contains(layers, l) }
	if err := checkDataLayerNames(n); err != nil {
		return nil, nil, err
	}
	if in(layerWeb) {
		if err := checkWebNames(n); err != nil {
			return nil, nil, err
		}
	}
	var files []File
	for _, s := range fileSpecs {
		if !in(s.layer) || (s.when != nil && !s.when(n)) {
			continue
		}
		path := s.path(n)
		content, err := s.render(n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		files = append(files, File{Path: path, Content: content})
	}
	data := migrationData{sqlDialect: newSQLDialect(n), SQLHeader: n.SQLHeader(), PackageName: n.PackageName, UserIDType: n.UserIDType}
	var migs []Migration
	for _, m := range migrationSpecs {
		if !in(m.layer) {
			continue
		}
		content, err := renderText("migrations/"+m.name+".sql.tmpl", data)
		if err != nil {
			return nil, nil, err
		}
		migs = append(migs, Migration{Name: m.name, Content: content})
	}
	return files, migs, nil
}

// render returns the content of the file s declares for n.
func (s fileSpec) render(n Names) ([]byte, error) {
	switch {
	case s.build != nil:
		f, err := s.build(n)
		if err != nil {
			return nil, err
		}
		return renderJen(f, n.Header(false), n.Module)
	case s.view != "":
		src, err := templates.FS.ReadFile(s.view)
		if err != nil {
			return nil, err
		}
		// The header is a template comment: it does not reach the page.
		header := "{{/* " + strings.TrimPrefix(n.Header(false), "// ") + " */}}\n"
		return append([]byte(header), src...), nil
	}
	var data any = n
	if s.data != nil {
		data = s.data(n)
	}
	if strings.HasSuffix(s.tmpl, ".go.tmpl") {
		return renderGoText(s.tmpl, data)
	}
	return renderText(s.tmpl, data)
}
