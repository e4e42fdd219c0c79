// Package api is the app's HTTP side, on gin.
package api

import (
	"database/sql"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// Router returns the app's gin engine over db.
func Router(db *sql.DB) *gin.Engine {
	r := gin.New()
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "home\n") })
	// mcpgen:routes
	return r
}

// CurrentUserID is the signed-in user: the app's proxy sets X-User-ID.
func CurrentUserID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.Header.Get("X-User-ID"), 10, 64)
	return id, err == nil && id > 0
}
