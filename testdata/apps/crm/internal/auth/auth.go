// Package auth holds who is signed in: the CRM's middleware (behind its
// single sign-on proxy) stores the person's ID in the request context.
package auth

import (
	"context"
	"net/http"

	"github.com/google/uuid"
)

type personKey struct{}

// Middleware reads the signed-in person from the proxy's X-Person-ID header.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, err := uuid.Parse(r.Header.Get("X-Person-ID")); err == nil {
			r = r.WithContext(context.WithValue(r.Context(), personKey{}, id))
		}
		next.ServeHTTP(w, r)
	})
}

// PersonID returns the signed-in person, and false for an anonymous request.
func PersonID(ctx context.Context) (uuid.UUID, bool) {
	id, ok := ctx.Value(personKey{}).(uuid.UUID)
	return id, ok
}
