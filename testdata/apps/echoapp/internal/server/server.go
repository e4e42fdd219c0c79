// Package server is the app's HTTP side, on echo.
package server

import (
	"database/sql"
	"net/http"

	"github.com/labstack/echo/v4"
)

// New returns the app's echo instance over db.
func New(db *sql.DB) *echo.Echo {
	e := echo.New()
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "home\n") })
	// mcpgen:routes
	return e
}

// CurrentUser is the signed-in user: the app's proxy sets X-User.
func CurrentUser(r *http.Request) (string, bool) {
	id := r.Header.Get("X-User")
	return id, id != ""
}
