package generator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpgen/mcpgen/templates"
)

// migrationRateLimits is the name of the web layer's migration.
const migrationRateLimits = "create_mcp_oauth_rate_limits"

// webSources are the Go files of the web layer rendered from
// templates/web; the views and views.go come only with views.
var webSources = []string{"handler.go", "register.go", "handler_test.go"}

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
