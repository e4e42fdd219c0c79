package generator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
)

// Apply carries out a plan in the target opened as root: the one place
// mcpgen writes. It refuses a plan with conflicts. Every file is written
// atomically (a temporary file in the same folder, synced, then renamed
// over the old one, keeping its mode), so an interrupted run leaves each
// file either as it was or as planned; the manifest goes last, so it never
// claims a file that is not yet written. os.Root confines every operation
// to the target: no path, symlink or ".." reaches outside it.
func Apply(root *os.Root, p *Plan) error {
	if n := len(p.Conflicts()); n > 0 {
		return fmt.Errorf("plan has %d conflicts: nothing written", n)
	}
	// Check everything before writing anything.
	for _, c := range p.Changes {
		if !c.Status.writes() {
			continue
		}
		if err := checkTarget(root, c.Path); err != nil {
			return err
		}
	}
	var manifest *Change
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Path == ManifestPath {
			manifest = c
			continue
		}
		if err := applyChange(root, c); err != nil {
			return err
		}
	}
	if manifest != nil {
		if err := applyChange(root, manifest); err != nil {
			return err
		}
	}
	for _, d := range p.RemoveDirs {
		removeIfEmpty(root, d)
	}
	return nil
}

func applyChange(root *os.Root, c *Change) error {
	switch c.Status {
	case StatusCreate, StatusUpdate, StatusForce, StatusInject, StatusRevert, StatusRequire:
		return writeAtomic(root, c.Path, c.New)
	case StatusRemove:
		if err := root.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", c.Path, err)
		}
	}
	return nil
}

// checkTarget refuses to write where the path is not a plain file name in
// the target: absolute, with "..", or a symlink (renaming over a link
// would replace it rather than write where it points).
func checkTarget(root *os.Root, p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || len(p) > 2 && p[:3] == "../" {
		return fmt.Errorf("refusing to write %q: not a clean path inside the project", p)
	}
	info, err := root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", p, err)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return &InputError{
			Problem: p + " is a symbolic link: mcpgen does not write through links",
			Fix:     "replace the link with the file itself, or move it away, then re-run",
		}
	}
	return nil
}

// writeAtomic writes data to p through a temporary file in the same folder.
func writeAtomic(root *os.Root, p string, data []byte) (err error) {
	dir := path.Dir(p)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	mode, keepMode := fs.FileMode(0o644), false
	if info, err := root.Stat(p); err == nil {
		mode, keepMode = info.Mode().Perm(), true
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := path.Join(dir, "."+path.Base(p)+".mcpgen-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = root.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if keepMode { // the umask applied to the temporary file; restore the old mode exactly
		if err = root.Chmod(tmp, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	if err = root.Rename(tmp, p); err != nil {
		return fmt.Errorf("rename into %s: %w", p, err)
	}
	syncDir(root, dir)
	return nil
}

// syncDir makes a rename durable; failure only weakens durability, so it
// is not an error.
func syncDir(root *os.Root, dir string) {
	d, err := root.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// removeIfEmpty removes dir when it has no entries; a folder with anything
// in it, the user's or not, stays.
func removeIfEmpty(root *os.Root, dir string) {
	if dir == "." || dir == "" {
		return
	}
	d, err := root.Open(dir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(1)
	_ = d.Close()
	if len(names) == 0 {
		_ = root.Remove(dir)
	}
}
