package generator

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// jobsTestNames returns Names of an app whose generated package sits under
// a namespace, so relative paths are not trivial.
func jobsTestNames(d Dialect, id IDType) Names {
	n := Names{
		Module: "example.com/shop", Dialect: d,
		UserModel: "User", UserTable: "users", UserFK: "user_id", UserIDType: id, UserIDField: "ID",
		PackageDir: "internal/admin/mcpoauth", PackageName: "mcpoauth",
		PackageImport: "example.com/shop/internal/admin/mcpoauth",
		RoutePrefix:   "/admin/mcp_connections",
		MigrationsDir: "db/migrations",
	}
	if id == IDUUID {
		n.UserIDImport = "github.com/google/uuid"
	}
	return n
}

// parsedJobs is the jobs layer's output for one option set, parsed.
type parsedJobs struct {
	src   map[string]string    // file name in the jobs package -> source
	files map[string]*ast.File // the same, parsed
}

func renderJobs(t *testing.T, n Names) parsedJobs {
	t.Helper()
	files, migrations, err := renderLayers(n, layerJobs)
	if err != nil {
		t.Fatalf("%s/%s: jobsLayer: %v", n.Dialect, n.UserIDType, err)
	}
	if len(migrations) != 0 {
		t.Errorf("%s: the jobs layer adds goose migrations %v; River's tables are migrated by jobs.Migrate", n.Dialect, migrations)
	}
	p := parsedJobs{src: map[string]string{}, files: map[string]*ast.File{}}
	dir := n.PackageDir + "/jobs/"
	for _, f := range files {
		name, ok := strings.CutPrefix(f.Path, dir)
		if !ok || strings.Contains(name, "/") {
			t.Errorf("%s: %s is outside %s", n.Dialect, f.Path, dir)
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f.Path, f.Content, parser.ParseComments)
		if err != nil {
			t.Fatalf("%s/%s: %s does not parse: %v", n.Dialect, n.UserIDType, f.Path, err)
		}
		if af.Name.Name != "jobs" {
			t.Errorf("%s: %s is package %s, want jobs", n.Dialect, f.Path, af.Name.Name)
		}
		p.src[name], p.files[name] = string(f.Content), af
	}
	return p
}

func (p parsedJobs) imports(name string) []string {
	var out []string
	for _, is := range p.files[name].Imports {
		v, _ := strconv.Unquote(is.Path.Value)
		out = append(out, v)
	}
	return out
}

// funcs lists the package-level functions and methods (as Type.Method)
// the non-test files declare.
func (p parsedJobs) funcs() []string {
	var out []string
	for name, f := range p.files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if fd.Recv == nil {
				out = append(out, fd.Name.Name)
				continue
			}
			t := fd.Recv.List[0].Type
			if st, ok := t.(*ast.StarExpr); ok {
				t = st.X
			}
			if id, ok := t.(*ast.Ident); ok {
				out = append(out, id.Name+"."+fd.Name.Name)
			}
		}
	}
	return out
}

func TestJobsLayerRendersEveryOptionSet(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		for _, id := range []IDType{IDInt64, IDString, IDUUID} {
			p := renderJobs(t, jobsTestNames(d, id))
			want := []string{"db_test.go", "jobs.go", "jobs_test.go", "research.go"}
			if riverDialect(d) {
				want = append(want, "river.go", "river_test.go")
			}
			var got []string
			for name := range p.src {
				got = append(got, name)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s/%s: files %v, want %v", d, id, got, want)
			}
			// Every file is the app's to edit; the runtime carries what is not.
			n := jobsTestNames(d, id)
			for name, src := range p.src {
				if !strings.HasPrefix(src, n.Header(false)+"\n") {
					t.Errorf("%s/%s: %s has the wrong header: %q", d, id, name, strings.SplitN(src, "\n", 2)[0])
				}
			}
		}
	}
}

func TestJobsLayerAPI(t *testing.T) {
	plain := []string{"RunResearch", "CleanupExpiredStates", "CleanupExpiredRateLimits", "RefreshExpiring", "DepsFromEnv"}
	river := []string{"AddWorkers", "PeriodicJobs", "Migrate", "NewClient", "Start",
		"ResearchArgs.Kind", "CleanupExpiredOAuthStatesArgs.Kind", "RefreshExpiringCredentialsArgs.Kind",
		"ResearchWorker.Work", "CleanupExpiredOAuthStatesWorker.Work", "RefreshExpiringCredentialsWorker.Work"}
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		funcs := renderJobs(t, jobsTestNames(d, IDInt64)).funcs()
		for _, fn := range plain {
			if !slices.Contains(funcs, fn) {
				t.Errorf("%s: no %s", d, fn)
			}
		}
		for _, fn := range river {
			if slices.Contains(funcs, fn) != riverDialect(d) {
				t.Errorf("%s: %s declared = %v, want %v", d, fn, !riverDialect(d), riverDialect(d))
			}
		}
	}
}

func TestJobsLayerImports(t *testing.T) {
	cases := []struct {
		d          Dialect
		want, deny []string // in river.go (or any file, for deny)
	}{
		{SQLite, []string{importRiverSQLite, importRiverMigrate, "database/sql"}, []string{importRiverPgx, importPgxPool}},
		{Postgres, []string{importRiverPgx, importRiverMigrate, importPgxPool}, []string{importRiverSQLite}},
		{MySQL, nil, []string{importRiver, importRiverSQLite, importRiverPgx, importRiverMigrate}},
	}
	for _, tc := range cases {
		n := jobsTestNames(tc.d, IDInt64)
		p := renderJobs(t, n)
		if riverDialect(tc.d) {
			for _, imp := range tc.want {
				if !slices.Contains(p.imports("river.go"), imp) {
					t.Errorf("%s: river.go does not import %s", tc.d, imp)
				}
			}
		}
		for name := range p.files {
			imps := p.imports(name)
			for _, imp := range tc.deny {
				if slices.Contains(imps, imp) {
					t.Errorf("%s: %s imports %s", tc.d, name, imp)
				}
			}
			for _, imp := range imps {
				if strings.HasPrefix(imp, n.Module) && imp != n.PackageImport && imp != n.PackageImport+"/mcpoauthtest" {
					t.Errorf("%s: %s imports %s; the generated packages are %s and its mcpoauthtest", tc.d, name, imp, n.PackageImport)
				}
			}
		}
		if !slices.Contains(p.imports("jobs.go"), n.PackageImport) {
			t.Errorf("%s: jobs.go does not import the generated package", tc.d)
		}
	}
}

func TestJobsLayerTestDatabase(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		src := renderJobs(t, jobsTestNames(d, IDInt64)).src["db_test.go"]
		if !strings.Contains(src, "mcpoauthtest.Open(t)") {
			t.Errorf("%s: db_test.go does not open the shared test database helper:\n%s", d, src)
		}
		// River on PostgreSQL needs a pgx pool on the test's own schema.
		if wantPool := d == Postgres; strings.Contains(src, "pgxpool.New(context.Background(), db.DSN)") != wantPool {
			t.Errorf("%s: db_test.go opens a pgx pool: %v, want %v:\n%s", d, !wantPool, wantPool, src)
		}
		if strings.Contains(src, "seedUser") {
			t.Errorf("%s: the jobs tests have a seedUser of their own besides mcpoauthtest.SeedUser", d)
		}
	}
}

func TestJobsLayerDoc(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		doc := renderJobs(t, jobsTestNames(d, IDInt64)).src["jobs.go"]
		river := strings.Contains(doc, "jobs.Start(")
		if river != riverDialect(d) {
			t.Errorf("%s: doc.go shows River wiring = %v", d, river)
		}
		if d == MySQL && !(strings.Contains(doc, "cron") && strings.Contains(doc, "Kubernetes CronJob") && strings.Contains(doc, "time.NewTicker")) {
			t.Errorf("mysql: doc.go does not explain scheduling without River:\n%s", doc)
		}
		if riverDialect(d) && !strings.Contains(doc, "not goose's") {
			t.Errorf("%s: doc.go does not say River's tables are not goose migrations", d)
		}
	}
}
