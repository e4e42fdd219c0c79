package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/mcpgen/mcpgen/generator"
)

// runFlags are the flags install and uninstall share.
type runFlags struct {
	opts    generator.Options
	dir     string
	clock   string
	pretend bool
	force   bool
	skip    bool
	quiet   bool
	diff    bool
}

func newOAuthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "oauth",
		Short: "Per-user OAuth connections to MCP servers",
		Example: `  mcpgen oauth install
  mcpgen oauth uninstall
  mcpgen oauth keygen`,
	}
	cmd.AddCommand(newInstallCmd(), newUninstallCmd(), newKeygenCmd())
	return cmd
}

const railsMapping = `
Coming from Rails (rails generate ruby_llm:mcp:oauth:install):
  UserModel argument          same: mcpgen oauth install Account
  --namespace=Admin           same; nested: --namespace=Admin/Tools (or Admin::Tools)
  --controller-name=XController  accepted: becomes the Go handler type XHandler
                              (--controller-name=OAuthConnectionsController gives
                              OAuthConnectionsHandler, routes /oauth_connections)
  --skip-routes, --skip-views same
  -p/--pretend -f/--force -s/--skip -q/--quiet  same as Thor's
  rails destroy ...           mcpgen oauth uninstall (spares files you edited)
  rails db:migrate            goose up (the command is printed after install)`

func newInstallCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "install [UserModel]",
		Short: "Write the MCP OAuth connection code into the Go module in --dir",
		Long: `install writes, into the Go module of the current folder or of --dir (the
nearest folder at or above it with a go.mod): goose migrations for the OAuth
credentials and pending flow states, and a Go package (internal/mcpoauth, nested
under the namespace) with the models, an encrypted store over database/sql and
its tests, plus helpers beside the user model.

Each file is reported on one line: create, identical, update (mcpgen's own
earlier output, unedited), conflict, force, skip. A file you edited is a
conflict: without --force or --skip nothing at all is written. What mcpgen
wrote is recorded in .mcpgen.json so re-runs and uninstall know your edits.
` + outputsHelp() + railsMapping,
		Example: `  mcpgen oauth install
  mcpgen oauth install Account
  mcpgen oauth install User --namespace=Admin
  mcpgen oauth install --skip-routes
  mcpgen oauth install User --controller-name=OAuthConnectionsController
  mcpgen oauth install Member --database=postgres --migrations-dir=db/migrate
  mcpgen oauth install --diff          # show what would change, write nothing (exit 1 if anything would)`,
		Args: modelArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return failed(runInstall(cmd, f, args))
		},
	}
	addRunFlags(cmd, f)
	return cmd
}

// outputsHelp lists, for install --help, every file install writes or
// edits, grouped by folder, each with its purpose, as package generator
// declares them.
func outputsHelp() string {
	var b strings.Builder
	b.WriteString(`
What it writes, with the default options (--namespace=Admin puts the package
in internal/admin/mcpoauth, --migrations-dir moves the migrations):
`)
	var folders []string
	byFolder := map[string][]generator.Output{}
	for _, o := range generator.Outputs() {
		dir := path.Dir(o.Path)
		if _, ok := byFolder[dir]; !ok {
			folders = append(folders, dir)
		}
		byFolder[dir] = append(byFolder[dir], o)
	}
	// The folders in the order of their first file, then what is at the
	// root, unindented.
	for i, dir := range folders {
		if dir == "." {
			folders = append(append(folders[:i:i], folders[i+1:]...), dir)
			break
		}
	}
	for _, dir := range folders {
		indent := "  "
		if dir != "." {
			fmt.Fprintf(&b, "  %s/\n", dir)
			indent = "    "
		}
		w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, o := range byFolder[dir] {
			fmt.Fprintf(w, "%s%s\t%s\n", indent, path.Base(o.Path), o.Purpose)
		}
		w.Flush()
	}
	return b.String()
}

func newUninstallCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "uninstall [UserModel]",
		Short: "Remove what install wrote, keeping files you edited",
		Long: `uninstall removes the files install wrote that are unchanged since it wrote
them (as recorded in .mcpgen.json) and the folders it created once empty.
Files you edited are kept and listed. Without .mcpgen.json it removes only
files identical to what install would write with the same arguments and flags.
Migrations are removed too: migrate down first if they were applied.`,
		Example: `  mcpgen oauth uninstall
  mcpgen oauth uninstall Account --namespace=Admin
  mcpgen oauth uninstall --pretend`,
		Args: modelArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return failed(runUninstall(cmd, f, args))
		},
	}
	addRunFlags(cmd, f)
	return cmd
}

func modelArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return &usageError{fmt.Errorf("%s takes one user model name, got %d arguments: %q", cmd.CommandPath(), len(args), args)}
	}
	return nil
}

func addRunFlags(cmd *cobra.Command, f *runFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Namespace, "namespace", "", "namespace for the package, routes and views, e.g. Admin or Admin/Tools")
	fl.StringVar(&f.opts.HandlerName, "handler-name", "", "Go type of the HTTP handler (default MCPConnectionsHandler)")
	fl.StringVar(&f.opts.ControllerName, "controller-name", "", "Rails alias of --handler-name: XController becomes XHandler")
	fl.BoolVar(&f.opts.SkipRoutes, "skip-routes", false, "do not inject routes; print the line to add instead")
	fl.BoolVar(&f.opts.SkipViews, "skip-views", false, "no HTML views: the handler answers JSON")
	fl.StringVar(&f.opts.CurrentUser, "current-user", "", "the function saying who is signed in: <package folder>.<Func> (default: detected)")
	fl.StringVar(&f.opts.Database, "database", "", "sqlite, postgres or mysql (default: from go.mod's driver, else sqlite)")
	fl.StringVar(&f.dir, "dir", ".", "a folder of the target Go module: mcpgen works on the nearest folder at or above it with a go.mod")
	fl.StringVar(&f.opts.MigrationsDir, "migrations-dir", "", "goose migrations folder, relative to the module root (default: the existing one, else db/migrations)")
	fl.StringVar(&f.opts.UserTable, "user-table", "", "table of the user model (default: its plural, e.g. people for Person)")
	fl.StringVar(&f.opts.UserIDType, "user-id-type", "", "int64, string or uuid (default: from the model's ID field, else int64)")
	fl.BoolVarP(&f.pretend, "pretend", "p", false, "run but do not write anything")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite files that conflict")
	fl.BoolVarP(&f.skip, "skip", "s", false, "leave files that conflict as they are")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only errors")
	fl.BoolVar(&f.diff, "diff", false, "print unified diffs of what would change; write nothing; exit 1 if anything would")
	fl.StringVar(&f.clock, "clock", "", "time that stamps new migrations (Unix seconds or RFC 3339; default SOURCE_DATE_EPOCH, else now)")
	_ = fl.MarkHidden("clock")
}

// open resolves the options of a run and opens the target root: the
// module --dir is in. When that is above --dir, walked is the path from
// --dir up to it, else "".
func (f *runFlags) open(args []string) (root *os.Root, opts generator.Options, walked string, err error) {
	opts = f.opts
	if f.force && f.skip {
		return nil, opts, "", &generator.InputError{Problem: "--force and --skip contradict each other", Fix: "pass one of them: --force overwrites conflicts, --skip keeps yours"}
	}
	if len(args) == 1 {
		opts.UserModel = args[0]
		if opts.UserModel == "" {
			return nil, opts, "", &generator.InputError{Problem: "the user model name is empty", Fix: "pass a Go type name such as User or Account, or leave it out for User"}
		}
	}
	if opts.Now, err = clock(f.clock); err != nil {
		return nil, opts, "", err
	}
	start, err := filepath.Abs(f.dir)
	if err != nil {
		return nil, opts, "", err
	}
	info, err := os.Stat(start)
	if err != nil || !info.IsDir() {
		return nil, opts, "", &generator.InputError{Problem: fmt.Sprintf("--dir %s is not a folder", f.dir), Fix: "pass a folder of your Go module"}
	}
	dir, err := moduleRoot(start)
	if err != nil {
		return nil, opts, "", err
	}
	if dir != start {
		if walked, err = filepath.Rel(start, dir); err != nil {
			return nil, opts, "", err
		}
	}
	opts.Dir = dir
	root, err = os.OpenRoot(dir)
	if err != nil {
		return nil, opts, "", fmt.Errorf("open %s: %w", dir, err)
	}
	return root, opts, walked, nil
}

func (f *runFlags) mode() generator.Mode {
	switch {
	case f.force:
		return generator.ModeForce
	case f.skip:
		return generator.ModeSkip
	}
	return generator.ModeDefault
}

// execute plans a run with plan, reports it and, unless --pretend or
// --diff, applies it. It returns the plan, or nil when nothing was applied.
func (f *runFlags) execute(cmd *cobra.Command, args []string,
	plan func(fs.FS, generator.Options) (*generator.Plan, error)) (*generator.Plan, error) {
	root, opts, walked, err := f.open(args)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if walked != "" && !f.quiet {
		// The paths printed from here on are relative to the root, not to
		// where mcpgen was run.
		out := cmd.OutOrStdout()
		fmt.Fprintln(out, statusLine("detect", fmt.Sprintf("module root %s (%s): paths below are relative to it", walked, opts.Dir), useColor(out)))
	}
	p, err := plan(root.FS(), opts)
	if err != nil {
		return nil, err
	}
	if p.Blocked != nil && !f.pretend && !f.diff {
		return nil, p.Blocked
	}
	if err := f.report(cmd, p); err != nil {
		return nil, err
	}
	if p.Blocked != nil {
		return nil, p.Blocked // shown, not applied
	}
	if pending := p.Pending(); f.diff && len(pending) > 0 {
		// Like git diff --exit-code: a CI step running --diff fails when
		// the app is not what this mcpgen would write.
		fmt.Fprintf(cmd.ErrOrStderr(), "mcpgen: %d file(s) differ from what mcpgen %s writes\n  fix: run the same command without --diff to apply the changes, then commit them\n",
			len(pending), generator.Version)
		return nil, &exitError{code: ExitFailure}
	}
	if f.pretend || f.diff {
		return nil, nil
	}
	return p, generator.Apply(root, p)
}

func runInstall(cmd *cobra.Command, f *runFlags, args []string) error {
	plan, err := f.execute(cmd, args, func(fsys fs.FS, opts generator.Options) (*generator.Plan, error) {
		return generator.PlanInstall(fsys, opts, f.mode())
	})
	if err != nil || plan == nil || f.quiet {
		return err
	}
	steps, err := generator.NextSteps(plan)
	if err != nil {
		return err
	}
	fmt.Fprint(cmd.OutOrStdout(), "\n"+steps)
	return nil
}

func runUninstall(cmd *cobra.Command, f *runFlags, args []string) error {
	plan, err := f.execute(cmd, args, generator.PlanUninstall)
	if err != nil || plan == nil || f.quiet {
		return err
	}
	var kept []generator.Change
	for _, c := range plan.Changes {
		if c.Status == generator.StatusKeep {
			kept = append(kept, c)
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "\nKept %d file(s) you edited; delete them yourself if you no longer need them:\n", len(kept))
		for _, c := range kept {
			fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", c.Path)
		}
	}
	return nil
}

// report prints the plan (notes, one status line per file, or diffs) and
// turns conflicts into an error after listing them all.
func (f *runFlags) report(cmd *cobra.Command, p *generator.Plan) error {
	out := cmd.OutOrStdout()
	color := useColor(out)
	if !f.quiet {
		for _, n := range p.Notes {
			fmt.Fprintln(out, statusLine("detect", n, color))
		}
		for _, c := range p.Changes {
			line := c.Path
			if c.Note != "" && c.Status != generator.StatusConflict {
				line += "  (" + c.Note + ")"
			}
			fmt.Fprintln(out, statusLine(string(c.Status), line, color))
		}
	}
	if f.diff {
		for _, c := range p.Changes {
			if d := generator.ChangeDiff(c); d != "" {
				fmt.Fprint(out, d)
			}
		}
	}
	if conflicts := p.Conflicts(); len(conflicts) > 0 {
		w := cmd.ErrOrStderr()
		fmt.Fprintf(w, "mcpgen: %d file(s) conflict with what mcpgen writes; nothing was written:\n", len(conflicts))
		for _, c := range conflicts {
			fmt.Fprintf(w, "  %s (%s)\n", c.Path, c.Note)
		}
		fmt.Fprintln(w, "  fix: see the changes with --diff, then re-run with --force to overwrite them or --skip to keep yours")
		return &exitError{code: ExitFailure}
	}
	if (f.pretend || f.diff) && !f.quiet {
		fmt.Fprintln(out, "\n(pretend: nothing was written)")
	}
	return nil
}

var statusColors = map[string]string{
	"create": "32", "update": "32", "force": "33", "inject": "32", "remove": "31",
	"identical": "34", "unchanged": "34", "conflict": "31", "skip": "33", "keep": "33", "detect": "36",
}

// statusLine formats a Thor status line: the status right-aligned in
// twelve columns, two spaces, the message.
func statusLine(status, msg string, color bool) string {
	s := fmt.Sprintf("%12s", status)
	if c, ok := statusColors[status]; ok && color {
		s = "\x1b[1;" + c + "m" + s + "\x1b[0m"
	}
	return s + "  " + msg
}

// useColor reports whether status lines written to w are coloured: only
// on a terminal that is not dumb, and never with NO_COLOR set to anything
// (https://no-color.org).
func useColor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a terminal. Tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}
