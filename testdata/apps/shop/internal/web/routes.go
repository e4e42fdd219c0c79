// Package web is the shop's HTTP interface.
package web

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"example.com/shop/internal/models"
)

// Routes returns the shop's handlers, reading and writing through db.
func Routes(db *sql.DB) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", &HomeHandler{DB: db})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.PingContext(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if devLoginEnabled() {
		mux.HandleFunc("GET /dev/login", devLogin)
	}
	// mcpgen:routes
	return mux
}

// HomeHandler greets the signed-in user, or anyone when nobody is signed in.
type HomeHandler struct {
	DB *sql.DB
}

func (h *HomeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	id, ok := CurrentUserID(r)
	if !ok {
		fmt.Fprintln(w, "Welcome to the shop.")
		return
	}
	u, err := models.FindUser(r.Context(), h.DB, id)
	if errors.Is(err, models.ErrNotFound) {
		fmt.Fprintln(w, "Welcome to the shop.")
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "Welcome back, %s.\n", u.Email)
}
