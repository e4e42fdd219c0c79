package generator

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// Import paths the jobs package uses.
const (
	importRiver        = "github.com/riverqueue/river"
	importRiverSQLite  = "github.com/riverqueue/river/riverdriver/riversqlite"
	importRiverPgx     = "github.com/riverqueue/river/riverdriver/riverpgxv5"
	importRiverMigrate = "github.com/riverqueue/river/rivermigrate"
	importPgxPool      = "github.com/jackc/pgx/v5/pgxpool"
)

// jobsData is the data of the jobs templates.
type jobsData struct {
	Names
	River      bool   // River runs on the dialect
	JobsDir    string // folder of the jobs package
	JobsImport string // its import path
	RiverDB    string // what NewClient and Migrate take, as Go source
	RiverTitle string // the database's name, in prose
}

// riverDialect reports whether River supports the dialect: SQLite and
// PostgreSQL; MySQL gets the plain functions only.
func riverDialect(d Dialect) bool { return d == SQLite || d == Postgres }

// newJobsData returns the data of the jobs layer's templates and builders:
// package jobs beside the generated package, importing it. On SQLite and
// PostgreSQL it has River workers and periodic jobs; on MySQL, which River
// does not support, the same work is there as plain functions for any
// scheduler.
func newJobsData(n Names) jobsData {
	return jobsData{
		Names:      n,
		River:      riverDialect(n.Dialect),
		JobsDir:    n.PackageDir + "/jobs",
		JobsImport: n.PackageImport + "/jobs",
		RiverDB:    map[Dialect]string{SQLite: "*sql.DB", Postgres: "*pgxpool.Pool"}[n.Dialect],
		RiverTitle: dialectTitle(n.Dialect),
	}
}

// jobsComment renders lines as one // comment block; "" is an empty
// comment line.
func jobsComment(lines ...string) jen.Code {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight("// "+l, " ")
	}
	return jen.Comment(strings.Join(out, "\n"))
}

// riverSpec is what differs between River's two drivers.
type riverSpec struct {
	driver string   // import path of the driver package
	db     jen.Code // the pool type NewClient takes
	tx     jen.Code // the client's transaction type
	dbName string   // parameter name
}

func newRiverSpec(d Dialect) riverSpec {
	if d == Postgres {
		return riverSpec{driver: importRiverPgx, db: jen.Op("*").Qual(importPgxPool, "Pool"),
			tx: jen.Qual(importPgx, "Tx"), dbName: "pool"}
	}
	return riverSpec{driver: importRiverSQLite, db: jen.Op("*").Qual("database/sql", "DB"),
		tx: jen.Op("*").Qual("database/sql", "Tx"), dbName: "db"}
}

// riverFile renders river.go: the River side of the jobs, on the
// dialect's driver.
func riverFile(data jobsData) (*jen.File, error) {
	n := data.Names
	f := newJenFile(data.JobsImport, "jobs")
	f.ImportName(n.PackageImport, n.PackageName)
	f.ImportName(importRiverMigrate, "rivermigrate")
	rs := newRiverSpec(n.Dialect)
	ctx := jen.Id("ctx").Qual("context", "Context")
	errf := func(format string, args ...jen.Code) *jen.Statement {
		return jen.Qual("fmt", "Errorf").Call(append([]jen.Code{jen.Lit(format)}, args...)...)
	}
	insertOpts := func(d jen.Dict) jen.Code {
		return jen.Qual(importRiver, "InsertOpts").Values(d)
	}

	f.Add(jobsComment("The kinds of the jobs: river_job.kind. Renaming one strands the jobs",
		"already queued under the old name."))
	f.Const().Defs(
		jen.Id("ResearchKind").Op("=").Lit("mcp_research"),
		jen.Id("CleanupExpiredOAuthStatesKind").Op("=").Lit("mcp_oauth_cleanup_expired_states"),
		jen.Id("RefreshExpiringCredentialsKind").Op("=").Lit("mcp_oauth_refresh_expiring_credentials"),
	)
	f.Line()
	f.Add(jobsComment("ResearchMaxAttempts bounds the retries of a research job that failed",
		"for a reason worth retrying (the server is down, the tool failed)."))
	f.Const().Id("ResearchMaxAttempts").Op("=").Lit(5)
	f.Line()

	// Args.
	f.Func().Params(jen.Id("ResearchArgs")).Id("Kind").Params().String().Block(jen.Return(jen.Id("ResearchKind")))
	f.Line()
	f.Func().Params(jen.Id("ResearchArgs")).Id("InsertOpts").Params().Qual(importRiver, "InsertOpts").Block(
		jen.Return(insertOpts(jen.Dict{jen.Id("MaxAttempts"): jen.Id("ResearchMaxAttempts")})))
	f.Line()

	f.Add(jobsComment("CleanupExpiredOAuthStatesArgs is the daily cleanup job (the guide's",
		"CleanupExpiredOauthStatesJob); insert one to run it now."))
	f.Type().Id("CleanupExpiredOAuthStatesArgs").Struct()
	f.Line()
	f.Func().Params(jen.Id("CleanupExpiredOAuthStatesArgs")).Id("Kind").Params().String().Block(
		jen.Return(jen.Id("CleanupExpiredOAuthStatesKind")))
	f.Line()

	f.Add(jobsComment("RefreshExpiringCredentialsArgs is the job renewing tokens about to",
		"expire (RefreshExpiring); insert one to run it now."))
	f.Type().Id("RefreshExpiringCredentialsArgs").Struct()
	f.Line()
	f.Func().Params(jen.Id("RefreshExpiringCredentialsArgs")).Id("Kind").Params().String().Block(
		jen.Return(jen.Id("RefreshExpiringCredentialsKind")))
	f.Line()

	// Workers.
	job := func(args string) jen.Code {
		return jen.Id("job").Op("*").Qual(importRiver, "Job").Types(jen.Id(args))
	}
	recordOutput := func(what string, v jen.Code) jen.Code {
		// A result too large to record must not fail work that was done.
		return jen.If(jen.Id("rerr").Op(":=").Qual(importRiver, "RecordOutput").Call(jen.Id("ctx"), v),
			jen.Id("rerr").Op("!=").Nil()).Block(
			jen.Id("w").Dot("Deps").Dot("logger").Call().Dot("WarnContext").Call(jen.Id("ctx"),
				jen.Lit("jobs: "+what+": recording the output failed"),
				jen.Qual("log/slog", "Any").Call(jen.Lit("error"), jen.Id("rerr"))),
		)
	}

	f.Add(jobsComment("ResearchWorker runs RunResearch, recording the result as the job's",
		"output; a job the user must act on first is cancelled, not retried."))
	f.Type().Id("ResearchWorker").Struct(
		jen.Qual(importRiver, "WorkerDefaults").Types(jen.Id("ResearchArgs")),
		jen.Id("Deps").Id("Deps"),
	)
	f.Line()
	f.Func().Params(jen.Id("w").Op("*").Id("ResearchWorker")).Id("Work").Params(ctx.Clone(), job("ResearchArgs")).Error().Block(
		jen.List(jen.Id("res"), jen.Err()).Op(":=").Id("RunResearch").Call(jen.Id("ctx"), jen.Id("w").Dot("Deps"), jen.Id("job").Dot("Args")),
		jen.If(jen.Id("res").Op("!=").Nil()).Block(recordOutput("research", jen.Id("res"))),
		jen.If(jen.Qual("errors", "Is").Call(jen.Err(), jen.Id("ErrPermanent"))).Block(
			jen.Return(jen.Qual(importRiver, "JobCancel").Call(jen.Err()))),
		jen.Return(jen.Err()),
	)
	f.Line()

	f.Add(jobsComment("CleanupExpiredOAuthStatesWorker runs CleanupExpiredStates and",
		"CleanupExpiredRateLimits, recording how many rows each deleted."))
	f.Type().Id("CleanupExpiredOAuthStatesWorker").Struct(
		jen.Qual(importRiver, "WorkerDefaults").Types(jen.Id("CleanupExpiredOAuthStatesArgs")),
		jen.Id("Deps").Id("Deps"),
	)
	f.Line()
	f.Func().Params(jen.Id("w").Op("*").Id("CleanupExpiredOAuthStatesWorker")).Id("Work").Params(ctx.Clone(), jen.Id("_").Op("*").Qual(importRiver, "Job").Types(jen.Id("CleanupExpiredOAuthStatesArgs"))).Error().Block(
		jen.List(jen.Id("states"), jen.Err()).Op(":=").Id("CleanupExpiredStates").Call(jen.Id("ctx"), jen.Id("w").Dot("Deps").Dot("Store")),
		jen.List(jen.Id("limits"), jen.Id("lerr")).Op(":=").Id("CleanupExpiredRateLimits").Call(jen.Id("ctx"), jen.Id("w").Dot("Deps").Dot("Store")),
		recordOutput("cleanup expired states", jen.Map(jen.String()).Int64().Values(jen.Dict{
			jen.Lit("deleted"): jen.Id("states"), jen.Lit("rate_limits_deleted"): jen.Id("limits")})),
		jen.Return(jen.Qual("errors", "Join").Call(jen.Err(), jen.Id("lerr"))),
	)
	f.Line()

	f.Add(jobsComment("RefreshExpiringCredentialsWorker runs RefreshExpiring, recording its report."))
	f.Type().Id("RefreshExpiringCredentialsWorker").Struct(
		jen.Qual(importRiver, "WorkerDefaults").Types(jen.Id("RefreshExpiringCredentialsArgs")),
		jen.Id("Deps").Id("Deps"),
	)
	f.Line()
	f.Add(jobsComment("Timeout gives a run as long as the interval between two: renewing many",
		"tokens is many requests."))
	f.Func().Params(jen.Id("w").Op("*").Id("RefreshExpiringCredentialsWorker")).Id("Timeout").Params(
		jen.Op("*").Qual(importRiver, "Job").Types(jen.Id("RefreshExpiringCredentialsArgs"))).Qual("time", "Duration").Block(
		jen.Return(jen.Id("RefreshInterval")))
	f.Line()
	f.Func().Params(jen.Id("w").Op("*").Id("RefreshExpiringCredentialsWorker")).Id("Work").Params(ctx.Clone(), jen.Id("_").Op("*").Qual(importRiver, "Job").Types(jen.Id("RefreshExpiringCredentialsArgs"))).Error().Block(
		jen.List(jen.Id("report"), jen.Err()).Op(":=").Id("RefreshExpiring").Call(jen.Id("ctx"), jen.Id("w").Dot("Deps")),
		recordOutput("refresh expiring", jen.Id("report")),
		jen.Return(jen.Err()),
	)
	f.Line()

	// AddWorkers.
	addWorker := func(w jen.Code) jen.Code {
		return jen.If(jen.Err().Op(":=").Qual(importRiver, "AddWorkerSafely").Call(jen.Id("workers"), w), jen.Err().Op("!=").Nil()).Block(
			jen.Return(errf("jobs: add workers: %w", jen.Err())))
	}
	f.Add(jobsComment("AddWorkers registers the workers of every job of this package with",
		"workers, which must not hold them already. deps needs Store and Clients."))
	f.Func().Id("AddWorkers").Params(jen.Id("workers").Op("*").Qual(importRiver, "Workers"), jen.Id("deps").Id("Deps")).Error().Block(
		jen.If(jen.Id("workers").Op("==").Nil()).Block(jen.Return(jen.Qual("errors", "New").Call(jen.Lit("jobs: add workers: workers is nil")))),
		jen.If(jen.Err().Op(":=").Id("deps").Dot("check").Call(jen.Lit("add workers"), jen.True()), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
		addWorker(jen.Op("&").Id("ResearchWorker").Values(jen.Dict{jen.Id("Deps"): jen.Id("deps")})),
		addWorker(jen.Op("&").Id("CleanupExpiredOAuthStatesWorker").Values(jen.Dict{jen.Id("Deps"): jen.Id("deps")})),
		addWorker(jen.Op("&").Id("RefreshExpiringCredentialsWorker").Values(jen.Dict{jen.Id("Deps"): jen.Id("deps")})),
		jen.Return(jen.Nil()),
	)
	f.Line()

	// PeriodicJobs.
	periodic := func(interval, args, kind string, extra jen.Dict) jen.Code {
		d := jen.Dict{jen.Id("UniqueOpts"): jen.Qual(importRiver, "UniqueOpts").Values(jen.Dict{jen.Id("ByPeriod"): jen.Id(interval)})}
		for k, v := range extra {
			d[k] = v
		}
		return jen.Qual(importRiver, "NewPeriodicJob").Call(
			jen.Qual(importRiver, "PeriodicInterval").Call(jen.Id(interval)),
			jen.Func().Params().Params(jen.Qual(importRiver, "JobArgs"), jen.Op("*").Qual(importRiver, "InsertOpts")).Block(
				jen.Return(jen.Id(args).Values(), jen.Op("&").Qual(importRiver, "InsertOpts").Values(d))),
			jen.Op("&").Qual(importRiver, "PeriodicJobOpts").Values(jen.Dict{jen.Id("ID"): jen.Id(kind), jen.Id("RunOnStart"): jen.True()}),
		)
	}
	f.Add(jobsComment("PeriodicJobs schedules the maintenance jobs every CleanupInterval and",
		"RefreshInterval, and when a client becomes leader: at most one of each per",
		"interval, however many processes restart in it."))
	f.Func().Id("PeriodicJobs").Params().Index().Op("*").Qual(importRiver, "PeriodicJob").Block(
		jen.Return(jen.Index().Op("*").Qual(importRiver, "PeriodicJob").Add(jen.Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true},
			periodic("CleanupInterval", "CleanupExpiredOAuthStatesArgs", "CleanupExpiredOAuthStatesKind", jen.Dict{jen.Id("MaxAttempts"): jen.Lit(3)}),
			periodic("RefreshInterval", "RefreshExpiringCredentialsArgs", "RefreshExpiringCredentialsKind", jen.Dict{jen.Id("MaxAttempts"): jen.Lit(1)}),
		))),
	)
	f.Line()

	// Migrate.
	newDriver := jen.Qual(rs.driver, "New").Call(jen.Id(rs.dbName))
	migrateBody := []jen.Code{
		jen.If(jen.Id(rs.dbName).Op("==").Nil()).Block(jen.Return(jen.Qual("errors", "New").Call(jen.Lit("jobs: migrate: " + rs.dbName + " is nil")))),
	}
	if n.Dialect == Postgres {
		migrateBody = append(migrateBody,
			jen.Comment("// rivermigrate takes no lock: a transaction-scoped advisory lock keeps"),
			jen.Comment("// processes starting together from migrating at the same time. It is held"),
			jen.Comment("// on a connection of its own, so the pool needs two."),
			jen.List(jen.Id("lockTx"), jen.Err()).Op(":=").Id("pool").Dot("Begin").Call(jen.Id("ctx")),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(errf("jobs: migrate: %w", jen.Err()))),
			jen.Defer().Func().Params().Block(
				jen.Id("_").Op("=").Id("lockTx").Dot("Rollback").Call(jen.Qual("context", "WithoutCancel").Call(jen.Id("ctx")))).Call(),
			jen.If(jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("lockTx").Dot("Exec").Call(jen.Id("ctx"),
				jen.Lit("SELECT pg_advisory_xact_lock($1)"), jen.Id("migrateLockID")), jen.Err().Op("!=").Nil()).Block(
				jen.Return(errf("jobs: migrate: lock: %w", jen.Err()))),
		)
	}
	migrateBody = append(migrateBody,
		jen.List(jen.Id("m"), jen.Err()).Op(":=").Qual(importRiverMigrate, "New").Call(newDriver, jen.Nil()),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(errf("jobs: migrate: %w", jen.Err()))),
		jen.If(jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("m").Dot("Migrate").Call(jen.Id("ctx"), jen.Qual(importRiverMigrate, "DirectionUp"), jen.Nil()),
			jen.Err().Op("!=").Nil()).Block(jen.Return(errf("jobs: migrate: %w", jen.Err()))),
		jen.Return(jen.Nil()),
	)
	if n.Dialect == Postgres {
		f.Add(jobsComment("migrateLockID is the advisory lock Migrate holds while it migrates."))
		f.Const().Id("migrateLockID").Op("=").Lit(0x6d6370676e726976).Comment(`// "mcpgnriv"`)
		f.Line()
	}
	f.Add(jobsComment(
		"Migrate creates or upgrades River's own tables (river_job, ...) in "+data.RiverTitle+"",
		"with River's migrations, not goose's; it applies only what is missing. To",
		"remove them, migrate down with rivermigrate or River's CLI."))
	f.Func().Id("Migrate").Params(ctx.Clone(), jen.Id(rs.dbName).Add(rs.db)).Error().Block(migrateBody...)
	f.Line()

	// NewClient and Start.
	f.Add(jobsComment("DefaultMaxWorkers is how many jobs NewClient works at once in the",
		"default queue when config names no queue."))
	f.Const().Id("DefaultMaxWorkers").Op("=").Lit(10)
	f.Line()

	var sqliteCheck []jen.Code
	if n.Dialect == SQLite {
		sqliteCheck = []jen.Code{jen.Id("warnSQLiteSettings").Call(jen.Id("db"), jen.Id("cfg").Dot("Logger"))}
	}
	clientType := jen.Op("*").Qual(importRiver, "Client").Types(rs.tx)
	newClientDoc := []string{
		"NewClient returns a River client over " + rs.dbName + " working this package's jobs",
		"(AddWorkers, PeriodicJobs) besides what config (which may be nil) holds,",
		"with a default queue of DefaultMaxWorkers if config has none. Start the",
		"client, and Stop it on shutdown.",
	}
	if n.Dialect == SQLite {
		newClientDoc = append(newClientDoc, "",
			"Open db with a busy timeout, WAL and immediate transactions, or River's",
			"jobs fail with SQLITE_BUSY under load (NewClient warns):",
			"",
			"\tfile:app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	} else {
		newClientDoc = append(newClientDoc, "",
			"River needs a pgx pool; the Store in deps works on a *sql.DB. An app with",
			"a pool only can have both over the same connections:",
			"",
			"\tdb := stdlib.OpenDBFromPool(pool) // github.com/jackc/pgx/v5/stdlib")
	}
	f.Add(jobsComment(newClientDoc...))
	f.Func().Id("NewClient").Params(jen.Id(rs.dbName).Add(rs.db), jen.Id("deps").Id("Deps"), jen.Id("config").Op("*").Qual(importRiver, "Config")).Params(clientType.Clone(), jen.Error()).Block(
		append([]jen.Code{
			jen.If(jen.Id(rs.dbName).Op("==").Nil()).Block(jen.Return(jen.Nil(), jen.Qual("errors", "New").Call(jen.Lit("jobs: new client: "+rs.dbName+" is nil")))),
			jen.Var().Id("cfg").Qual(importRiver, "Config"),
			jen.If(jen.Id("config").Op("!=").Nil()).Block(jen.Id("cfg").Op("=").Op("*").Id("config")),
			jen.Id("workers").Op(":=").Id("cfg").Dot("Workers"),
			jen.If(jen.Id("workers").Op("==").Nil()).Block(jen.Id("workers").Op("=").Qual(importRiver, "NewWorkers").Call()),
			jen.If(jen.Err().Op(":=").Id("AddWorkers").Call(jen.Id("workers"), jen.Id("deps")), jen.Err().Op("!=").Nil()).Block(
				jen.Return(jen.Nil(), errf("jobs: new client: %w", jen.Err()))),
			jen.Id("cfg").Dot("Workers").Op("=").Id("workers"),
			jen.Id("cfg").Dot("PeriodicJobs").Op("=").Append(jen.Qual("slices", "Clone").Call(jen.Id("cfg").Dot("PeriodicJobs")), jen.Id("PeriodicJobs").Call().Op("...")),
			jen.Id("queues").Op(":=").Qual("maps", "Clone").Call(jen.Id("cfg").Dot("Queues")),
			jen.If(jen.Id("queues").Op("==").Nil()).Block(jen.Id("queues").Op("=").Map(jen.String()).Qual(importRiver, "QueueConfig").Values()),
			jen.If(jen.List(jen.Id("_"), jen.Id("ok")).Op(":=").Id("queues").Index(jen.Qual(importRiver, "QueueDefault")), jen.Op("!").Id("ok")).Block(
				jen.Id("queues").Index(jen.Qual(importRiver, "QueueDefault")).Op("=").Qual(importRiver, "QueueConfig").Values(jen.Dict{jen.Id("MaxWorkers"): jen.Id("DefaultMaxWorkers")})),
			jen.Id("cfg").Dot("Queues").Op("=").Id("queues"),
			jen.If(jen.Id("cfg").Dot("Logger").Op("==").Nil()).Block(jen.Id("cfg").Dot("Logger").Op("=").Id("deps").Dot("logger").Call()),
		}, append(sqliteCheck,
			jen.List(jen.Id("client"), jen.Err()).Op(":=").Qual(importRiver, "NewClient").Call(newDriver, jen.Op("&").Id("cfg")),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), errf("jobs: new client: %w", jen.Err()))),
			jen.Return(jen.Id("client"), jen.Nil()),
		)...)...,
	)
	f.Line()

	f.Add(jobsComment("Start is the one call for the simple case: it migrates River's tables",
		"(Migrate), makes a client (NewClient) and starts it. Stop the client on",
		"shutdown; cancelling ctx stops it too, cancelling the jobs running."))
	f.Func().Id("Start").Params(ctx.Clone(), jen.Id(rs.dbName).Add(rs.db), jen.Id("deps").Id("Deps"), jen.Id("config").Op("*").Qual(importRiver, "Config")).Params(clientType.Clone(), jen.Error()).Block(
		jen.If(jen.Err().Op(":=").Id("Migrate").Call(jen.Id("ctx"), jen.Id(rs.dbName)), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.List(jen.Id("client"), jen.Err()).Op(":=").Id("NewClient").Call(jen.Id(rs.dbName), jen.Id("deps"), jen.Id("config")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.If(jen.Err().Op(":=").Id("client").Dot("Start").Call(jen.Id("ctx")), jen.Err().Op("!=").Nil()).Block(
			jen.Return(jen.Nil(), errf("jobs: start: %w", jen.Err()))),
		jen.Return(jen.Id("client"), jen.Nil()),
	)

	if n.Dialect == SQLite {
		f.Line()
		f.Add(jobsComment("warnSQLiteSettings logs a warning when db waits for no lock: River on",
			"SQLite then fails with SQLITE_BUSY whenever two writers meet."))
		f.Func().Id("warnSQLiteSettings").Params(jen.Id("db").Op("*").Qual("database/sql", "DB"), jen.Id("logger").Op("*").Qual("log/slog", "Logger")).Block(
			jen.List(jen.Id("ctx"), jen.Id("cancel")).Op(":=").Qual("context", "WithTimeout").Call(jen.Qual("context", "Background").Call(), jen.Lit(5).Op("*").Qual("time", "Second")),
			jen.Defer().Id("cancel").Call(),
			jen.Var().Id("ms").Int64(),
			jen.If(jen.Err().Op(":=").Id("db").Dot("QueryRowContext").Call(jen.Id("ctx"), jen.Lit("PRAGMA busy_timeout")).Dot("Scan").Call(jen.Op("&").Id("ms")),
				jen.Err().Op("!=").Nil().Op("||").Id("ms").Op(">").Lit(0)).Block(jen.Return()),
			jen.Id("logger").Dot("Warn").Call(jen.Lit("jobs: the SQLite database has no busy timeout; River's jobs will fail with SQLITE_BUSY under load: open it with _pragma=busy_timeout(10000)&_txlock=immediate")),
		)
	}
	return f, nil
}
