package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"example.com/shop/internal/mcpoauth/jobs"
)

// openRunner connects to the MySQL database the web process uses. River
// does not support MySQL, so the work runs as the plain functions the jobs
// package offers for any scheduler: here, a ticker.
func openRunner(ctx context.Context, dsn string) (runner, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	deps, err := jobs.DepsFromEnv(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &mysqlRunner{db: db, deps: deps}, nil
}

type mysqlRunner struct {
	db   *sql.DB
	deps jobs.Deps
}

func (r *mysqlRunner) Deps() jobs.Deps { return r.deps }
func (r *mysqlRunner) Close()          { r.db.Close() }

func (r *mysqlRunner) Migrate(context.Context) error { return nil } // goose made every table

// Work runs the maintenance jobs on tickers; there is no queue, so
// maxWorkers means nothing here.
func (r *mysqlRunner) Work(ctx context.Context, _ int) error {
	refresh := time.NewTicker(jobs.RefreshInterval)
	cleanup := time.NewTicker(jobs.CleanupInterval)
	defer refresh.Stop()
	defer cleanup.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			if _, err := jobs.RefreshExpiring(ctx, r.deps); err != nil {
				log.Printf("refresh expiring: %v", err)
			}
		case <-cleanup.C:
			if _, err := jobs.CleanupExpiredStates(ctx, r.deps.Store); err != nil {
				log.Printf("cleanup: %v", err)
			}
		}
	}
}

func (r *mysqlRunner) Research(ctx context.Context, args jobs.ResearchArgs) (json.RawMessage, error) {
	res, err := jobs.RunResearch(ctx, r.deps, args)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// Enqueue fails: without River there is no queue to insert jobs into;
// run them with research instead.
func (r *mysqlRunner) Enqueue(context.Context, []jobs.ResearchArgs) ([]int64, error) {
	return nil, errors.New("enqueue: no job queue on MySQL (River does not support it); use research")
}
