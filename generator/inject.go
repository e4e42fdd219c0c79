package generator

import "io/fs"

// injections plans the snippets install adds to the user's own files (the
// routes): one Change per file (StatusInject, or StatusUnchanged when the
// snippet is there already), what to record in the manifest, and notes.
func injections(fsys fs.FS, n Names) ([]Change, []Injection, []string, error) {
	return nil, nil, nil, nil
}

// uninjections plans taking recorded snippets out again (StatusRevert).
func uninjections(fsys fs.FS, recorded []Injection) ([]Change, error) {
	return nil, nil
}
