// Package templates holds the text templates mcpgen renders into a target
// project: SQL migrations, static Go sources, HTML views and notes.
//
// Files ending in .tmpl are text/template sources rendered with the hermetic
// sprig functions; Go sources end in .go.tmpl so the Go tool never builds
// them as part of mcpgen.
package templates

import "embed"

// FS is the embedded template tree.
//
//go:embed all:*
var FS embed.FS
