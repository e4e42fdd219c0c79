package generator

import (
	"go/token"
	"strings"
	"testing"
	"unicode"
)

// Names from the command line become Go identifiers, package folders and
// routes: whatever is typed, they are exported ASCII identifiers that
// stay inside the project, or an error.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"User", "team_member", "Admin/Tools", "Admin::Tools", "../../etc", "Ädmin", "type", "a/b/c", "/abs", `a\b`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		parts, err := namespaceParts(in)
		if err == nil {
			for _, p := range parts {
				if !token.IsIdentifier(p) || !token.IsExported(p) || strings.IndexFunc(p, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
					t.Fatalf("namespaceParts(%q) gave %q", in, p)
				}
			}
		}
		if name := camelize(in); checkIdent(name, "model") == nil {
			if !token.IsIdentifier(name) || strings.ContainsAny(name, "/\\.") || strings.IndexFunc(name, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
				t.Fatalf("checkIdent accepted %q from %q", name, in)
			}
		}
	})
}
