package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/e2e"
)

// TestInstallIntoOtherApps installs, with no arguments, into sample apps
// written the way teams write them rather than the way mcpgen would like
// (another router, the database in a struct field, no User type, a user
// table with required unique columns), then builds, vets and runs the
// app's tests: the generated ones and the app's own check that the pages
// answer through its router for a signed-in user.
func TestInstallIntoOtherApps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building the apps")
	}
	for _, tc := range []struct {
		app     string
		dialect generator.Dialect
		notes   []string // what install must say it detected
		own     string   // the app's own test of the install
	}{
		{"chiapp", generator.SQLite, []string{
			"no type User: using Account (internal/models/account.go)",
			"routes: the signed-in user comes from app.CurrentAccountID (internal/app/server.go): the only func(*http.Request) (int64, bool)",
			"inject  internal/app/server.go  (r.Mount(mcpoauth.RoutePrefix, mcpoauth.Routes(s.db, CurrentAccountID)))",
		}, "TestConnectionsThroughTheAppsRouter"},
		{"echoapp", generator.SQLite, []string{
			"user model User in internal/users/user.go (ID string)",
			"routes: the signed-in user comes from server.CurrentUser (internal/server/server.go)",
			`inject  internal/server/server.go  (e.Any(mcpoauth.RoutePrefix+"*", echo.WrapHandler(mcpoauth.Routes(db, CurrentUser))))`,
		}, "TestConnectionsThroughTheAppsRouter"},
		{"ginapp", generator.SQLite, []string{
			"routes: the signed-in user comes from api.CurrentUserID (internal/api/api.go)",
			`inject  internal/api/api.go  (mcpConnections := gin.WrapH(mcpoauth.Routes(db, CurrentUserID)); r.Any(mcpoauth.RoutePrefix, mcpConnections); r.Any(mcpoauth.RoutePrefix+"/*path", mcpConnections))`,
		}, "TestConnectionsThroughTheAppsRouter"},
		{"gorillaapp", generator.Postgres, []string{
			"database postgres, from SERIAL in migrations/00001_create_members.sql (no database driver in go.mod yet)",
			"no type User: using Member (internal/team/member.go)",
			"routes: the signed-in user comes from session.MemberID (internal/session/session.go)",
			"inject  internal/web/router.go  (r.PathPrefix(mcpoauth.RoutePrefix).Handler(mcpoauth.Routes(app.DB, mcpoauth.FromContext(session.MemberID))))",
		}, "TestConnectionsThroughTheAppsRouter"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			t.Parallel()
			dir := copyApp(t, tc.app)
			out := install(t, dir)
			for _, want := range tc.notes {
				if !strings.Contains(out, want) {
					t.Errorf("install does not say %q:\n%s", want, out)
				}
			}
			if err := e2e.UseRuntimeCheckout(context.Background(), dir, repo(t)); err != nil {
				t.Fatal(err)
			}
			goCmd(t, dir, nil, "mod", "tidy")
			goCmd(t, dir, nil, "build", "./...")
			goCmd(t, dir, nil, "vet", "./...")
			var env []string
			dsn := testDatabase(t, tc.dialect)
			if dsn != "" {
				env = append(env, "MCP_OAUTH_TEST_DATABASE_URL="+dsn)
			}
			res := goCmd(t, dir, env, "test", "-count=1", "-v", "./...")
			if tc.dialect != generator.SQLite && dsn == "" {
				return // built and vetted; the tests skipped without a database
			}
			if !strings.Contains(res, "--- PASS: "+tc.own) || strings.Contains(res, "--- SKIP") {
				t.Fatalf("the app's tests did not all run and pass:\n%s", res)
			}
		})
	}
}

// TestInstallFindsARouterByItsType installs into an app whose router comes
// from a helper (r := s.router()): the syntax cannot tell its type, the
// package's type information can.
func TestInstallFindsARouterByItsType(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: loads the app's packages")
	}
	dir := copyApp(t, "chiapp")
	server := filepath.Join(dir, "internal", "app", "server.go")
	src, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte("\tr := chi.NewRouter()\n"), []byte("\tr := s.router()\n"), 1)
	src = append(src, []byte("\nfunc (s *Server) router() chi.Router { return chi.NewRouter() }\n")...)
	if err := os.WriteFile(server, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := install(t, dir)
	if want := "inject  internal/app/server.go  (r.Mount(mcpoauth.RoutePrefix, mcpoauth.Routes(s.db, CurrentAccountID)))"; !strings.Contains(out, want) {
		t.Errorf("install does not say %q:\n%s", want, out)
	}
	if err := e2e.UseRuntimeCheckout(context.Background(), dir, repo(t)); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, nil, "mod", "tidy")
	goCmd(t, dir, nil, "vet", "./...")
}

// TestInstallFindsTheDatabaseByItsType installs into an app whose
// *sql.DB is behind a type of another package (s.platform.DB()): the
// syntax of the marker's package cannot tell, its type information can.
// The app's own test then connects a user through its router.
func TestInstallFindsTheDatabaseByItsType(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: loads the app's packages")
	}
	dir := copyApp(t, "chiapp")
	write(t, dir, "internal/platform/platform.go", `// Package platform holds the app's shared services.
package platform

import "database/sql"

// Platform is what every part of the app shares.
type Platform struct{ db *sql.DB }

// New returns the platform over db.
func New(db *sql.DB) *Platform { return &Platform{db: db} }

// DB is the app's database.
func (p *Platform) DB() *sql.DB { return p.db }
`)
	src := read(t, dir, "internal/app/server.go")
	for _, r := range [][2]string{
		{"\t\"github.com/go-chi/chi/v5\"\n", "\t\"github.com/go-chi/chi/v5\"\n\n\t\"example.com/chiapp/internal/platform\"\n"},
		{"type Server struct {\n\tdb *sql.DB\n}", "type Server struct {\n\tplatform *platform.Platform\n}"},
		{"return &Server{db: db}", "return &Server{platform: platform.New(db)}"},
	} {
		if !strings.Contains(src, r[0]) {
			t.Fatalf("chiapp's server.go has no %q", r[0])
		}
		src = strings.Replace(src, r[0], r[1], 1)
	}
	write(t, dir, "internal/app/server.go", src)

	out := install(t, dir)
	if want := "inject  internal/app/server.go  (r.Mount(mcpoauth.RoutePrefix, mcpoauth.Routes(s.platform.DB(), CurrentAccountID)))"; !strings.Contains(out, want) {
		t.Errorf("install does not say %q:\n%s", want, out)
	}
	if err := e2e.UseRuntimeCheckout(context.Background(), dir, repo(t)); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, nil, "mod", "tidy")
	goCmd(t, dir, nil, "vet", "./...")
	if res := goCmd(t, dir, nil, "test", "-count=1", "-v", "-run", "TestConnectionsThroughTheAppsRouter", "./internal/app/"); !strings.Contains(res, "--- PASS: TestConnectionsThroughTheAppsRouter") {
		t.Fatalf("the app's own test did not pass:\n%s", res)
	}
}
