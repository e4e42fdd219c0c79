// Command gorillaapp serves the app. The database is wired in later: it
// has migrations, no driver yet.
package main

import (
	"log"
	"net/http"

	"example.com/gorillaapp/internal/web"
)

func main() {
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", web.NewRouter(&web.App{})))
}
