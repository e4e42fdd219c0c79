package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"time"
)

// MigrationStyle is how a migrations folder numbers its files.
type MigrationStyle struct {
	Sequential bool  // goose's 00001 style; else 14-digit UTC timestamps
	Width      int   // digits of a sequential version
	Last       int64 // highest version in the folder, 0 when empty
}

// migrationFile matches goose SQL file names: <version>_<name>.sql.
var migrationFile = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9_]+)\.sql$`)

// existingMigrations maps migration names to their file names in dir.
func existingMigrations(fsys fs.FS, dir string) (map[string]string, MigrationStyle, error) {
	style := MigrationStyle{Width: 5}
	byName := map[string]string{}
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return byName, style, nil
	}
	if err != nil {
		return nil, style, fmt.Errorf("read migrations folder %s: %w", dir, err)
	}
	timestamps, sequential := 0, 0
	for _, e := range entries {
		m := migrationFile.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		if prev, ok := byName[m[2]]; ok {
			return nil, style, inputErrorf("remove or rename one of them",
				"migrations folder %s has two migrations named %s: %s and %s", dir, m[2], prev, e.Name())
		}
		byName[m[2]] = e.Name()
		if len(m[1]) >= 14 {
			timestamps++
		} else {
			sequential++
			style.Width = max(style.Width, len(m[1]))
		}
		style.Last = max(style.Last, v)
	}
	style.Sequential = sequential > 0 && timestamps == 0
	return byName, style, nil
}

// migrationVersions returns n new versions after style.Last: timestamps
// from now, one second apart so they never collide, or sequential numbers.
func migrationVersions(style MigrationStyle, now time.Time, n int) []string {
	out := make([]string, n)
	if style.Sequential {
		for i := range out {
			out[i] = fmt.Sprintf("%0*d", style.Width, style.Last+int64(i)+1)
		}
		return out
	}
	t := now.UTC().Truncate(time.Second)
	if last, err := time.Parse("20060102150405", strconv.FormatInt(style.Last, 10)); err == nil && !t.After(last) {
		t = last.Add(time.Second)
	}
	for i := range out {
		out[i] = t.Add(time.Duration(i) * time.Second).Format("20060102150405")
	}
	return out
}

// placeMigrations gives each migration its path: the existing file of the
// same name, whatever its version, else a new version by the folder's
// convention.
func placeMigrations(fsys fs.FS, dir string, now time.Time, migs []Migration) ([]File, error) {
	existing, style, err := existingMigrations(fsys, dir)
	if err != nil {
		return nil, err
	}
	var fresh []int
	files := make([]File, len(migs))
	for i, m := range migs {
		files[i].Content = m.Content
		if name, ok := existing[m.Name]; ok {
			files[i].Path = path.Join(dir, name)
			continue
		}
		fresh = append(fresh, i)
	}
	for k, v := range migrationVersions(style, now, len(fresh)) {
		i := fresh[k]
		files[i].Path = migrationPath(dir, v, migs[i].Name)
	}
	return files, nil
}

// migrationPath is the path of migration name at version in dir, in
// goose's form.
func migrationPath(dir, version, name string) string {
	return path.Join(dir, version+"_"+name+".sql")
}
