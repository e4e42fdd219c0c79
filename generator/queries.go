package generator

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// sqlString renders SQL as a raw string literal, or an interpreted one if
// it holds a backquote.
func sqlString(s string) jen.Code {
	if strings.Contains(s, "`") {
		return jen.Lit(s)
	}
	return jen.Id("`" + s + "`")
}

// comment renders lines as one // comment block.
func docComment(lines ...string) jen.Code {
	return jen.Comment("// " + strings.Join(lines, "\n// "))
}

// userIDType is the Go type of UserID.
func userIDType(n Names) jen.Code {
	switch n.UserIDType {
	case IDString:
		return jen.String()
	case IDUUID:
		return jen.Qual(n.UserIDImport, "UUID")
	}
	return jen.Int64()
}

// queriesFile renders queries.go: everything in the package that depends
// on the database and the user ID type.
func queriesFile(n Names, d sqlDialect) (*jen.File, error) {
	f := dataLayerJenFile(n, n.PackageImport, n.PackageName)
	idCol := n.UserTable + ".id"

	f.Add(docComment(
		"UserID is the type of "+idCol+", the key every credential and pending",
		"flow belongs to. The mcp_oauth tables reference it as "+n.UserFK+"."))
	f.Type().Id("UserID").Op("=").Add(userIDType(n))
	f.Line()

	beginImmediate := d.Dialect == SQLite
	lockDoc := []string{
		"lockWithBeginImmediate is false: a write transaction locks the rows it",
		"reads with SELECT … FOR UPDATE.",
	}
	if beginImmediate {
		lockDoc = []string{
			"lockWithBeginImmediate is true: SQLite has no row locks, so a write",
			"transaction takes the database's write lock up front with BEGIN IMMEDIATE,",
			"on a dedicated connection.",
		}
	}
	returnsDoc := []string{"insertReturnsID is true: an INSERT reports its row's id with RETURNING id."}
	if d.Dialect == MySQL {
		returnsDoc = []string{
			"insertReturnsID is false: MySQL has no RETURNING, so the id comes from",
			"LastInsertId (an upsert sets it with LAST_INSERT_ID(id)).",
		}
	}
	f.Const().Defs(
		docComment(lockDoc...),
		jen.Id("lockWithBeginImmediate").Op("=").Lit(beginImmediate),
		jen.Line(),
		docComment(returnsDoc...),
		jen.Id("insertReturnsID").Op("=").Lit(d.Dialect != MySQL),
	)
	f.Line()

	t := jen.Id("t").Dot("UTC").Call().Dot("Truncate").Call(jen.Qual("time", "Microsecond"))
	switch d.Dialect {
	case SQLite:
		f.Add(docComment(
			"sqliteTimeLayout is how times are stored in SQLite: fixed-width UTC text,",
			"so that comparing the text compares the times."))
		f.Const().Id("sqliteTimeLayout").Op("=").Lit("2006-01-02 15:04:05.000000")
		f.Line()
		f.Add(docComment(
			"dbTime converts t to the value bound for a timestamp column: UTC text",
			"with microseconds. Reads accept any form; see sqlutil.Time."))
		f.Func().Id("dbTime").Params(jen.Id("t").Qual("time", "Time")).Any().Block(
			jen.Return(t.Clone().Dot("Format").Call(jen.Id("sqliteTimeLayout"))))
	case Postgres:
		f.Add(docComment(
			"dbTime converts t to the value bound for a TIMESTAMPTZ column, in UTC and",
			"truncated to the microseconds PostgreSQL keeps (it would round)."))
		f.Func().Id("dbTime").Params(jen.Id("t").Qual("time", "Time")).Any().Block(jen.Return(t))
	case MySQL:
		f.Add(docComment(
			"dbTime converts t to the value bound for a DATETIME(6) column: UTC (the",
			"column has no zone, so every writer must agree) truncated to microseconds.",
			"Open the database with parseTime=true; reads accept text too."))
		f.Func().Id("dbTime").Params(jen.Id("t").Qual("time", "Time")).Any().Block(jen.Return(t))
	}
	f.Line()

	defs := []jen.Code{
		jen.Comment(credentialColumns + " are the columns a credential is read from, in the order Storage scans them."),
		jen.Id(credentialColumns).Op("=").Add(sqlString("id, " + d.UserFK + ", server_url, issuer, token_data, client_info_data, granted_scope, required_scope,\n" +
			"\ttoken_expires_at, last_refreshed_at, reauth_required_at, created_at, updated_at")),
	}
	for _, s := range d.statements() {
		value := sqlString(d.bind(s.sql))
		if rest, ok := strings.CutPrefix(s.sql, "SELECT "+credentialColumns); ok {
			value = jen.Lit("SELECT ").Op("+").Id(credentialColumns).Op("+").Add(sqlString(d.bind(rest)))
		}
		defs = append(defs, jen.Comment(s.name+" "+s.doc), jen.Id(s.name).Op("=").Add(value))
	}
	f.Add(docComment("The statements of Storage, written for " + dialectTitle(d.Dialect) + "."))
	f.Const().Defs(defs...)
	return f, nil
}
