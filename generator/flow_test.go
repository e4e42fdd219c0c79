package generator

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func TestFlowLayerRendersGoFiles(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres, MySQL} {
		n := dataLayerNames(d, IDInt64)
		files, migs, err := flowLayer(n)
		if err != nil {
			t.Fatalf("%s: flowLayer: %v", d, err)
		}
		if len(migs) != 0 {
			t.Errorf("%s: flowLayer returned migrations; the clients table is the data layer's", d)
		}
		if len(files) != len(flowSources) {
			t.Fatalf("%s: %d files, want %d", d, len(files), len(flowSources))
		}
		fset := token.NewFileSet()
		for _, f := range files {
			if !strings.HasPrefix(f.Path, n.PackageDir+"/") {
				t.Errorf("%s is outside the package folder", f.Path)
			}
			if _, err := parser.ParseFile(fset, f.Path, f.Content, parser.PackageClauseOnly); err != nil {
				t.Errorf("%s does not parse: %v", f.Path, err)
			}
			editable := strings.HasSuffix(f.Path, "/servers.go")
			if got := strings.HasPrefix(string(f.Content), n.Header(!editable)+"\n"); !got {
				t.Errorf("%s does not start with %q", f.Path, n.Header(!editable))
			}
		}
	}
}
