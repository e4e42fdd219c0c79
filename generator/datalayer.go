package generator

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/dave/jennifer/jen"
)

// Import paths the data layer's generated code uses.
const (
	importSQLite = "modernc.org/sqlite"
	importPgx    = "github.com/jackc/pgx/v5"
	importStdlib = "github.com/jackc/pgx/v5/stdlib"
	importMySQL  = "github.com/go-sql-driver/mysql"
)

// The names of the migrations, in the order they apply; the planner
// numbers them.
const (
	migrationCredentials = "create_mcp_oauth_credentials"
	migrationStates      = "create_mcp_oauth_states"
	migrationClients     = "create_mcp_oauth_clients"
)

var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkDataLayerNames rejects Names the data layer cannot be written from,
// so a bad value is an error here rather than SQL or Go that does not
// build in the user's project.
func checkDataLayerNames(n Names) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("data layer: "+format, args...)
	}
	switch n.Dialect {
	case SQLite, Postgres, MySQL:
	default:
		return fail("unknown database %q (want sqlite, postgres or mysql)", n.Dialect)
	}
	switch n.UserIDType {
	case IDInt64, IDString:
	case IDUUID:
		if n.UserIDImport == "" {
			return fail("user ID type uuid needs the import path of its package")
		}
	default:
		return fail("unknown user ID type %q (want int64, string or uuid)", n.UserIDType)
	}
	for _, s := range []struct{ what, v string }{{"user table", n.UserTable}, {"user foreign key", n.UserFK}} {
		if !identPattern.MatchString(s.v) {
			return fail("%s %q is not a plain SQL identifier", s.what, s.v)
		}
	}
	for _, s := range []struct{ what, v string }{
		{"package folder", n.PackageDir}, {"migrations folder", n.MigrationsDir},
		{"package import path", n.PackageImport},
	} {
		if s.v == "" || path.IsAbs(s.v) || path.Clean(s.v) != s.v || s.v == "." || strings.HasPrefix(s.v, "../") {
			return fail("%s %q is not a clean relative path", s.what, s.v)
		}
	}
	if !isGoName(n.PackageName) {
		return fail("package name %q is not a Go identifier", n.PackageName)
	}
	if n.UserHelpers != "" {
		if !strings.HasSuffix(n.UserHelpers, ".go") || strings.HasSuffix(n.UserHelpers, "_test.go") {
			return fail("user helpers file %q is not a non-test .go file", n.UserHelpers)
		}
		for _, s := range []struct{ what, v string }{
			{"user model", n.UserModel}, {"user model package", n.UserModelPkg}, {"user ID field", n.UserIDField},
		} {
			if !isGoName(s.v) {
				return fail("%s %q is not a Go identifier", s.what, s.v)
			}
		}
	}
	return nil
}

func isGoName(s string) bool {
	return s != "" && identPattern.MatchString(s) && !predeclared[s] && !goKeyword(s)
}

func goKeyword(s string) bool {
	switch s {
	case "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough",
		"for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range",
		"return", "select", "struct", "switch", "type", "var":
		return true
	}
	return false
}

// dataLayerJenFile starts a jennifer file of the data layer, naming the
// imports whose package name differs from their path's last element or
// that jennifer would otherwise alias.
func dataLayerJenFile(n Names, path, pkg string) *jen.File {
	f := newJenFile(path, pkg)
	f.ImportName(n.PackageImport, n.PackageName)
	return f
}
