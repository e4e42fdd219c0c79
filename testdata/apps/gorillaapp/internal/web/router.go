// Package web is the app's HTTP side.
package web

import (
	"database/sql"
	"net/http"

	"github.com/gorilla/mux"

	"example.com/gorillaapp/internal/session"
)

// App is what the handlers share.
type App struct {
	DB *sql.DB
}

// NewRouter returns the app's handler.
func NewRouter(app *App) http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("home\n")) })
	// mcpgen:routes
	return session.Middleware(r)
}
