package cli

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/mcpoauth"
)

func newKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new encryption key and the line that sets " + mcpoauth.KeysEnv,
		Long: `keygen prints a new random AES-256 key (32 bytes from crypto/rand, base64)
for ` + mcpoauth.KeysEnv + `, then the line that sets it. The other lines are
comments, so eval "$(mcpgen oauth keygen)" sets it in the shell.

The first key of ` + mcpoauth.KeysEnv + ` encrypts and every key decrypts. When
it is set already, the line puts the new key first and keeps the keys set
after it: the new key encrypts from then on, the old ones still open what
they sealed. Remove an old key once nothing is sealed with it any more.`,
		Example: `  mcpgen oauth keygen
  eval "$(mcpgen oauth keygen)"                    # set it in this shell
  ` + mcpoauth.KeysEnv + `= mcpgen oauth keygen   # a new key alone, ignoring the keys set`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return failed(keygen(cmd.OutOrStdout(), os.Getenv(mcpoauth.KeysEnv)))
		},
	}
}

// keygen writes a new key and the export line of KeysEnv to w: the new
// key, then the keys of existing, which is what KeysEnv holds now.
func keygen(w io.Writer, existing string) error {
	var old [][]byte
	if strings.TrimSpace(existing) != "" {
		keys, err := mcpoauth.ParseKeys(existing)
		if err != nil {
			problem := err.Error()
			var ke *mcpoauth.KeyError
			if errors.As(err, &ke) {
				// The runtime's own advice is to make a key, which is
				// what keygen is for: name the key, not the remedy.
				problem, _, _ = strings.Cut(ke.Problem, " (")
				problem = fmt.Sprintf("key %d of %d %s", ke.Index, ke.Count, problem)
			}
			return &generator.InputError{
				Problem: fmt.Sprintf("%s is set, but its %s, so the new key cannot be put before it", mcpoauth.KeysEnv, problem),
				Fix:     fmt.Sprintf("correct or remove that key, or run `%s= mcpgen oauth keygen` for a new key alone", mcpoauth.KeysEnv),
			}
		}
		old = keys
	}
	key := make([]byte, mcpoauth.KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("read a random key: %w", err)
	}
	encoded := base64.StdEncoding.EncodeToString(key)
	values := []string{encoded}
	for _, k := range old {
		values = append(values, base64.StdEncoding.EncodeToString(k))
	}

	fmt.Fprintf(w, "# A new key for %s (AES-256: %d random bytes, base64):\n", mcpoauth.KeysEnv, mcpoauth.KeySize)
	fmt.Fprintf(w, "#   %s\n", encoded)
	if len(old) == 0 {
		fmt.Fprintln(w, "# Set it (the first key encrypts, every key decrypts):")
	} else {
		fmt.Fprintf(w, "# It goes first and encrypts from now on; the %d key(s) set already still decrypt.\n", len(old))
		fmt.Fprintln(w, "# Remove an old key once nothing is sealed with it any more.")
	}
	fmt.Fprintf(w, "export %s=%s\n", mcpoauth.KeysEnv, strings.Join(values, ","))
	return nil
}
