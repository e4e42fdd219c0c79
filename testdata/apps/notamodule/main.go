// This folder has no go.mod on purpose: the mcpgen tests install into it
// to check that mcpgen refuses, saying it is not a Go module.
package main

import (
	"fmt"
	"log"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
