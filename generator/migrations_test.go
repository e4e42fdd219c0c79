package generator

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestMigrationVersions(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		files []string
		want  []string
	}{
		{"empty folder: timestamps from now", nil, []string{"20260304050607", "20260304050608"}},
		{"timestamps", []string{"20250101000000_create_users.sql"}, []string{"20260304050607", "20260304050608"}},
		{"a version from the future is passed", []string{"20270101000000_later.sql"}, []string{"20270101000001", "20270101000002"}},
		{"sequential", []string{"00001_a.sql", "00002_b.sql"}, []string{"00003", "00004"}},
		{"sequential, wider", []string{"000009_a.sql"}, []string{"000010", "000011"}},
		{"mixed folders use timestamps", []string{"00001_a.sql", "20250101000000_b.sql"}, []string{"20260304050607", "20260304050608"}},
		{"other files are ignored", []string{"README.md", "00001_a.sql", "seed.sql"}, []string{"00002", "00003"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["db/"+f] = &fstest.MapFile{Data: []byte("-- +goose Up\n")}
			}
			_, style, err := existingMigrations(fsys, "db")
			if err != nil {
				t.Fatal(err)
			}
			got := migrationVersions(style, now, 2)
			if got[0] != tc.want[0] || got[1] != tc.want[1] {
				t.Errorf("versions = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlaceMigrationsReusesExistingName(t *testing.T) {
	fsys := fstest.MapFS{
		"db/00001_create_users.sql":                 {Data: []byte("-- +goose Up\n")},
		"db/00007_create_mcp_oauth_credentials.sql": {Data: []byte("-- +goose Up\n")},
	}
	files, err := placeMigrations(fsys, "db", time.Now(), []Migration{
		{Name: "create_mcp_oauth_credentials"}, {Name: "create_mcp_oauth_states"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Path != "db/00007_create_mcp_oauth_credentials.sql" {
		t.Errorf("existing migration not reused: %s", files[0].Path)
	}
	if files[1].Path != "db/00008_create_mcp_oauth_states.sql" {
		t.Errorf("new migration = %s, want db/00008_create_mcp_oauth_states.sql", files[1].Path)
	}
}

func TestDuplicateMigrationNamesAreAnError(t *testing.T) {
	fsys := fstest.MapFS{
		"db/00001_create_mcp_oauth_states.sql": {Data: []byte("-- +goose Up\n")},
		"db/00002_create_mcp_oauth_states.sql": {Data: []byte("-- +goose Up\n")},
	}
	if _, _, err := existingMigrations(fsys, "db"); err == nil {
		t.Fatal("two migrations of one name: want an error")
	}
}
