package web

import (
	"html/template"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// UserIDHeader carries the ID of the signed-in user. The shop sits behind
// a proxy that authenticates people and sets it; a request without it is
// anonymous.
const UserIDHeader = "X-User-ID"

// DevLoginEnv, set to 1, enables GET /dev/login, which signs a browser in
// as any user with an unsigned cookie: for trying the shop locally (make
// demo), never for production.
const DevLoginEnv = "SHOP_DEV_LOGIN"

const devUserCookie = "shop_dev_user"

func devLoginEnabled() bool { return os.Getenv(DevLoginEnv) == "1" }

// CurrentUserID returns the ID of the user making the request, and false
// when the request is anonymous or does not hold a valid ID.
func CurrentUserID(r *http.Request) (int64, bool) {
	v := r.Header.Get(UserIDHeader)
	if v == "" && devLoginEnabled() {
		if c, err := r.Cookie(devUserCookie); err == nil {
			v = c.Value
		}
	}
	return parseUserID(v)
}

// CurrentMemberID returns the ID of the member making the request (members
// sign in to the team pages with the same header), and false when anonymous.
func CurrentMemberID(r *http.Request) (string, bool) {
	v := r.Header.Get(UserIDHeader)
	return v, v != ""
}

func parseUserID(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

var devLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (development)</title></head>
<body><main>
<h1>Sign in (development only)</h1>
<form method="get" action="/dev/login">
<label for="user">User ID</label> <input id="user" name="user" value="1" inputmode="numeric" required>
<input type="hidden" name="return_to" value="{{.}}">
<button type="submit">Sign in</button>
</form>
</main></body></html>
`))

// localPath returns p if it is a path of this site, else "/": browsers
// take "//host" and "/\\host" to another site, and a control character
// may hide either.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") ||
		strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return p
}

// devLogin signs the browser in as ?user=ID and sends it back to
// ?return_to (a local path); without a user it shows a form.
func devLogin(w http.ResponseWriter, r *http.Request) {
	returnTo := localPath(r.URL.Query().Get("return_to"))
	id, ok := parseUserID(r.URL.Query().Get("user"))
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = devLoginPage.Execute(w, returnTo)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: devUserCookie, Value: strconv.FormatInt(id, 10), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}
