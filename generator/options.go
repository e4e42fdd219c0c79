package generator

import (
	"fmt"
	"time"
)

// Version is the mcpgen version written into the header of every generated
// file and into the manifest.
const Version = "0.2.0"

// Options are the inputs of one install or uninstall run, as given on the
// command line. Empty fields mean "detect from the target, else default".
type Options struct {
	UserModel      string // Go type of the user model; default "User"
	Namespace      string // "Admin" or "Admin/Tools"
	HandlerName    string // default "MCPConnectionsHandler"
	ControllerName string // Rails-style alias of HandlerName
	SkipRoutes     bool
	SkipViews      bool
	Database       string // sqlite, postgres or mysql
	MigrationsDir  string // slash-separated, relative to the target root
	UserTable      string
	UserIDType     string // int64, string or uuid
	CurrentUser    string // <package folder or name>.<Func>, or <Func> of the routes' package

	// Dir is the target's folder on disk, when it is on disk: install then
	// reads Go types (go/packages) where the syntax alone cannot settle the
	// routes. "" reads the syntax only.
	Dir string

	// Now stamps new migration versions. The zero value means time.Now.
	Now time.Time
}

// Mode says how a run treats files that exist and differ from what mcpgen
// would write.
type Mode int

const (
	// ModeDefault stops the run, writing nothing, when any file conflicts.
	ModeDefault Mode = iota
	// ModeSkip leaves conflicting files alone and writes the rest.
	ModeSkip
	// ModeForce overwrites conflicting files.
	ModeForce
)

// InputError is a problem with what the user asked for: it names the
// problem and how to fix it. Nothing has been written when it is returned.
type InputError struct {
	Problem string
	Fix     string
}

func (e *InputError) Error() string {
	if e.Fix == "" {
		return e.Problem
	}
	return e.Problem + "\n  fix: " + e.Fix
}

func inputErrorf(fix, format string, args ...any) *InputError {
	return &InputError{Problem: fmt.Sprintf(format, args...), Fix: fix}
}
