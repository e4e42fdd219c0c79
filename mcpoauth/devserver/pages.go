package devserver

import (
	"bytes"
	"html/template"
	"net/http"
)

// The HTML pages: plain, readable without CSS, labelled for screen readers.

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · mcpgen dev server</title>
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111;background:#fff}
code{background:#f2f2f2;padding:0 .2em;overflow-wrap:anywhere}
.actions{display:flex;gap:1rem;margin-top:1rem}
button{font-size:1rem;padding:.5rem 1.25rem}
input{font-size:1rem;padding:.3rem}
.note{color:#555;font-size:.9rem;margin-top:2rem}
.error{color:#a00000;font-weight:bold}
</style>
</head>
<body>
<main>{{end}}

{{define "foot"}}<p class="note">This is <strong>mcpgen dev-server</strong>, a local test server with no real
accounts: the user name is whatever you type. Do not use it in production.</p>
</main>
</body>
</html>
{{end}}

{{define "consent"}}{{template "head" printf "Authorize %s" .ClientName}}
<h1>Authorize {{.ClientName}}</h1>
<p><strong>{{.ClientName}}</strong> asks to use the MCP server at <code>{{.Resource}}</code> on your behalf.</p>
<dl>
<dt>Client ID</dt><dd><code>{{.ClientID}}</code> ({{.Registration}})</dd>
<dt>You will be sent back to</dt><dd><code>{{.RedirectURI}}</code></dd>
</dl>
<h2 id="scopes">It asks for</h2>
<ul aria-labelledby="scopes">
{{range .Scopes}}<li><code>{{.Name}}</code>{{if .Description}}: {{.Description}}{{end}}</li>
{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request_id" value="{{.RequestID}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{if .Problem}}<p class="error" role="alert" id="problem">{{.Problem}}</p>{{end}}
<p><label for="user">Continue as user</label><br>
<input id="user" name="user" value="{{.User}}" required maxlength="64" pattern="[A-Za-z0-9._@+\-]{1,64}"
 autocomplete="username" spellcheck="false"{{if .Problem}} aria-describedby="problem" aria-invalid="true"{{end}}></p>
<div class="actions">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>
{{template "foot"}}{{end}}

{{define "error"}}{{template "head" .Title}}
<h1>{{.Title}}</h1>
<p role="alert">{{.Message}}</p>
{{if .Untrusted}}<p>This error was not sent back to the application: its client or redirect URI cannot be trusted.</p>{{end}}
{{template "foot"}}{{end}}

{{define "index"}}{{template "head" "MCP server"}}
<h1>mcpgen dev server</h1>
<p>An MCP server protected by an OAuth 2.1 authorization server, for testing.</p>
<ul>
<li>MCP (streamable HTTP): <code>{{.MCP}}</code></li>
<li>MCP (SSE): <code>{{.SSE}}</code></li>
<li>Issuer: <code>{{.Issuer}}</code></li>
<li>Protected resource metadata: <a href="{{.ResourceMetadata}}">{{.ResourceMetadata}}</a></li>
<li>Authorization server metadata: <a href="{{.AuthServerMetadata}}">{{.AuthServerMetadata}}</a></li>
<li>Counters: <a href="{{.Stats}}">{{.Stats}}</a></li>
</ul>
{{template "foot"}}{{end}}
`))

var scopeDescriptions = map[string]string{
	ScopeRead:  "call the tools echo, add, whoami and sleep",
	ScopeWrite: "write access (no tool here needs it)",
	ScopeAdmin: "call admin_stats, which shows this server's counters",
}

var registrationKinds = map[string]string{
	kindDCR:           "registered dynamically",
	kindCIMD:          "described by its Client ID Metadata Document",
	kindPreregistered: "pre-registered",
}

type scopeView struct{ Name, Description string }

// writePage renders a page with headers that keep it out of frames and caches.
func writePage(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// errorPage shows a problem with an authorization request or consent form.
func (s *Server) errorPage(w http.ResponseWriter, status int, title, message string) {
	s.page(w, status, title, message, false)
}

// untrustedPage shows an authorization error that cannot be redirected,
// because the client or its redirect URI is unknown (RFC 6749 §4.1.2.1).
func (s *Server) untrustedPage(w http.ResponseWriter, title, message string) {
	s.page(w, http.StatusBadRequest, title, message, true)
}

func (s *Server) page(w http.ResponseWriter, status int, title, message string, untrusted bool) {
	if status < 500 && status != http.StatusMethodNotAllowed {
		s.mu.Lock()
		s.st.stats.AuthorizeErrors++
		s.mu.Unlock()
	}
	writePage(w, status, "error", struct {
		Title, Message string
		Untrusted      bool
	}{title, message, untrusted})
}

func (s *Server) consentPage(w http.ResponseWriter, status int, id, csrf string, req authRequest, problem string) {
	var scopes []scopeView
	for _, sc := range req.scopes {
		scopes = append(scopes, scopeView{sc, scopeDescriptions[sc]})
	}
	writePage(w, status, "consent", map[string]any{
		"ClientName": req.clientName, "ClientID": req.clientID, "RedirectURI": req.redirectURI,
		"Resource": req.resource, "Scopes": scopes, "User": req.user, "Problem": problem,
		"Registration": registrationKinds[req.clientKind],
		"Action":       s.urls.Issuer + "/authorize/consent", "RequestID": id, "CSRF": csrf,
	})
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	writePage(w, http.StatusOK, "index", s.urls)
}
