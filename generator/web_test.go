package generator

import (
	"errors"
	"go/parser"
	"go/token"
	"html/template"
	"strings"
	"testing"
	"time"
)

// webNames returns Names for the web layer of a typical app, namespaced
// Admin.
func webNames(d Dialect, id IDType, skipViews bool) Names {
	n := dataLayerNames(d, id)
	n.HandlerType, n.Resource, n.RoutePrefix = "MCPConnectionsHandler", "mcp_connections", "/admin/mcp_connections"
	n.ViewDir = n.PackageDir + "/views/mcp_connections"
	n.SkipViews = skipViews
	return n
}

func TestWebLayerRendersEveryOptionSet(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		for _, id := range []IDType{IDInt64, IDString, IDUUID} {
			for _, skipViews := range []bool{false, true} {
				n := webNames(d, id, skipViews)
				files, migs, err := renderLayers(n, layerWeb)
				if err != nil {
					t.Fatalf("%s/%s/%v: %v", d, id, skipViews, err)
				}
				byPath := map[string]string{}
				for _, f := range files {
					byPath[f.Path] = string(f.Content)
					if strings.HasSuffix(f.Path, ".go") {
						if _, err := parser.ParseFile(token.NewFileSet(), f.Path, f.Content, parser.ParseComments); err != nil {
							t.Errorf("%s/%s: %s does not parse: %v", d, id, f.Path, err)
						}
						if !strings.HasPrefix(string(f.Content), n.Header(false)+"\n") {
							t.Errorf("%s/%s: %s does not open with the header", d, id, f.Path)
						}
					}
				}
				for _, want := range []string{"handler.go", "register.go", "handler_test.go"} {
					if _, ok := byPath[n.PackageDir+"/"+want]; !ok {
						t.Errorf("%s/%s: no %s", d, id, want)
					}
				}
				views := 0
				for p := range byPath {
					if strings.HasSuffix(p, ".html") || strings.HasSuffix(p, "/views.go") {
						views++
					}
				}
				if want := map[bool]int{false: 5, true: 0}[skipViews]; views != want {
					t.Errorf("%s/%s skip-views=%v: %d view files, want %d", d, id, skipViews, views, want)
				}
				handler := byPath[n.PackageDir+"/handler.go"]
				if !strings.Contains(handler, "func NewMCPConnectionsHandler(s *Services, currentUser CurrentUserFunc, loginURL string) (*MCPConnectionsHandler, error)") ||
					!strings.Contains(handler, "*mcpoauth.Handler[UserID]") ||
					strings.Contains(handler, "parseViews()") == skipViews {
					t.Errorf("%s/%s skip-views=%v: handler.go is not what it should be", d, id, skipViews)
				}
				if len(migs) != 1 || migs[0].Name != "create_mcp_oauth_rate_limits" {
					t.Fatalf("%s/%s: migrations %v", d, id, migs)
				}
				sql := string(migs[0].Content)
				if !strings.HasPrefix(sql, n.SQLHeader()+"\n") || !strings.Contains(sql, "-- +goose Up\n") ||
					!strings.Contains(sql, "-- +goose Down\nDROP TABLE mcp_oauth_rate_limits;") ||
					!strings.Contains(sql, "UNIQUE (user_id, bucket, window_start)") ||
					!strings.Contains(sql, "REFERENCES users (id) ON DELETE CASCADE") {
					t.Errorf("%s/%s: migration:\n%s", d, id, sql)
				}
			}
		}
	}
}

func TestWebLayerDialectSQL(t *testing.T) {
	for _, tc := range []struct {
		d          Dialect
		want, not  []string
		idColumn   string
		timeColumn string
	}{
		{SQLite, []string{"ON CONFLICT (user_id, bucket, window_start) DO UPDATE SET hits = mcp_oauth_rate_limits.hits + 1", "VALUES (?, ?, ?, 1, ?)"},
			[]string{"$1"}, "id INTEGER PRIMARY KEY", "window_start TIMESTAMP NOT NULL"},
		{Postgres, []string{"ON CONFLICT (user_id, bucket, window_start) DO UPDATE", "VALUES ($1, $2, $3, 1, $4)", "WHERE user_id = $1 AND bucket = $2 AND window_start = $3"},
			[]string{"?"}, "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "window_start TIMESTAMPTZ NOT NULL"},
		{MySQL, []string{"ON DUPLICATE KEY UPDATE hits = hits + 1", "WHERE expires_at <= ?\nORDER BY expires_at\nLIMIT ?"},
			[]string{"ON CONFLICT", "$1", "IN (\n"}, "AUTO_INCREMENT", "window_start DATETIME(6) NOT NULL"},
	} {
		// The rate limiter's statements are the SQL store's, in queries.go;
		// its table is the web layer's migration.
		n := webNames(tc.d, IDInt64, true)
		_, migs, err := renderLayers(n, layerWeb)
		if err != nil {
			t.Fatal(err)
		}
		files, _, err := renderLayers(n, layerData)
		if err != nil {
			t.Fatal(err)
		}
		var queries string
		for _, f := range files {
			if strings.HasSuffix(f.Path, "/queries.go") {
				queries = string(f.Content)
			}
		}
		if i := strings.Index(queries, "sqlHitRateLimit = "); i >= 0 {
			queries = queries[i:] // the rate limit statements come last
		} else {
			t.Fatalf("%s: queries.go has no rate limit statements", tc.d)
		}
		for _, w := range tc.want {
			if !strings.Contains(queries, w) {
				t.Errorf("%s: queries.go lacks %q:\n%s", tc.d, w, queries)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(queries, w) {
				t.Errorf("%s: queries.go has %q:\n%s", tc.d, w, queries)
			}
		}
		for _, w := range []string{tc.idColumn, tc.timeColumn} {
			if !strings.Contains(string(migs[0].Content), w) {
				t.Errorf("%s: migration lacks %q:\n%s", tc.d, w, migs[0].Content)
			}
		}
	}
}

// The views are html/template sources: mcpgen copies them, and they must
// parse as the generated views.go parses them.
func TestWebLayerViewsAreHTMLTemplates(t *testing.T) {
	n := webNames(SQLite, IDInt64, false)
	files, _, err := renderLayers(n, layerWeb)
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f.Path, ".html") {
			if !strings.HasPrefix(f.Path, n.ViewDir+"/") {
				t.Errorf("view %s outside %s", f.Path, n.ViewDir)
			}
			name := strings.TrimPrefix(f.Path, n.ViewDir+"/")
			src[name] = string(f.Content)
			if !strings.HasPrefix(src[name], "{{/* Generated by mcpgen v"+Version+". Yours to edit") {
				t.Errorf("%s does not open with the header comment", name)
			}
		}
	}
	funcs := template.FuncMap{"datetime": func(time.Time) string { return "" }, "when": func(time.Time) string { return "" }}
	for _, page := range []string{"index.html", "tools.html", "error.html"} {
		tmpl, err := template.New(page).Funcs(funcs).Parse(src["layout.html"])
		if err == nil {
			_, err = tmpl.Parse(src[page])
		}
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		for _, def := range []string{"layout", "content"} {
			if tmpl.Lookup(def) == nil {
				t.Errorf("%s with the layout defines no %q", page, def)
			}
		}
	}
	if !strings.Contains(src["index.html"], `action="{{$.Prefix}}/connect"`) {
		t.Error("index.html lost its template actions: mcpgen must not execute them")
	}
}

func TestWebLayerRejectsBadNames(t *testing.T) {
	for name, edit := range map[string]func(*Names){
		"prefix without slash":  func(n *Names) { n.RoutePrefix = "mcp" },
		"prefix trailing slash": func(n *Names) { n.RoutePrefix = "/mcp/" },
		"prefix with a pattern": func(n *Names) { n.RoutePrefix = "/{x}" },
		"view folder elsewhere": func(n *Names) { n.ViewDir = "views" },
		"handler not a name":    func(n *Names) { n.HandlerType = "func" },
	} {
		n := webNames(SQLite, IDInt64, false)
		edit(&n)
		if _, _, err := renderLayers(n, layerWeb); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A handler named after one of the web layer's own declarations would not
// compile: the engine's check refuses it.
func TestWebLayerNamesCollideWithTheHandler(t *testing.T) {
	n := webNames(SQLite, IDInt64, false)
	n.HandlerType = "UserFromContext"
	files, _, err := renderLayers(n, layerWeb)
	if err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	if err := checkGeneratedNames(n, files); !errors.As(err, &ie) || !strings.Contains(err.Error(), "UserFromContext") {
		t.Errorf("checkGeneratedNames: %v", err)
	}
}
