package web

import (
	"net/http"
	"strconv"
)

// UserIDHeader carries the ID of the signed-in user. The shop sits behind
// a proxy that authenticates people and sets it; a request without it is
// anonymous.
const UserIDHeader = "X-User-ID"

// CurrentUserID returns the ID of the user making the request, and false
// when the request is anonymous or the header does not hold a valid ID.
func CurrentUserID(r *http.Request) (int64, bool) {
	v := r.Header.Get(UserIDHeader)
	if v == "" {
		return 0, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}
