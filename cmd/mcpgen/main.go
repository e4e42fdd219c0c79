// Command mcpgen scaffolds per-user MCP OAuth connections into a Go web
// application. Run `mcpgen --help` for usage.
package main

import (
	"os"

	"github.com/mcpgen/mcpgen/generator/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
