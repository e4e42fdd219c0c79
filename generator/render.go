package generator

import (
	"bytes"
	"fmt"
	"go/format"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/dave/jennifer/jen"

	"github.com/mcpgen/mcpgen/templates"
)

// File is one file mcpgen wants in the target, before the planner compares
// it with what is there.
type File struct {
	Path    string // slash-separated, relative to the target root
	Content []byte
}

// Migration is a goose SQL migration identified by its name; the planner
// gives it a version (and so a path) by the migrations folder's convention.
type Migration struct {
	Name    string // "create_mcp_oauth_credentials"
	Content []byte
}

// funcs are sprig's hermetic functions (no clock, randomness or
// environment, so output is reproducible) plus a few of mcpgen's own.
var funcs = func() template.FuncMap {
	m := sprig.HermeticTxtFuncMap()
	m["underscore"] = underscore
	m["camelize"] = camelize
	return m
}()

// renderText executes the embedded template at name (a path inside the
// templates folder) with data.
func renderText(name string, data any) ([]byte, error) {
	src, err := templates.FS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// renderGoText renders a .go.tmpl template and gofmts the result, so a
// template mistake surfaces as an error here, not in the user's build.
func renderGoText(name string, data any) ([]byte, error) {
	src, err := renderText(name, data)
	if err != nil {
		return nil, err
	}
	out, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("template %s renders Go that does not parse: %w", name, err)
	}
	return out, nil
}

// renderGoSources renders the static Go templates tmplDir/<name>.tmpl of
// names into files outDir/<name>.
func renderGoSources(tmplDir, outDir string, names []string, data any) ([]File, error) {
	files := make([]File, 0, len(names))
	for _, name := range names {
		content, err := renderGoText(tmplDir+"/"+name+".tmpl", data)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: outDir + "/" + name, Content: content})
	}
	return files, nil
}

// renderJen renders a jennifer file (gofmt'd, imports sorted) with header
// as its first line.
func renderJen(f *jen.File, header string) ([]byte, error) {
	f.HeaderComment(strings.TrimPrefix(header, "// "))
	var b bytes.Buffer
	if err := f.Render(&b); err != nil {
		return nil, fmt.Errorf("render %s: %w", header, err)
	}
	return b.Bytes(), nil
}

// newJenFile starts a jennifer file for package pkg at import path path,
// with the import names of /vN modules set so they are not aliased "v3".
func newJenFile(path, pkg string) *jen.File {
	f := jen.NewFilePathName(path, pkg)
	f.ImportNames(importNames)
	return f
}

// importNames maps the import paths generated code uses to their package
// names.
var importNames = map[string]string{
	"github.com/pressly/goose/v3":                         "goose",
	"github.com/jackc/pgx/v5":                             "pgx",
	"github.com/jackc/pgx/v5/stdlib":                      "stdlib",
	"github.com/jackc/pgx/v5/pgxpool":                     "pgxpool",
	"github.com/go-sql-driver/mysql":                      "mysql",
	"modernc.org/sqlite":                                  "sqlite",
	"github.com/google/uuid":                              "uuid",
	"github.com/mcpgen/mcpgen/mcpoauth/sqltest":           "sqltest",
	"github.com/modelcontextprotocol/go-sdk/mcp":          "mcp",
	"github.com/modelcontextprotocol/go-sdk/auth":         "auth",
	"github.com/modelcontextprotocol/go-sdk/oauthex":      "oauthex",
	"golang.org/x/oauth2":                                 "oauth2",
	"github.com/riverqueue/river":                         "river",
	"github.com/riverqueue/river/riverdriver/riverpgxv5":  "riverpgxv5",
	"github.com/riverqueue/river/riverdriver/riversqlite": "riversqlite",
}
