// Package session knows who is signed in: the middleware puts the member's
// id in the request context (a stand-in for the app's real sessions).
package session

import (
	"context"
	"net/http"
	"strconv"
)

type memberKey struct{}

// Middleware reads the signed-in member from the X-Member-ID header.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, err := strconv.ParseInt(r.Header.Get("X-Member-ID"), 10, 64); err == nil && id > 0 {
			r = r.WithContext(context.WithValue(r.Context(), memberKey{}, id))
		}
		next.ServeHTTP(w, r)
	})
}

// MemberID returns the signed-in member, and false for anonymous requests.
func MemberID(ctx context.Context) (int64, bool) {
	id, ok := ctx.Value(memberKey{}).(int64)
	return id, ok
}
