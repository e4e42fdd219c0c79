package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// appSchema is what the app's own goose migrations say: the tables they
// create, and the database their SQL is written for.
type appSchema struct {
	Tables  map[string]string // table name -> the migration creating it
	Opaque  bool              // some migrations are Go: their tables are unknown
	Dialect Dialect           // "" when the SQL says nothing particular
	Signal  string            // what decided Dialect, for the note
}

var (
	createTable = regexp.MustCompile("(?i)\\bCREATE\\s+TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?((?:[\"`]?\\w+[\"`]?\\.)?[\"`]?\\w+[\"`]?)")
	gooseDown   = regexp.MustCompile(`(?mi)^\s*--\s*\+goose\s+down\b`)
)

// dialectSignals are SQL only one database accepts, in the order they are
// tried; the first found in the migrations decides.
var dialectSignals = []struct {
	d  Dialect
	re *regexp.Regexp
	as string
}{
	{Postgres, regexp.MustCompile(`(?i)\b(BIG)?SERIAL\b`), "SERIAL"},
	{Postgres, regexp.MustCompile(`(?i)\bTIMESTAMPTZ\b|\bWITH\s+TIME\s+ZONE\b`), "TIMESTAMPTZ"},
	{Postgres, regexp.MustCompile(`(?i)\bJSONB\b`), "JSONB"},
	{Postgres, regexp.MustCompile(`(?i)\bnow\(\)|\bgen_random_uuid\(\)|::\w+`), "now()"},
	{Postgres, regexp.MustCompile(`(?i)\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b`), "an identity column"},
	{MySQL, regexp.MustCompile(`(?i)\bAUTO_INCREMENT\b`), "AUTO_INCREMENT"},
	{MySQL, regexp.MustCompile(`(?i)\bENGINE\s*=`), "ENGINE="},
	{MySQL, regexp.MustCompile(`(?i)\bUNSIGNED\b`), "UNSIGNED"},
	{SQLite, regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`), "AUTOINCREMENT"},
	{SQLite, regexp.MustCompile(`(?i)\)\s*STRICT\b|\bWITHOUT\s+ROWID\b`), "STRICT"},
	{SQLite, regexp.MustCompile(`(?i)\bdatetime\('now'\)`), "datetime('now')"},
}

// readAppSchema reads the migrations in dir (the Up parts of its SQL
// files); migrations mcpgen wrote itself are left out.
func readAppSchema(fsys fs.FS, dir string) (appSchema, error) {
	s := appSchema{Tables: map[string]string{}}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s, nil
		}
		return s, fmt.Errorf("read migrations in %s: %w", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	found := map[Dialect]string{}
	var order []Dialect
	for _, name := range names {
		p := path.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"):
			s.Opaque = true
			continue
		case !strings.HasSuffix(name, ".sql"):
			continue
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return s, fmt.Errorf("read migration %s: %w", p, err)
		}
		if isGenerated(src) {
			continue
		}
		up := string(src)
		if loc := gooseDown.FindStringIndex(up); loc != nil {
			up = up[:loc[0]]
		}
		for _, m := range createTable.FindAllStringSubmatch(up, -1) {
			table := m[1]
			if i := strings.LastIndexByte(table, '.'); i >= 0 {
				table = table[i+1:]
			}
			table = strings.ToLower(strings.Trim(table, "\"`"))
			if _, ok := s.Tables[table]; !ok {
				s.Tables[table] = p
			}
		}
		for _, sig := range dialectSignals {
			if _, ok := found[sig.d]; !ok && sig.re.MatchString(up) {
				found[sig.d] = sig.as + " in " + p
				order = append(order, sig.d)
			}
		}
	}
	if len(order) == 1 { // two databases' SQL at once says nothing sure
		s.Dialect, s.Signal = order[0], found[order[0]]
	}
	return s, nil
}

// tableNames lists the tables of s, sorted, for messages.
func (s appSchema) tableNames() string {
	var names []string
	for t := range s.Tables {
		names = append(names, t)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
