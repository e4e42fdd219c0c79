package generator

import (
	"github.com/dave/jennifer/jen"
)

// importSQLTest is the runtime's package of test databases.
const importSQLTest = RuntimeModule + "/sqltest"

// testHelpersDir is the package the generated tests share, below the
// generated package: their test database and users.
func testHelpersDir(n Names) string { return n.PackageDir + "/" + testHelpersPkg }

const testHelpersPkg = "mcpoauthtest"

// testHelpersFile renders the mcpoauthtest package: the test database of
// the app's dialect with its migrations (the runtime's sqltest), and the
// one SeedUser the tests of every generated package call.
func testHelpersFile(n Names, d sqlDialect) (*jen.File, error) {
	f := dataLayerJenFile(n, n.PackageImport+"/"+testHelpersPkg, testHelpersPkg)
	f.PackageComment("Package " + testHelpersPkg + " is what the tests of " + n.PackageName + " and its jobs share:")
	f.PackageComment("a database of their own with the app's migrations, and users in it.")
	f.Anon(map[Dialect]string{SQLite: importSQLite, Postgres: importStdlib, MySQL: importMySQL}[d.Dialect])
	t := jen.Id("t").Qual("testing", "TB")
	db := jen.Id("db").Op("*").Qual("database/sql", "DB")
	bg := jen.Qual("context", "Background").Call()
	id := userIDType(n)

	f.Const().Defs(
		docComment("Dialect is the app's database."),
		jen.Id("Dialect").Op("=").Qual(importSQLTest, map[Dialect]string{SQLite: "SQLite", Postgres: "Postgres", MySQL: "MySQL"}[d.Dialect]),
		jen.Line(),
		docComment("MigrationsDir is the app's migrations folder, from the module root: the",
			"tests apply all of it (SQL migrations; Go ones would need registering)."),
		jen.Id("MigrationsDir").Op("=").Lit(n.MigrationsDir),
	)
	f.Line()

	f.Add(docComment("Open returns a migrated database of the test's own: a SQLite file, or a",
		"schema or database on the server MCP_OAUTH_TEST_DATABASE_URL names (else: skip)."))
	f.Func().Id("Open").Params(t.Clone()).Op("*").Qual(importSQLTest, "DB").Block(
		jen.Id("t").Dot("Helper").Call(),
		jen.Return(jen.Qual(importSQLTest, "Open").Call(jen.Id("t"), jen.Id("Dialect"), jen.Id("MigrationsDir"))),
	)
	f.Line()

	var newID jen.Code
	switch n.UserIDType {
	case IDString:
		newID = jen.Qual("fmt", "Sprintf").Call(jen.Lit("user-%016x"), jen.Qual("math/rand/v2", "Uint64").Call())
	case IDUUID:
		newID = jen.Qual(n.UserIDImport, "New").Call()
	default:
		newID = jen.Qual("math/rand/v2", "Int64N").Call(jen.Lit(1).Op("<<").Lit(52)).Op("+").Lit(1)
	}
	f.Add(docComment("SeedUser inserts a row into "+d.UserTable+" with a fresh id, deleted when the",
		"test ends with what references it (ON DELETE CASCADE). Its other required",
		"columns get made-up unique values (sqltest.Insert); set your own in the map."))
	f.Func().Id("SeedUser").Params(t.Clone(), db.Clone()).Add(id).Block(
		jen.Id("t").Dot("Helper").Call(),
		jen.Id("id").Op(":=").Add(newID),
		jen.Qual(importSQLTest, "Insert").Call(jen.Id("t"), jen.Op("&").Qual(importSQLTest, "DB").Values(jen.Dict{
			jen.Id("DB"): jen.Id("db"), jen.Id("Dialect"): jen.Id("Dialect"),
		}), jen.Lit(d.UserTable), jen.Map(jen.String()).Any().Values(jen.Dict{jen.Lit("id"): jen.Id("id")})),
		jen.Id("t").Dot("Cleanup").Call(jen.Func().Params().Block(jen.Id("DeleteUser").Call(jen.Id("t"), jen.Id("db"), jen.Id("id")))),
		jen.Return(jen.Id("id")),
	)
	f.Line()

	f.Add(docComment("DeleteUser deletes the user row id."))
	f.Func().Id("DeleteUser").Params(t.Clone(), db.Clone(), jen.Id("id").Add(userIDType(n))).Block(
		jen.Id("t").Dot("Helper").Call(),
		jen.If(jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("db").Dot("ExecContext").Call(bg.Clone(),
			sqlString(d.bind("DELETE FROM "+d.UserTable+" WHERE id = ?")), jen.Id("id")), jen.Err().Op("!=").Nil()).Block(
			jen.Id("t").Dot("Errorf").Call(jen.Lit("delete user: %v"), jen.Err())),
	)
	return f, nil
}

// jobsDBTestFile renders the jobs package's db_test.go: each test's
// database (mcpoauthtest.Open) as the Store and River want it.
func jobsDBTestFile(data jobsData) (*jen.File, error) {
	n := data.Names
	f := newJenFile(data.JobsImport, "jobs")
	f.ImportName(n.PackageImport+"/"+testHelpersPkg, testHelpersPkg)
	fields := []jen.Code{jen.Id("sql").Op("*").Qual("database/sql", "DB").Comment("// for the Store")}
	ret := jen.Dict{jen.Id("sql"): jen.Id("db").Dot("DB")}
	riverDB := jen.Id("db").Dot("DB")
	var body []jen.Code
	if data.River {
		rs := newRiverSpec(n.Dialect)
		fields = append(fields, jen.Id("river").Add(rs.db).Comment("// for River: Migrate, NewClient"))
		if n.Dialect == Postgres {
			body = []jen.Code{
				jen.List(jen.Id("pool"), jen.Err()).Op(":=").Qual(importPgxPool, "New").Call(jen.Qual("context", "Background").Call(), jen.Id("db").Dot("DSN")),
				jen.If(jen.Err().Op("!=").Nil()).Block(jen.Id("t").Dot("Fatalf").Call(jen.Lit("open pool: %v"), jen.Err())),
				jen.Id("t").Dot("Cleanup").Call(jen.Id("pool").Dot("Close")),
			}
			riverDB = jen.Id("pool")
		}
		ret[jen.Id("river")] = riverDB
	}
	f.Add(jobsComment("testDatabase is one test's database, migrated with the app's migrations."))
	f.Type().Id("testDatabase").Struct(fields...)
	f.Line()
	if data.River {
		f.Add(jobsComment("testClient is the River client NewClient returns on " + data.RiverTitle + "."))
		f.Type().Id("testClient").Op("=").Qual(importRiver, "Client").Types(newRiverSpec(n.Dialect).tx)
		f.Line()
	}
	f.Add(jobsComment("openTestDB returns a database of the test's own (mcpoauthtest.Open): the",
		"jobs act on every user's rows, so no two tests may share one."))
	f.Func().Id("openTestDB").Params(jen.Id("t").Op("*").Qual("testing", "T")).Id("testDatabase").Block(append(append([]jen.Code{
		jen.Id("t").Dot("Helper").Call(),
		jen.Id("db").Op(":=").Qual(n.PackageImport+"/"+testHelpersPkg, "Open").Call(jen.Id("t")),
	}, body...), jen.Return(jen.Id("testDatabase").Values(ret)))...)
	return f, nil
}
