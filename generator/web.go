package generator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/mcpgen/mcpgen/templates"
)

// migrationRateLimits is the name of the web layer's migration.
const migrationRateLimits = "create_mcp_oauth_rate_limits"

// webSources are the Go files of the web layer rendered from
// templates/web; the views and views.go come only with views.
var webSources = []string{"handler.go", "register.go", "ratelimit.go", "handler_test.go", "ratelimit_test.go"}

// viewPages are the HTML views, copied verbatim from templates/web/views:
// they are html/template sources, whose actions mcpgen must not execute.
var viewPages = []string{"layout.html", "index.html", "tools.html", "error.html"}

// webLayer renders the HTTP handler, its views and the rate limits.
func webLayer(n Names) ([]File, []Migration, error) {
	if err := checkWebNames(n); err != nil {
		return nil, nil, err
	}
	sources := webSources
	if !n.SkipViews {
		sources = append(slices.Clip(sources), "views.go")
	}
	files, err := renderGoSources("web", n.PackageDir, sources, n)
	if err != nil {
		return nil, nil, err
	}

	d := newSQLDialect(n)
	q, err := renderJen(rateLimitQueriesFile(n, d), n.Header(true))
	if err != nil {
		return nil, nil, err
	}
	files = append(files, File{Path: n.PackageDir + "/ratelimit_queries.go", Content: q})

	if !n.SkipViews {
		// The header is a template comment: it does not reach the page.
		header := "{{/* " + strings.TrimPrefix(n.Header(false), "// ") + " */}}\n"
		for _, name := range viewPages {
			src, err := templates.FS.ReadFile("web/views/" + name)
			if err != nil {
				return nil, nil, fmt.Errorf("view %s: %w", name, err)
			}
			files = append(files, File{Path: n.ViewDir + "/" + name, Content: append([]byte(header), src...)})
		}
	}

	data := migrationData{sqlDialect: d, SQLHeader: n.SQLHeader(), PackageName: n.PackageName, UserIDType: n.UserIDType}
	mig, err := renderText("web/"+migrationRateLimits+".sql.tmpl", data)
	if err != nil {
		return nil, nil, err
	}
	return files, []Migration{{Name: migrationRateLimits, Content: mig}}, nil
}

// checkWebNames rejects Names the web layer cannot be written from.
func checkWebNames(n Names) error {
	if !isGoName(n.HandlerType) || !identPattern.MatchString(n.Resource) {
		return fmt.Errorf("web layer: handler %q or resource %q is not a Go identifier", n.HandlerType, n.Resource)
	}
	if !strings.HasPrefix(n.RoutePrefix, "/") || strings.HasSuffix(n.RoutePrefix, "/") ||
		strings.ContainsAny(n.RoutePrefix, " {}\"\\") {
		return fmt.Errorf("web layer: route prefix %q is not a plain absolute path", n.RoutePrefix)
	}
	if want := n.PackageDir + "/views/" + n.Resource; n.ViewDir != want {
		return fmt.Errorf("web layer: view folder %q is not %q, where views.go embeds it from", n.ViewDir, want)
	}
	return nil
}

// rateLimitQueriesFile renders ratelimit_queries.go: the rate limiter's
// SQL in the dialect.
func rateLimitQueriesFile(n Names, d sqlDialect) *jen.File {
	f := newJenFile(n.PackageImport, n.PackageName)
	fk := d.UserFK
	key := fk + ", bucket, window_start"
	hit := "INSERT INTO mcp_oauth_rate_limits (" + key + ", hits, expires_at)\nVALUES (?, ?, ?, 1, ?)\n"
	deleteExpired := deleteExpiredBatch(d.Dialect, "mcp_oauth_rate_limits")
	switch d.Dialect {
	case MySQL:
		hit += "ON DUPLICATE KEY UPDATE hits = hits + 1"
	default:
		hit += "ON CONFLICT (" + key + ") DO UPDATE SET hits = mcp_oauth_rate_limits.hits + 1"
	}
	stmts := []sqlStatement{
		{"sqlHitRateLimit", "counts one request in a user's window of a limit, creating its row.", hit},
		{"sqlReadRateLimit", "reads the count of a user's window of a limit.",
			"SELECT hits FROM mcp_oauth_rate_limits\nWHERE " + fk + " = ? AND bucket = ? AND window_start = ?"},
		{"sqlDeleteExpiredRateLimits", "deletes one batch of counts of ended windows.", deleteExpired},
	}
	var defs []jen.Code
	for i, s := range stmts {
		if i > 0 {
			defs = append(defs, jen.Line())
		}
		defs = append(defs, jen.Comment(s.name+" "+s.doc), jen.Id(s.name).Op("=").Add(sqlString(d.bind(s.sql))))
	}
	f.Add(docComment("The statements of the RateLimiter, written for " + dialectTitle(d.Dialect) + "."))
	f.Const().Defs(defs...)
	return f
}
