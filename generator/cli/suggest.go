package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// suggest returns the name in names closest to typed, or "" when none is
// close: at most two edits away (swapping two neighbouring letters counts
// as one edit), else the first name typed begins.
func suggest(typed string, names []string) string {
	typed = strings.ToLower(typed)
	best, bestDist := "", 3
	for _, name := range names {
		d := editDistance(typed, strings.ToLower(name))
		if d < bestDist && d < len(typed) {
			best, bestDist = name, d
		}
	}
	if best != "" || typed == "" {
		return best
	}
	for _, name := range names {
		if strings.HasPrefix(strings.ToLower(name), typed) {
			return name
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b:
// the fewest insertions, deletions, substitutions and swaps of neighbours
// that turn one into the other.
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}

// requireSubcommands makes every command under cmd that only groups
// others refuse an unknown subcommand. Cobra checks that only for the
// root: `mcpgen oauth instal` would print the help of oauth and exit 0.
// Run alone, such a command still prints its help.
func requireSubcommands(cmd *cobra.Command) {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = knownSubcommand
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, c := range cmd.Commands() {
		requireSubcommands(c)
	}
}

// knownSubcommand refuses any argument of a command that groups others:
// had it named one of them, cobra would have run that one instead.
func knownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := suggest(args[0], names); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return &usageError{errors.New(msg)}
}

// flagError is the flag error of every command: an unknown flag names
// the closest flag cmd has.
func flagError(cmd *cobra.Command, err error) error {
	var unknown *pflag.NotExistError
	if !errors.As(err, &unknown) {
		return &usageError{err}
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	msg := "unknown flag --" + unknown.GetSpecifiedName()
	typed := unknown.GetSpecifiedName()
	if group := unknown.GetSpecifiedShortnames(); group != "" {
		// -force: one dash before a long name reads as shorthands.
		msg, typed = err.Error(), group
		if len(group) == 1 {
			typed = ""
		}
	}
	if s := suggest(typed, names); typed != "" && s != "" {
		msg += "; did you mean --" + s + "?"
		if typed == unknown.GetSpecifiedShortnames() {
			msg += " (a long flag takes two dashes)"
		}
	}
	return &usageError{errors.New(msg)}
}
