package mcpoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Limits of the handler's work per request.
const (
	maxFormBytes = 64 << 10         // a connect form is a few bytes
	toolsTimeout = 30 * time.Second // connecting to the MCP server and listing its tools
	maxTools     = 1000             // listed on the tools page
	maxASText    = 300              // runes of an authorization server's error shown
)

// The pages a Views renders.
const (
	pageIndex = "index"
	pageTools = "tools"
	pageError = "error"
)

// viewPages are the pages ParseViews parses, each with layout.html.
var viewPages = []string{pageIndex, pageTools, pageError}

// CurrentUserFunc returns the signed-in user of a request, and false when
// the request is anonymous. A function of the app with the signature
// func(*http.Request) (U, bool) is one.
type CurrentUserFunc[U comparable] func(r *http.Request) (U, bool)

// userContextKey is the context key of the signed-in user; one key type
// per user ID type, so that an int64 user is never read as a string one.
type userContextKey[U comparable] struct{}

// WithUser returns a copy of ctx carrying the signed-in user, for
// UserFromContext: call it in the app's authentication middleware when
// the app has no CurrentUserFunc of its own.
func WithUser[U comparable](ctx context.Context, id U) context.Context {
	return context.WithValue(ctx, userContextKey[U]{}, id)
}

// UserFromContext is the CurrentUserFunc reading the user WithUser put in
// the request's context, and false when there is none.
func UserFromContext[U comparable](r *http.Request) (U, bool) {
	id, ok := r.Context().Value(userContextKey[U]{}).(U)
	return id, ok
}

// FromContext adapts a function reading the signed-in user from a context
// (the app's authentication middleware put it there) to a CurrentUserFunc.
func FromContext[U comparable](user func(context.Context) (U, bool)) CurrentUserFunc[U] {
	return func(r *http.Request) (U, bool) { return user(r.Context()) }
}

// Views renders the HTML pages of a Handler. page is "index" (the list of
// connections, data.List), "tools" (a server's tools, data.Tools) or
// "error" (data.Error). Render may write to w only in part before failing:
// the Handler gives it a buffer and answers 500 when it fails. ParseViews
// returns the Views of a folder of html/template files.
type Views interface {
	Render(w io.Writer, page string, data *ViewData) error
}

// ViewData is what a view sees: .Prefix for links and form actions (the
// Handler's route prefix), the page's .Title, and the one of .List
// (index), .Tools (tools) and .Error (error) the page shows.
type ViewData struct {
	Prefix string
	Title  string
	List   *ConnectionList
	Tools  *ToolList
	Error  *ErrorResponse
}

// viewFuncs are the functions views parsed by ParseViews may call besides
// html/template's.
var viewFuncs = template.FuncMap{
	// datetime writes a time for the datetime attribute of <time>.
	"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// when writes a time for people, in UTC.
	"when": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
}

// errorTitles are the headings of the error page, by ErrorResponse.Error.
var errorTitles = map[string]string{
	"unauthenticated":      "Sign in first",
	"cross_origin":         "Request refused",
	"bad_request":          "Bad request",
	"not_found":            "No such MCP server",
	"rate_limited":         "Too many attempts",
	"authorization_failed": "Not connected",
	"invalid_state":        "Authorization expired",
	"not_connected":        "Not connected yet",
	"reauth_required":      "Connect again",
	"insufficient_scope":   "More access needed",
	"upstream_error":       "MCP server unavailable",
	"internal_error":       "Something went wrong",
	"unavailable":          "MCP connections unavailable",
}

// templateViews are the pages of ParseViews, each parsed with the layout.
type templateViews struct {
	pages map[string]*template.Template
}

// ParseViews parses the views in the folder dir of fsys (an embed.FS of
// the app, say): layout.html, which defines "layout", the page around the
// "content" each page defines, and the pages index.html,
// tools.html and error.html. Each page is parsed with the layout, and
// with the functions "datetime" (a time for the datetime attribute of
// <time>, RFC 3339 in UTC) and "when" (a time for people, in UTC), so that
// a broken view is an error when the app starts, not when a user opens
// the page. Rendering a page executes its "layout" template with a
// *ViewData.
func ParseViews(fsys fs.FS, dir string) (Views, error) {
	if fsys == nil {
		return nil, errors.New("mcpoauth: views: no file system")
	}
	v := &templateViews{pages: map[string]*template.Template{}}
	for _, page := range viewPages {
		t, err := template.New(page).Funcs(viewFuncs).ParseFS(fsys, path.Join(dir, "layout.html"), path.Join(dir, page+".html"))
		if err != nil {
			return nil, fmt.Errorf("mcpoauth: views: %w", err)
		}
		if t.Lookup("layout") == nil {
			return nil, fmt.Errorf("mcpoauth: views: %s defines no \"layout\" template", path.Join(dir, "layout.html"))
		}
		v.pages[page] = t
	}
	return v, nil
}

// Render implements Views.
func (v *templateViews) Render(w io.Writer, page string, data *ViewData) error {
	t, ok := v.pages[page]
	if !ok {
		return fmt.Errorf("no view %q", page)
	}
	return t.ExecuteTemplate(w, "layout", data)
}

// HandlerConfig is what a Handler works with. Flow, Clients, Store,
// Servers and Prefix are required.
type HandlerConfig[U comparable] struct {
	Flow    *Flow[U]
	Clients *Clients[U]
	Store   *Store[U]
	Servers *Registry

	// Prefix is the path every route lives under, "/mcp_connections" or
	// "/admin/mcp_connections", say: a path starting with /, not ending
	// with one, of letters, digits and - . _ ~ /. The Flow's RedirectURL
	// should be the app's base URL + Prefix + "/callback".
	Prefix string
	// CurrentUser identifies the signed-in user; nil means
	// UserFromContext[U].
	CurrentUser CurrentUserFunc[U]
	// LoginURL is where anonymous browsers are sent, with
	// ?return_to=<path>; "" answers them 401 instead.
	LoginURL string
	// Logger receives internal errors (never tokens); nil: slog.Default().
	Logger *slog.Logger
	// RateLimiter limits connect requests, per user; nil:
	// DefaultRateLimits, counted in Store's storage. Callbacks spend the
	// states connects make and are not counted.
	RateLimiter *RateLimiter[U]
	// CallRateLimiter limits refresh and tools requests together, per
	// user; nil: DefaultCallRateLimits, counted in Store's storage.
	CallRateLimiter *RateLimiter[U]
	// CrossOrigin refuses cross-site POSTs (CSRF); nil: a new
	// http.CrossOriginProtection, which trusts same-origin requests only
	// and answers others 403 cross_origin.
	CrossOrigin *http.CrossOriginProtection
	// Views renders the HTML pages; nil: every route answers JSON only
	// (an app installed with --skip-views).
	Views Views
}

// connectFlow is what a Handler needs of a Flow; tests put a fake in its
// place.
type connectFlow[U comparable] interface {
	StartWithScope(ctx context.Context, userID U, serverKey string, scopes ...string) (string, error)
	Complete(ctx context.Context, userID U, serverKey string, callback url.Values) (*Credential[U], error)
	Disconnect(ctx context.Context, userID U, serverKey string) error
	Refresh(ctx context.Context, userID U, serverKey string) (*Credential[U], error)
	ClientMetadata() (*ClientMetadataDocument, error)
}

// Handler serves the pages where users connect their accounts on the
// configured MCP servers, see their connections, disconnect, refresh and
// list a server's tools, all under its Prefix:
//
//	GET  {Prefix}                       the connections (ConnectionList)
//	POST {Prefix}/connect               form server: to the authorization server
//	GET  {Prefix}/{server}/callback     back from it: to {Prefix}?connected=<server>
//	POST {Prefix}/{server}/disconnect   to {Prefix}?disconnected=<server>
//	POST {Prefix}/{server}/refresh      to {Prefix}?refreshed=<server>
//	GET  {Prefix}/{server}/tools        the server's tools (ToolList)
//	GET  {Prefix}/client-metadata.json  the client ID metadata document, if configured
//
// Register its routes on the app's mux with Register, or serve it as an
// http.Handler.
//
// It answers HTML from its Views, or JSON (ConnectionList, ToolList,
// ErrorResponse, and {"location": ...} with the 303 redirects) to
// requests that accept application/json but not text/html, and to every
// request when it has no Views. Every route but the client metadata
// document needs a signed-in user; POSTs are refused cross-origin;
// connect, refresh and tools are rate limited per user. Tokens are never shown
// nor logged.
type Handler[U comparable] struct {
	flow        connectFlow[U]
	listTools   func(ctx context.Context, userID U, serverKey string) ([]*mcp.Tool, error)
	store       *Store[U]
	servers     *Registry
	clients     *Clients[U]
	currentUser CurrentUserFunc[U]
	loginURL    *url.URL
	log         *slog.Logger
	limiter     *RateLimiter[U]
	callLimiter *RateLimiter[U]
	csrf        *http.CrossOriginProtection
	views       Views
	prefix      string
	routes      handlerRoutes
	mux         *http.ServeMux
}

// handlerRoutes are the http.ServeMux patterns of a Handler's routes.
type handlerRoutes struct {
	list, connect, callback, disconnect, refresh, tools, clientMetadata string
}

func routesUnder(prefix string) handlerRoutes {
	return handlerRoutes{
		list:           "GET " + prefix,
		connect:        "POST " + prefix + "/connect",
		callback:       "GET " + prefix + "/{server}/callback",
		disconnect:     "POST " + prefix + "/{server}/disconnect",
		refresh:        "POST " + prefix + "/{server}/refresh",
		tools:          "GET " + prefix + "/{server}/tools",
		clientMetadata: "GET " + prefix + "/client-metadata.json",
	}
}

func (r handlerRoutes) all() []string {
	return []string{r.list, r.connect, r.callback, r.disconnect, r.refresh, r.tools, r.clientMetadata}
}

// checkPrefix checks a route prefix: a clean path starting with / and not
// ending with one, of unreserved characters, so that it is the same as a
// ServeMux pattern and in a URL.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return errors.New("mcpoauth: handler config has no Prefix")
	}
	bad := !strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") || path.Clean(prefix) != prefix
	for _, c := range prefix {
		ok := c == '/' || c == '-' || c == '.' || c == '_' || c == '~' ||
			('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
		bad = bad || !ok
	}
	if bad {
		return fmt.Errorf("mcpoauth: route prefix %q must be a clean path starting with / and not ending with one, of letters, digits and - . _ ~ /", prefix)
	}
	return nil
}

// NewHandler returns the handler for cfg. It fails when a required field
// is missing, the Prefix or LoginURL is malformed, or the Views do not
// parse.
func NewHandler[U comparable](cfg HandlerConfig[U]) (*Handler[U], error) {
	switch {
	case cfg.Flow == nil:
		return nil, errors.New("mcpoauth: handler config has no Flow")
	case cfg.Clients == nil:
		return nil, errors.New("mcpoauth: handler config has no Clients")
	case cfg.Store == nil:
		return nil, errors.New("mcpoauth: handler config has no Store")
	case cfg.Servers == nil:
		return nil, errors.New("mcpoauth: handler config has no Servers")
	}
	if err := checkPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	h := &Handler[U]{
		flow: cfg.Flow, store: cfg.Store, servers: cfg.Servers, clients: cfg.Clients,
		currentUser: cfg.CurrentUser, log: cfg.Logger, limiter: cfg.RateLimiter, callLimiter: cfg.CallRateLimiter, csrf: cfg.CrossOrigin,
		views: cfg.Views, prefix: cfg.Prefix, routes: routesUnder(cfg.Prefix),
	}
	h.listTools = h.toolsOf
	if h.currentUser == nil {
		h.currentUser = UserFromContext[U]
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if cfg.LoginURL != "" {
		u, err := url.Parse(cfg.LoginURL)
		if err != nil || (u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) {
			return nil, errors.New("mcpoauth: LoginURL " + strconv.Quote(cfg.LoginURL) + " is neither an absolute URL nor a path starting with /")
		}
		h.loginURL = u
	}
	if h.limiter == nil {
		l, err := NewRateLimiter(cfg.Store)
		if err != nil {
			return nil, err
		}
		h.limiter = l
	}
	if h.callLimiter == nil {
		l, err := NewRateLimiter(cfg.Store, DefaultCallRateLimits...)
		if err != nil {
			return nil, err
		}
		h.callLimiter = l
	}
	if h.csrf == nil {
		h.csrf = http.NewCrossOriginProtection()
		h.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.fail(w, r, http.StatusForbidden, &ErrorResponse{Error: "cross_origin",
				Message: "This request came from another site, so it was refused. Use the buttons on the connections page."})
		}))
	}
	if ru := cfg.Flow.RedirectURL; ru != "" {
		if u, err := url.Parse(ru); err != nil || !strings.HasSuffix(u.Path, cfg.Prefix+"/callback") {
			h.log.Warn("mcpoauth: the flow's redirect URL is not this handler's callback route; authorization servers will send users elsewhere",
				"redirect_url", ru, "callback_route", cfg.Prefix+"/callback")
		}
	}
	h.mux = http.NewServeMux()
	h.Register(h.mux)
	return h, nil
}

// Register registers the handler's routes on mux, under the Prefix: the
// patterns Patterns returns. It panics, as http.ServeMux.Handle does, when
// mux has a conflicting pattern.
func (h *Handler[U]) Register(mux *http.ServeMux) {
	post := func(fn func(http.ResponseWriter, *http.Request, U)) http.Handler {
		return h.csrf.Handler(h.signedIn(fn))
	}
	mux.Handle(h.routes.list, h.signedIn(h.list))
	mux.Handle(h.routes.connect, post(h.connect))
	mux.Handle(h.routes.callback, h.signedIn(h.callback))
	mux.Handle(h.routes.disconnect, post(h.disconnect))
	mux.Handle(h.routes.refresh, post(h.refresh))
	mux.Handle(h.routes.tools, h.signedIn(h.tools))
	mux.HandleFunc(h.routes.clientMetadata, h.clientMetadata)
}

// ServeHTTP serves the handler's routes; other paths are 404.
func (h *Handler[U]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// Patterns returns the http.ServeMux patterns (Go 1.22) Register
// registers: RoutePatterns of the handler's Prefix.
func (h *Handler[U]) Patterns() []string {
	return h.routes.all()
}

// RoutePatterns returns the http.ServeMux patterns (Go 1.22) of the routes
// of a Handler under prefix, such as "GET /mcp_connections" and
// "POST /mcp_connections/{server}/refresh", or nil when prefix is not a
// valid HandlerConfig.Prefix. Mount Unavailable on them when the handler
// cannot be configured.
func RoutePatterns(prefix string) []string {
	if checkPrefix(prefix) != nil {
		return nil
	}
	return routesUnder(prefix).all()
}

// Unavailable returns the handler to mount when the MCP connections cannot
// be configured, so that the rest of the app starts and serves as usual:
// it answers the routes of a Handler under prefix 503 Service Unavailable
// with reason, as an ErrorResponse "unavailable" to requests that accept
// application/json but not text/html and as text to others, and other
// paths 404 (or 405 for another method). Mount it on each route:
//
//	u := mcpoauth.Unavailable(RoutePrefix, reason)
//	for _, p := range mcpoauth.RoutePatterns(RoutePrefix) {
//		mux.Handle(p, u)
//	}
//
// reason is shown as given: it must hold no secret. With a malformed
// prefix it answers every request 503.
func Unavailable(prefix string, reason string) http.Handler {
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		if prefersJSON(r) {
			answerJSON(w, http.StatusServiceUnavailable, &ErrorResponse{Error: "unavailable", Message: reason})
			return
		}
		http.Error(w, reason, http.StatusServiceUnavailable)
	})
	patterns := RoutePatterns(prefix)
	if patterns == nil {
		return answer
	}
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.Handle(p, answer)
	}
	return mux
}

// Connection is one configured MCP server as the list shows it to a user.
type Connection struct {
	Server          string     `json:"server"` // registry key
	URL             string     `json:"url"`
	Connected       bool       `json:"connected"`
	ReauthRequired  bool       `json:"reauth_required"`            // connect again: the server refused a refresh
	NoRefreshToken  bool       `json:"no_refresh_token,omitempty"` // the server issued none: the connection ends with the access token
	GrantedScope    string     `json:"granted_scope,omitempty"`
	RequiredScope   string     `json:"required_scope,omitempty"` // connect again to grant it: the server refused a call without it
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`     // of the access token; it is refreshed before
	LastRefreshedAt *time.Time `json:"last_refreshed_at,omitempty"`
	ConnectedAt     *time.Time `json:"connected_at,omitempty"`
}

// Notice says what the request that redirected to the list did.
type Notice struct {
	Kind   string `json:"kind"` // "connected", "disconnected" or "refreshed"
	Server string `json:"server"`
}

// ConnectionList is the answer of GET {Prefix}: every configured server,
// connected or not, sorted by key.
type ConnectionList struct {
	Connections []Connection `json:"connections"`
	Notice      *Notice      `json:"notice,omitempty"`
}

// ToolSummary is one tool of an MCP server.
type ToolSummary struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// ToolList is the answer of GET {Prefix}/{server}/tools.
type ToolList struct {
	Server string        `json:"server"`
	Tools  []ToolSummary `json:"tools"`
}

// ErrorResponse is the answer of a request that failed. Error is one of
// unauthenticated, cross_origin, bad_request, not_found, rate_limited,
// authorization_failed, invalid_state, not_connected, reauth_required,
// insufficient_scope, upstream_error, internal_error and unavailable.
type ErrorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// Server is the key of the server concerned, if any: the page offers
	// to connect to it again when Error says that would help.
	Server string `json:"server,omitempty"`
	// Scope is the scope to connect with again (insufficient_scope).
	Scope string `json:"scope,omitempty"`
	// AuthorizationServer is what the authorization server answered on
	// the callback (authorization_failed), cleaned of control characters.
	AuthorizationServer *AuthorizationServerError `json:"authorization_server,omitempty"`
}

// AuthorizationServerError is an error an authorization server sent back
// to the callback (RFC 6749 section 4.1.2.1).
type AuthorizationServerError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
}

// Reconnect reports whether connecting again is the way out of the error.
func (e *ErrorResponse) Reconnect() bool {
	switch e.Error {
	case "not_connected", "reauth_required", "insufficient_scope":
		return e.Server != ""
	}
	return false
}

// signedIn wraps fn for a signed-in user; anonymous browsers go to the
// login page (GET, when LoginURL is set), everyone else gets 401.
func (h *Handler[U]) signedIn(fn func(http.ResponseWriter, *http.Request, U)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		user, ok := h.currentUser(r)
		if ok {
			fn(w, r, user)
			return
		}
		if h.loginURL != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !prefersJSON(r) {
			u := *h.loginURL
			q := u.Query()
			q.Set("return_to", r.URL.RequestURI())
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		h.fail(w, r, http.StatusUnauthorized, &ErrorResponse{Error: "unauthenticated", Message: "Sign in to manage your MCP connections."})
	})
}

// list answers GET {Prefix}.
func (h *Handler[U]) list(w http.ResponseWriter, r *http.Request, user U) {
	creds, err := h.store.ListCredentials(r.Context(), user)
	if err != nil {
		h.internal(w, r, "list credentials", err)
		return
	}
	byURL := make(map[string]*Credential[U], len(creds))
	for _, c := range creds {
		byURL[c.ServerURL] = c
	}
	out := &ConnectionList{Connections: []Connection{}}
	for _, s := range h.servers.All() {
		c := Connection{Server: s.Key, URL: s.URL}
		if cred := byURL[s.URL]; cred != nil {
			c.Connected = true
			c.ReauthRequired = cred.ReauthRequired()
			c.NoRefreshToken = cred.Token.RefreshToken == ""
			c.GrantedScope = cred.GrantedScope
			c.RequiredScope = cred.RequiredScope
			c.ExpiresAt = timeOrNil(cred.TokenExpiresAt)
			c.LastRefreshedAt = timeOrNil(cred.LastRefreshedAt)
			c.ConnectedAt = timeOrNil(cred.CreatedAt)
		}
		out.Connections = append(out.Connections, c)
	}
	// The notice names only a configured server: nothing from the query
	// is shown as given.
	q := r.URL.Query()
	for _, kind := range []string{"connected", "disconnected", "refreshed"} {
		if s, ok := h.servers.Lookup(q.Get(kind)); ok && q.Get(kind) != "" {
			out.Notice = &Notice{Kind: kind, Server: s.Key}
			break
		}
	}
	h.respond(w, r, http.StatusOK, pageIndex, out)
}

// connect answers POST {Prefix}/connect: form field server (a registry
// key; empty: the default server) and, optionally, scope (space-separated,
// asked for on top of the server's scopes). It redirects to the
// authorization server.
func (h *Handler[U]) connect(w http.ResponseWriter, r *http.Request, user U) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, &ErrorResponse{Error: "bad_request", Message: "The form could not be read."})
		return
	}
	key := r.PostForm.Get("server")
	if key == "" {
		s, ok := h.servers.Default()
		if !ok {
			h.fail(w, r, http.StatusBadRequest, &ErrorResponse{Error: "bad_request", Message: "Choose the MCP server to connect to."})
			return
		}
		key = s.Key
	}
	if !h.knownServer(w, r, key) {
		return
	}
	// The scopes come from the configuration, the server's challenges
	// and what the server asked for on a refused call (recorded on the
	// credential), never from the request: a user cannot widen the
	// access the app holds.
	if !h.allow(w, r, user) {
		return
	}
	authURL, err := h.flow.StartWithScope(r.Context(), user, key)
	if err != nil {
		h.upstream(w, r, key, "start authorization", err)
		return
	}
	h.redirect(w, r, authURL)
}

// callback answers GET {Prefix}/{server}/callback, where the
// authorization server sends the user back: each server has its own
// redirect URI, so a flow ends only at its own server's.
//
// Callbacks are not rate limited: one with an unknown state ends at the
// database, before any request leaves the app, so another site sending
// the browser here cannot use up the user's limit; one with a valid
// state spends a state only a limited connect made, once.
func (h *Handler[U]) callback(w http.ResponseWriter, r *http.Request, user U) {
	q := r.URL.Query()
	cred, err := h.flow.Complete(r.Context(), user, r.PathValue("server"), q)
	var ce *CallbackError
	switch {
	case errors.As(err, &ce):
		h.authorizationFailed(w, r, &AuthorizationServerError{Code: ce.Code, Description: ce.Description, URI: ce.URI})
		return
	case err != nil && q.Get("error") != "":
		h.authorizationFailed(w, r, &AuthorizationServerError{Code: q.Get("error"), Description: q.Get("error_description"), URI: q.Get("error_uri")})
		return
	case errors.Is(err, ErrStateInvalid), errors.Is(err, ErrStateExpired), errors.Is(err, ErrNotFound):
		h.fail(w, r, http.StatusBadRequest, &ErrorResponse{Error: "invalid_state",
			Message: "This authorization is unknown, expired or already used. Start again from the connections page."})
		return
	case errors.Is(err, ErrIssuerMismatch):
		h.log.WarnContext(r.Context(), "mcpoauth: callback from an unexpected issuer", "err", err)
		h.fail(w, r, http.StatusBadRequest, &ErrorResponse{Error: "authorization_failed",
			Message: "The answer did not come from the server the authorization was started with. Start again from the connections page."})
		return
	case err != nil:
		h.upstream(w, r, "", "complete authorization", err)
		return
	case cred == nil:
		h.internal(w, r, "complete authorization", errors.New("the flow returned no credential"))
		return
	}
	key := ""
	if s, ok := h.servers.ByURL(cred.ServerURL); ok {
		key = s.Key
	}
	h.redirect(w, r, h.prefix+"?connected="+url.QueryEscape(key))
}

// authorizationFailed shows what the authorization server answered,
// cleaned and cut short: it is someone else's text.
func (h *Handler[U]) authorizationFailed(w http.ResponseWriter, r *http.Request, ase *AuthorizationServerError) {
	ase.Code = cleanASText(ase.Code)
	ase.Description = cleanASText(ase.Description)
	ase.URI = cleanASText(ase.URI)
	if u, err := url.Parse(ase.URI); err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		ase.URI = "" // only an https page is worth showing, and never as a link
	}
	// The app's own words depend on the code alone; the server's text is
	// shown as the server's, never as the app's.
	msg, ok := authorizationMessages[ase.Code]
	if !ok {
		msg = "The authorization server did not grant access."
	}
	h.fail(w, r, http.StatusBadRequest, &ErrorResponse{Error: "authorization_failed", Message: msg, AuthorizationServer: ase})
}

// authorizationMessages are the app's words for the error codes of an
// authorization response (RFC 6749 section 4.1.2.1).
var authorizationMessages = map[string]string{
	"access_denied":             "Access was denied at the authorization server, so nothing was connected.",
	"invalid_scope":             "The authorization server does not offer the access this app asked for.",
	"unauthorized_client":       "The authorization server does not let this app connect that way.",
	"invalid_request":           "The authorization server could not read this app's request.",
	"unsupported_response_type": "The authorization server does not support this app's way of connecting.",
	"server_error":              "The authorization server failed. Try again later.",
	"temporarily_unavailable":   "The authorization server is busy or down. Try again later.",
}

// disconnect answers POST {Prefix}/{server}/disconnect. Disconnecting a
// server the user never connected succeeds.
func (h *Handler[U]) disconnect(w http.ResponseWriter, r *http.Request, user U) {
	key := r.PathValue("server")
	if !h.knownServer(w, r, key) {
		return
	}
	if err := h.flow.Disconnect(r.Context(), user, key); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotAuthenticated) {
		h.internal(w, r, "disconnect "+key, err)
		return
	}
	h.redirect(w, r, h.prefix+"?disconnected="+url.QueryEscape(key))
}

// refresh answers POST {Prefix}/{server}/refresh: the token is refreshed
// now.
func (h *Handler[U]) refresh(w http.ResponseWriter, r *http.Request, user U) {
	key := r.PathValue("server")
	if !h.knownServer(w, r, key) || !h.allowCall(w, r, user) {
		return
	}
	if _, err := h.flow.Refresh(r.Context(), user, key); err != nil {
		h.serverError(w, r, key, "refresh", err)
		return
	}
	h.redirect(w, r, h.prefix+"?refreshed="+url.QueryEscape(key))
}

// tools answers GET {Prefix}/{server}/tools with the server's tools,
// listed with the user's token.
func (h *Handler[U]) tools(w http.ResponseWriter, r *http.Request, user U) {
	key := r.PathValue("server")
	if !h.knownServer(w, r, key) || !h.allowCall(w, r, user) {
		return
	}
	tools, err := h.listTools(r.Context(), user, key)
	if err != nil {
		h.serverError(w, r, key, "list tools", err)
		return
	}
	out := &ToolList{Server: key, Tools: []ToolSummary{}}
	for _, t := range tools {
		if t == nil {
			continue
		}
		title := t.Title
		if title == "" && t.Annotations != nil {
			title = t.Annotations.Title
		}
		out.Tools = append(out.Tools, ToolSummary{Name: t.Name, Title: title, Description: t.Description})
	}
	h.respond(w, r, http.StatusOK, pageTools, out)
}

// toolsOf lists a server's tools with the user's token.
func (h *Handler[U]) toolsOf(ctx context.Context, user U, key string) ([]*mcp.Tool, error) {
	ctx, cancel := context.WithTimeout(ctx, toolsTimeout)
	defer cancel()
	session, err := h.clients.For(ctx, user, &ClientOptions{Server: key})
	if err != nil {
		return nil, err
	}
	defer session.Close()
	var tools []*mcp.Tool
	for t, err := range session.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		if tools = append(tools, t); len(tools) == maxTools {
			break
		}
	}
	return tools, nil
}

// clientMetadata answers GET {Prefix}/client-metadata.json with the
// Client ID Metadata Document, when the app is configured to use one.
// Authorization servers fetch it: it needs no signed-in user.
func (h *Handler[U]) clientMetadata(w http.ResponseWriter, r *http.Request) {
	doc, err := h.flow.ClientMetadata()
	if err != nil || doc == nil {
		if err != nil {
			h.log.DebugContext(r.Context(), "mcpoauth: no client metadata document", "err", err)
		}
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	answerJSON(w, http.StatusOK, doc)
}

// knownServer answers 404 and returns false unless key is a configured
// server.
func (h *Handler[U]) knownServer(w http.ResponseWriter, r *http.Request, key string) bool {
	if _, ok := h.servers.Lookup(key); ok && key != "" {
		return true
	}
	h.fail(w, r, http.StatusNotFound, &ErrorResponse{Error: "not_found", Message: "There is no such MCP server."})
	return false
}

// allow counts a connect request against the user's rate limits,
// answering 429 with Retry-After when it is over.
func (h *Handler[U]) allow(w http.ResponseWriter, r *http.Request, user U) bool {
	return h.allowBy(w, r, h.limiter, user, "Too many connection attempts")
}

// allowCall counts a refresh or tools request, each a request to the
// authorization server or a new MCP session, against the user's call
// limits.
func (h *Handler[U]) allowCall(w http.ResponseWriter, r *http.Request, user U) bool {
	return h.allowBy(w, r, h.callLimiter, user, "Too many requests to the MCP server")
}

func (h *Handler[U]) allowBy(w http.ResponseWriter, r *http.Request, limiter *RateLimiter[U], user U, what string) bool {
	ok, retry, err := limiter.Allow(r.Context(), user)
	if err != nil {
		h.internal(w, r, "rate limit", err)
		return false
	}
	if err := limiter.sweepIfDue(r.Context()); err != nil {
		h.log.WarnContext(r.Context(), "mcpoauth: delete expired rate limits", "err", err)
	}
	if ok {
		return true
	}
	secs := int64((retry + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	h.fail(w, r, http.StatusTooManyRequests, &ErrorResponse{Error: "rate_limited",
		Message: what + ". Try again in " + humanDuration(secs) + "."})
	return false
}

// serverError answers an error of a call that needed the user's
// credential for server key.
func (h *Handler[U]) serverError(w http.ResponseWriter, r *http.Request, key, op string, err error) {
	var scope *InsufficientScopeError
	switch {
	case errors.Is(err, ErrNotAuthenticated), errors.Is(err, ErrNotFound):
		h.fail(w, r, http.StatusConflict, &ErrorResponse{Error: "not_connected", Server: key,
			Message: "You have not connected your account on " + key + " yet."})
	case errors.Is(err, ErrReauthRequired):
		h.fail(w, r, http.StatusConflict, &ErrorResponse{Error: "reauth_required", Server: key,
			Message: "Your connection to " + key + " has to be renewed: connect again."})
	case errors.Is(err, errRefusedEarly):
		h.fail(w, r, http.StatusConflict, &ErrorResponse{Error: "refresh_refused_early", Server: key,
			Message: "The server would not renew your connection to " + key + " before its access expires; it keeps working until then, and you will be asked to connect again if it is not renewed."})
	case errors.As(err, &scope):
		h.fail(w, r, http.StatusForbidden, &ErrorResponse{Error: "insufficient_scope", Server: key, Scope: scope.Scope,
			Message: "This needs more access than you granted to " + key + ": connect again to grant it."})
	default:
		h.upstream(w, r, key, op, err)
	}
}

// upstream answers an error talking to an MCP or authorization server:
// logged, and a generic message shown.
func (h *Handler[U]) upstream(w http.ResponseWriter, r *http.Request, key, op string, err error) {
	h.log.ErrorContext(r.Context(), "mcpoauth: "+op+" failed", "server", key, "err", err)
	h.fail(w, r, http.StatusBadGateway, &ErrorResponse{Error: "upstream_error", Server: key,
		Message: "The MCP server or its authorization server could not be reached or gave an unexpected answer. Try again later."})
}

// internal answers an error of the app itself: logged, and a generic
// message shown.
func (h *Handler[U]) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	h.log.ErrorContext(r.Context(), "mcpoauth: "+op+" failed", "err", err)
	h.fail(w, r, http.StatusInternalServerError, &ErrorResponse{Error: "internal_error", Message: "Something went wrong on our side. Try again later."})
}

// fail answers an error page (or JSON).
func (h *Handler[U]) fail(w http.ResponseWriter, r *http.Request, status int, e *ErrorResponse) {
	setPageHeaders(w)
	h.respond(w, r, status, pageError, e)
}

// redirect answers 303 See Other to the location; a JSON answer carries it
// in the body too.
func (h *Handler[U]) redirect(w http.ResponseWriter, r *http.Request, location string) {
	if h.wantsJSON(r) {
		w.Header().Set("Location", location)
		answerJSON(w, http.StatusSeeOther, map[string]string{"location": location})
		return
	}
	http.Redirect(w, r, location, http.StatusSeeOther)
}

// respond writes body (a *ConnectionList, *ToolList or *ErrorResponse) as
// JSON, or as the view named page.
func (h *Handler[U]) respond(w http.ResponseWriter, r *http.Request, status int, page string, body any) {
	if !h.wantsJSON(r) {
		if err := h.render(w, status, page, body); err != nil {
			h.log.ErrorContext(r.Context(), "mcpoauth: render view "+page, "err", err)
			http.Error(w, "Internal server error", http.StatusInternalServerError)
		}
		return
	}
	answerJSON(w, status, body)
}

// render writes the page showing body, or returns an error having written
// nothing.
func (h *Handler[U]) render(w http.ResponseWriter, status int, page string, body any) error {
	data := &ViewData{Prefix: h.prefix}
	switch b := body.(type) {
	case *ConnectionList:
		data.Title, data.List = "MCP connections", b
	case *ToolList:
		data.Title, data.Tools = "Tools of "+b.Server, b
	case *ErrorResponse:
		data.Title, data.Error = errorTitles[b.Error], b
		if data.Title == "" {
			data.Title = http.StatusText(status)
		}
	default:
		return fmt.Errorf("no view shows a %T", body)
	}
	var buf bytes.Buffer
	if err := h.views.Render(&buf, page, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// wantsJSON reports whether to answer r in JSON: always without views.
func (h *Handler[U]) wantsJSON(r *http.Request) bool {
	return h.views == nil || prefersJSON(r)
}

// prefersJSON reports whether r accepts application/json but not
// text/html: an API client rather than a browser.
func prefersJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// setPageHeaders sets the headers of every page: never cached, never
// framed (the buttons must not be clicked through another site), and no
// Referer (the callback URL carries the authorization code).
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

// answerJSON writes body as JSON with status.
func answerJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // escapes <, > and &
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// cleanASText keeps the printable characters of s, cut to maxASText
// runes: an authorization server's text is shown, escaped, but never as
// given.
func cleanASText(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxASText {
			b.WriteString("…")
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			n++
		}
	}
	return b.String()
}

// humanDuration writes secs as "N seconds", "N minutes" or "N hours".
func humanDuration(secs int64) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case secs < 90:
		return unit(secs, "second")
	case secs < 90*60:
		return unit((secs+59)/60, "minute")
	}
	return unit((secs+3599)/3600, "hour")
}
