package generator

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// environment, so output is reproducible).
var funcs = sprig.HermeticTxtFuncMap()

// renderText executes the embedded template at name (a path inside the
// templates folder) with data.
func renderText(name string, data any) ([]byte, error) {
	t, err := parsedTemplate(name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// parsed holds the templates parsed so far, by name: each is parsed once
// per process, however many files and runs use it.
var parsed sync.Map // string -> *template.Template

// parsedTemplate returns the template name (a path in the templates
// folder), parsing it on first use.
func parsedTemplate(name string) (*template.Template, error) {
	if t, ok := parsed.Load(name); ok {
		return t.(*template.Template), nil
	}
	src, err := templates.FS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	actual, _ := parsed.LoadOrStore(name, t)
	return actual.(*template.Template), nil
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

// renderJen renders a jennifer file with header as its first line, its
// imports in goimports' groups: the standard library, then other modules,
// then the app's own (module) packages.
func renderJen(f *jen.File, header, module string) ([]byte, error) {
	f.HeaderComment(strings.TrimPrefix(header, "// "))
	var b bytes.Buffer
	if err := f.Render(&b); err != nil {
		return nil, fmt.Errorf("render %s: %w", header, err)
	}
	return groupImports(b.Bytes(), module)
}

// groupImports rewrites the parenthesized import block of the Go source src
// as goimports groups it: standard library, other modules, then the
// packages of module, each group sorted and set apart by a blank line.
func groupImports(src []byte, module string) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("generated Go does not parse: %w", err)
	}
	var decl *ast.GenDecl
	for _, d := range file.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT && g.Lparen.IsValid() {
			decl = g
			break
		}
	}
	if decl == nil {
		return src, nil
	}
	var groups [3][]string
	for _, spec := range decl.Specs {
		is := spec.(*ast.ImportSpec)
		path, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			return nil, err
		}
		line := is.Path.Value
		if is.Name != nil {
			line = is.Name.Name + " " + line
		}
		g := 1
		switch {
		case !strings.Contains(strings.Split(path, "/")[0], "."):
			g = 0
		case module != "" && (path == module || strings.HasPrefix(path, module+"/")):
			g = 2
		}
		groups[g] = append(groups[g], line)
	}
	var block []string
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		if len(block) > 0 {
			block = append(block, "")
		}
		slices.SortFunc(g, func(a, b string) int { return strings.Compare(importPath(a), importPath(b)) })
		for _, line := range g {
			block = append(block, "\t"+line)
		}
	}
	start, end := fset.Position(decl.Lparen).Offset, fset.Position(decl.Rparen).Offset
	out := slices.Concat(src[:start+1], []byte("\n"+strings.Join(block, "\n")+"\n"), src[end:])
	return format.Source(out)
}

// importPath is the quoted path of an import line, for sorting.
func importPath(line string) string { return line[strings.IndexByte(line, '"'):] }

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
