// Command chiapp serves the app.
package main

import (
	"database/sql"
	"log"
	"net/http"
	"os"

	_ "modernc.org/sqlite"

	"example.com/chiapp/internal/app"
)

func main() {
	db, err := sql.Open("sqlite", "file:chiapp.db?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		log.Fatal(err)
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Fatal(http.ListenAndServe(addr, app.New(db).Routes()))
}
