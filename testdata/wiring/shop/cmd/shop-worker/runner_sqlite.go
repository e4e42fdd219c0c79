package main

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite"

	"example.com/shop/internal/mcpoauth/jobs"
)

// openRunner opens the SQLite database the web process uses; River works
// the jobs in it.
func openRunner(ctx context.Context, dsn string) (runner, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	deps, err := jobs.DepsFromEnv(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &sqliteRunner{db: db, deps: deps}, nil
}

type sqliteRunner struct {
	db   *sql.DB
	deps jobs.Deps
}

func (r *sqliteRunner) Deps() jobs.Deps { return r.deps }
func (r *sqliteRunner) Close()          { r.db.Close() }

func (r *sqliteRunner) Migrate(ctx context.Context) error { return jobs.Migrate(ctx, r.db) }

func (r *sqliteRunner) Work(ctx context.Context, maxWorkers int) error {
	client, err := jobs.Start(ctx, r.db, r.deps, workConfig(maxWorkers))
	if err != nil {
		return err
	}
	return work(ctx, client)
}

func (r *sqliteRunner) Research(ctx context.Context, args jobs.ResearchArgs) (json.RawMessage, error) {
	client, err := jobs.Start(ctx, r.db, r.deps, nil)
	if err != nil {
		return nil, err
	}
	return research(ctx, client, args)
}

func (r *sqliteRunner) Enqueue(ctx context.Context, args []jobs.ResearchArgs) ([]int64, error) {
	client, err := river.NewClient(riversqlite.New(r.db), &river.Config{})
	if err != nil {
		return nil, err
	}
	return enqueue(ctx, client, args)
}
