// Package app is the HTTP side of the app.
package app

import (
	"database/sql"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// Server holds what the handlers need.
type Server struct {
	db *sql.DB
}

// New returns the app's server over db.
func New(db *sql.DB) *Server { return &Server{db: db} }

// Routes returns the app's router.
func (s *Server) Routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("home\n")) })
	// mcpgen:routes
	return r
}

// CurrentAccountID is the signed-in account: the app's authentication
// (a stand-in here) puts its id in the X-Account-ID header.
func CurrentAccountID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.Header.Get("X-Account-ID"), 10, 64)
	return id, err == nil && id > 0
}
