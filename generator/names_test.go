package generator

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandlerType(t *testing.T) {
	for _, tc := range []struct{ handler, controller, want, err string }{
		{"", "", "MCPConnectionsHandler", ""},
		{"ToolsHandler", "", "ToolsHandler", ""},
		{"", "OAuthConnectionsController", "OAuthConnectionsHandler", ""},
		{"", "oauth_connections_controller", "OauthConnectionsHandler", ""},
		{"OAuthConnectionsHandler", "OAuthConnectionsController", "OAuthConnectionsHandler", ""},
		{"A", "BController", "", "name different handlers"},
		{"type", "", "", "keyword"},
		{"9lives", "", "", "not a Go identifier"},
	} {
		got, err := handlerType(tc.handler, tc.controller)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("handlerType(%q, %q) error = %v, want one containing %q", tc.handler, tc.controller, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("handlerType(%q, %q) = %q, %v; want %q", tc.handler, tc.controller, got, err, tc.want)
		}
	}
}

func TestResolveNames(t *testing.T) {
	fsys := fstest.MapFS{
		"go.mod":                     {Data: []byte("module example.com/app\n\ngo 1.26\n\nrequire (\n\tgithub.com/jackc/pgx/v5 v5.12.0\n\tmodernc.org/sqlite v1.0.0 // indirect\n)\n")},
		"internal/models/member.go":  {Data: []byte("package models\n\ntype MemberID string\n\ntype TeamMember struct {\n\tID MemberID\n}\n")},
		"migrations/00001_users.sql": {Data: []byte("-- +goose Up\nCREATE TABLE team_members (id text PRIMARY KEY);\n")},
	}
	n, _, err := Resolve(fsys, Options{UserModel: "team_member", Namespace: "Admin/Tools"})
	if err != nil {
		t.Fatal(err)
	}
	want := Names{
		Module: "example.com/app", Dialect: Postgres,
		UserModel: "TeamMember", UserTable: "team_members", UserFK: "team_member_id",
		UserIDType: IDString, UserIDField: "ID",
		UserModelFile: "internal/models/member.go", UserModelPkg: "models",
		UserHelpers: "internal/models/team_member_mcp_oauth.go",
		Namespace:   []string{"Admin", "Tools"}, HandlerType: "MCPConnectionsHandler",
		Resource: "mcp_connections", RoutePrefix: "/admin/tools/mcp_connections",
		PackageDir: "internal/admin/tools/mcpoauth", PackageName: "mcpoauth",
		PackageImport: "example.com/app/internal/admin/tools/mcpoauth",
		ViewDir:       "internal/admin/tools/mcpoauth/views/mcp_connections",
		MigrationsDir: "migrations",
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("Resolve:\n got %+v\nwant %+v", n, want)
	}
}

func TestResolveRejects(t *testing.T) {
	mod := &fstest.MapFile{Data: []byte("module example.com/app\n")}
	users := &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE users (id BIGINT PRIMARY KEY);\n")}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		opts Options
		want string
	}{
		{"no go.mod", fstest.MapFS{}, Options{}, "not a Go module"},
		{"digits first", fstest.MapFS{"go.mod": mod}, Options{UserModel: "123abc"}, "not a Go identifier"},
		{"space", fstest.MapFS{"go.mod": mod}, Options{UserModel: "my model"}, "not a Go identifier"},
		{"keyword", fstest.MapFS{"go.mod": mod}, Options{UserModel: "type"}, "keyword"},
		{"predeclared", fstest.MapFS{"go.mod": mod}, Options{UserModel: "string"}, "predeclared"},
		{"namespace traversal", fstest.MapFS{"go.mod": mod}, Options{Namespace: "../../etc"}, "leaves the project"},
		{"non-ASCII namespace", fstest.MapFS{"go.mod": mod}, Options{Namespace: "Ädmin"}, "non-ASCII character"},
		{"non-ASCII model", fstest.MapFS{"go.mod": mod}, Options{UserModel: "Benutzér"}, "non-ASCII character"},
		{"absolute migrations", fstest.MapFS{"go.mod": mod}, Options{MigrationsDir: "/tmp"}, "absolute"},
		{"escaping migrations", fstest.MapFS{"go.mod": mod}, Options{MigrationsDir: "db/../../x"}, "leaves the project"},
		{"unknown database", fstest.MapFS{"go.mod": mod}, Options{Database: "oracle"}, "unknown --database"},
		{"unknown id type", fstest.MapFS{"go.mod": mod}, Options{UserIDType: "float"}, "unknown --user-id-type"},
		{"bad table", fstest.MapFS{"go.mod": mod}, Options{UserTable: "users; drop"}, "not a plain SQL table name"},
		{"two drivers", fstest.MapFS{"go.mod": {Data: []byte("module m\nrequire github.com/lib/pq v1.0.0\nrequire modernc.org/sqlite v1.0.0\n")}}, Options{}, "several databases"},
		{"contradicting id type", fstest.MapFS{"go.mod": mod, "db/migrations/00001_users.sql": users, "m/u.go": {Data: []byte("package m\ntype User struct{ ID int64 }\n")}}, Options{UserIDType: "uuid"}, "contradicts"},
		{"unmappable id", fstest.MapFS{"go.mod": mod, "db/migrations/00001_users.sql": users, "m/u.go": {Data: []byte("package m\ntype User struct{ ID [16]byte }\n")}}, Options{}, "cannot map"},
		{"no user table", fstest.MapFS{"go.mod": mod, "db/migrations/00001_accounts.sql": {Data: []byte("-- +goose Up\nCREATE TABLE accounts (id BIGINT);\n-- +goose Down\nCREATE TABLE users (id BIGINT);\n")}},
			Options{SkipRoutes: true}, "no migration in db/migrations creates the table users"},
		{"several model candidates", fstest.MapFS{"go.mod": mod,
			"db/migrations/00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE accounts (id BIGINT);\nCREATE TABLE members (id BIGINT);\n")},
			"m/m.go":                    {Data: []byte("package m\ntype Account struct{ ID int64 }\ntype Member struct{ ID int64 }\n")}},
			Options{}, "several structs look like the user model: Account (m/m.go, table accounts), Member (m/m.go, table members)"},
		{"handler collides", fstest.MapFS{"go.mod": mod, "db/migrations/00001_users.sql": users, "internal/mcpoauth/x.go": {Data: []byte("package mcpoauth\ntype MCPConnectionsHandler struct{}\n")}}, Options{}, "collides with type MCPConnectionsHandler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Resolve(tc.fsys, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if _, ok := err.(*InputError); !ok {
				t.Errorf("error is %T, want *InputError (names the fix)", err)
			}
		})
	}
}

func TestResolveReadsTheAppsMigrations(t *testing.T) {
	mod := &fstest.MapFile{Data: []byte("module example.com/app\n")}
	fsys := fstest.MapFS{
		"go.mod":                     mod,
		"db/migrations/00001_a.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE IF NOT EXISTS public.\"accounts\" (id BIGSERIAL PRIMARY KEY, created_at TIMESTAMP NOT NULL DEFAULT now());\n")},
		"db/migrations/00002_b.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE widgets (id BIGINT);\n")},
		"internal/auth/account.go":   {Data: []byte("package auth\n\ntype Account struct {\n\tID    int64\n\tEmail string\n}\n")},
		"internal/auth/widget.go":    {Data: []byte("package auth\n\ntype Gadget struct{ ID int64 }\n")},
		"internal/auth/account_x.go": {Data: []byte("package auth\n\ntype session struct{ ID int64 }\n")},
	}
	n, notes, err := Resolve(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Dialect != Postgres || n.UserModel != "Account" || n.UserTable != "accounts" {
		t.Errorf("Resolve = %s, model %s, table %s; want postgres from the migrations' SQL, and Account, the only struct whose table they create", n.Dialect, n.UserModel, n.UserTable)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"database postgres, from SERIAL in db/migrations/00001_a.sql", "no type User: using Account (internal/auth/account.go)"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes do not say %q:\n%s", want, all)
		}
	}
	for sql, want := range map[string]Dialect{
		"CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB;": MySQL,
		"CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT);":               SQLite,
		"CREATE TABLE users (id BIGINT PRIMARY KEY);":                              SQLite, // nothing particular: the default
		"CREATE TABLE users (id SERIAL, n INT AUTO_INCREMENT);":                    SQLite, // two databases' SQL: no guess
	} {
		fsys := fstest.MapFS{"go.mod": mod, "db/migrations/00001_u.sql": {Data: []byte("-- +goose Up\n" + sql + "\n")}}
		if n, _, err := Resolve(fsys, Options{}); err != nil || n.Dialect != want {
			t.Errorf("%s: dialect %s (%v), want %s", sql, n.Dialect, err, want)
		}
	}
}
