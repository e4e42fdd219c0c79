package storagetest_test

import (
	"sync/atomic"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth"
	"github.com/mcpgen/mcpgen/mcpoauth/storagetest"
)

// TestMemoryStorage runs the contract against MemoryStorage. One storage
// serves every subtest, as a database shared by a test run would, so the
// suite's subtests must keep to their own rows.
func TestMemoryStorage(t *testing.T) {
	storage := mcpoauth.NewMemoryStorage[int64]()
	var lastUser atomic.Int64
	storagetest.TestStorage(t, func(t *testing.T) storagetest.Fixture[int64] {
		return storagetest.Fixture[int64]{
			Storage: storage,
			Reopen:  func(testing.TB) mcpoauth.Storage[int64] { return storage },
			NewUser: func(testing.TB) int64 { return lastUser.Add(1) },
			// MemoryStorage has no users table: the cascade case skips.
			DeleteUser: nil,
		}
	})
}
