// Command ginapp serves the app.
package main

import (
	"database/sql"
	"log"

	_ "modernc.org/sqlite"

	"example.com/ginapp/internal/api"
)

func main() {
	db, err := sql.Open("sqlite", "file:ginapp.db?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(api.Router(db).Run("127.0.0.1:8080"))
}
