// Command echoapp serves the app.
package main

import (
	"database/sql"
	"log"

	_ "modernc.org/sqlite"

	"example.com/echoapp/internal/server"
)

func main() {
	db, err := sql.Open("sqlite", "file:echoapp.db?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(server.New(db).Start("127.0.0.1:8080"))
}
