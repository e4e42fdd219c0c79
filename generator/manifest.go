package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
)

// ManifestPath is where mcpgen records what it wrote, at the target root.
const ManifestPath = ".mcpgen.json"

// Manifest records what mcpgen wrote into a target, so a re-run can update
// files the user never edited and uninstall can spare the ones they did.
type Manifest struct {
	Version string          `json:"version"`
	Options ManifestOptions `json:"options"`
	// Files maps each path mcpgen wrote to the hash of what it wrote.
	Files map[string]string `json:"files"`
	// Dirs are the folders mcpgen created, removed by uninstall when empty.
	Dirs []string `json:"dirs,omitempty"`
	// Injections are the snippets mcpgen added to the user's own files.
	Injections []Injection `json:"injections,omitempty"`
	// Requires are the requirements mcpgen added to go.mod, as
	// "path@version": uninstall drops those still there.
	Requires []string `json:"requires,omitempty"`
}

// Injection is a snippet mcpgen added to a file of the user's, recorded so
// uninstall can take out exactly what was added.
type Injection struct {
	Path    string `json:"path"`
	Marker  string `json:"marker"`  // the marker comment the snippet follows
	Snippet string `json:"snippet"` // the exact lines added, newline-terminated
}

// ManifestOptions are the resolved options of the run that wrote the
// manifest, so a later uninstall or re-run can be compared with it.
type ManifestOptions struct {
	UserModel     string  `json:"user_model"`
	Namespace     string  `json:"namespace,omitempty"`
	HandlerName   string  `json:"handler_name"`
	Database      Dialect `json:"database"`
	MigrationsDir string  `json:"migrations_dir"`
	UserTable     string  `json:"user_table"`
	UserIDType    IDType  `json:"user_id_type"`
	SkipRoutes    bool    `json:"skip_routes,omitempty"`
	SkipViews     bool    `json:"skip_views,omitempty"`
}

func manifestOptions(n Names) ManifestOptions {
	o := ManifestOptions{
		UserModel: n.UserModel, HandlerName: n.HandlerType, Database: n.Dialect,
		MigrationsDir: n.MigrationsDir, UserTable: n.UserTable, UserIDType: n.UserIDType,
		SkipRoutes: n.SkipRoutes, SkipViews: n.SkipViews,
	}
	for i, p := range n.Namespace {
		if i > 0 {
			o.Namespace += "/"
		}
		o.Namespace += p
	}
	return o
}

// hash is the manifest's fingerprint of a file's content.
func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// readManifest returns the target's manifest, or nil when it has none.
func readManifest(fsys fs.FS) (*Manifest, error) {
	src, err := fs.ReadFile(fsys, ManifestPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestPath, err)
	}
	var m Manifest
	if err := json.Unmarshal(src, &m); err != nil {
		return nil, inputErrorf("restore it from version control, or delete it (mcpgen then treats every differing file as yours)",
			"%s is not valid JSON: %v", ManifestPath, err)
	}
	if m.Files == nil {
		m.Files = map[string]string{}
	}
	return &m, nil
}

// encode renders the manifest deterministically: sorted keys and folders,
// two-space indent, trailing newline.
func (m *Manifest) encode() []byte {
	sort.Strings(m.Dirs)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // a Manifest is plain data; encoding cannot fail
	}
	return append(b, '\n')
}
