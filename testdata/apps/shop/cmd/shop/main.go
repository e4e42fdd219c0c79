// Command shop serves the shop over HTTP; `shop migrate [up|down|status]`
// applies the goose migrations in db/migrations (MIGRATIONS_DIR) instead.
//
// DATABASE_URL is the data source name (default
// "file:shop.db?_pragma=foreign_keys(1)") for the database/sql driver named
// by DATABASE_DRIVER (default "sqlite"; "pgx" and "mysql" work when a file of
// the build imports those drivers); ADDR is the address to listen on
// (default "127.0.0.1:8080").
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"example.com/shop/internal/web"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	driver := getenv("DATABASE_DRIVER", "sqlite")
	db, err := sql.Open(driver, getenv("DATABASE_URL", "file:shop.db?_pragma=foreign_keys(1)"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		return migrate(ctx, db, driver, os.Args[2:])
	}

	srv := &http.Server{
		Addr:              getenv("ADDR", "127.0.0.1:8080"),
		Handler:           web.Routes(db),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() {
		log.Printf("shop listening on http://%s", srv.Addr)
		errc <- srv.ListenAndServe()
	}()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Print("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// gooseDialects maps database/sql driver names to goose dialects.
var gooseDialects = map[string]goose.Dialect{
	"sqlite": goose.DialectSQLite3,
	"pgx":    goose.DialectPostgres,
	"mysql":  goose.DialectMySQL,
}

// migrate runs goose on the app's migrations folder.
func migrate(ctx context.Context, db *sql.DB, driver string, args []string) error {
	dialect, ok := gooseDialects[driver]
	if !ok {
		return fmt.Errorf("no goose dialect for DATABASE_DRIVER %q", driver)
	}
	p, err := goose.NewProvider(dialect, db, os.DirFS(getenv("MIGRATIONS_DIR", "db/migrations")))
	if err != nil {
		return err
	}
	cmd := "up"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "up":
		results, err := p.Up(ctx)
		for _, r := range results {
			log.Printf("migrated %s (%s)", r.Source.Path, r.Duration.Round(time.Millisecond))
		}
		return err
	case "down":
		_, err := p.Down(ctx)
		return err
	case "status":
		statuses, err := p.Status(ctx)
		for _, s := range statuses {
			fmt.Printf("%-10s %s\n", s.State, s.Source.Path)
		}
		return err
	}
	return fmt.Errorf("unknown migrate command %q: use up, down or status", cmd)
}

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
