package main

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"example.com/shop/internal/mcpoauth/jobs"
)

// openRunner connects to the Postgres database the web process uses;
// River works the jobs in it.
func openRunner(ctx context.Context, dsn string) (runner, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	deps, err := jobs.DepsFromEnv(stdlib.OpenDBFromPool(pool))
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &postgresRunner{pool: pool, deps: deps}, nil
}

type postgresRunner struct {
	pool *pgxpool.Pool
	deps jobs.Deps
}

func (r *postgresRunner) Deps() jobs.Deps { return r.deps }
func (r *postgresRunner) Close()          { r.pool.Close() }

func (r *postgresRunner) Migrate(ctx context.Context) error { return jobs.Migrate(ctx, r.pool) }

func (r *postgresRunner) Work(ctx context.Context, maxWorkers int) error {
	client, err := jobs.Start(ctx, r.pool, r.deps, workConfig(maxWorkers))
	if err != nil {
		return err
	}
	return work(ctx, client)
}

func (r *postgresRunner) Research(ctx context.Context, args jobs.ResearchArgs) (json.RawMessage, error) {
	client, err := jobs.Start(ctx, r.pool, r.deps, nil)
	if err != nil {
		return nil, err
	}
	return research(ctx, client, args)
}

func (r *postgresRunner) Enqueue(ctx context.Context, args []jobs.ResearchArgs) ([]int64, error) {
	client, err := river.NewClient(riverpgxv5.New(r.pool), &river.Config{})
	if err != nil {
		return nil, err
	}
	return enqueue(ctx, client, args)
}
