package generator

import "strings"

// ChangeDiff returns the unified diff of what c would do to its file, or
// "" when it changes nothing. Conflicts are shown too, so --diff explains
// them.
func ChangeDiff(c Change) string {
	switch c.Status {
	case StatusCreate:
		return unifiedDiff("/dev/null", "b/"+c.Path, nil, c.New)
	case StatusUpdate, StatusForce, StatusInject, StatusRevert, StatusConflict, StatusRequire:
		return unifiedDiff("a/"+c.Path, "b/"+c.Path, c.Old, c.New)
	case StatusRemove:
		return unifiedDiff("a/"+c.Path, "/dev/null", c.Old, nil)
	}
	return ""
}

// gooseDriver is the goose CLI's name for each dialect.
var gooseDriver = map[Dialect]string{SQLite: "sqlite3", Postgres: "postgres", MySQL: "mysql"}

// exampleDSN is a connection string to show in the next steps.
var exampleDSN = map[Dialect]string{
	SQLite:   "./app.db",
	Postgres: `"postgres://localhost:5432/app?sslmode=disable"`,
	MySQL:    `"user:password@tcp(localhost:3306)/app?parseTime=true"`,
}

// NextSteps is what to do after a successful install: the Rails
// post-install message, with the commands spelled out for this app.
func NextSteps(p *Plan) (string, error) {
	n := p.Names
	data := struct {
		Names
		GooseDriver, ExampleDSN string
		RoutesFile, RoutesNote  string // where routes were injected, or what to add
	}{Names: n, GooseDriver: gooseDriver[n.Dialect], ExampleDSN: exampleDSN[n.Dialect]}
	for _, c := range p.Changes {
		if c.Status == StatusInject || c.Status == StatusUnchanged {
			data.RoutesFile = c.Path
		}
	}
	for _, note := range p.Notes {
		if strings.HasPrefix(note, "routes: --skip-routes") {
			data.RoutesNote = strings.TrimPrefix(note, "routes: ")
		}
	}
	b, err := renderText("notes/install.txt.tmpl", data)
	return string(b), err
}
