package mcpoauth

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testUser is the user ID type of the runtime's own tests.
type testUser = int64

// testClock is a settable clock for Stores under test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestStore returns a Store over a fresh MemoryStorage, with a clock
// the test can move.
func newTestStore(t testing.TB) (*Store[testUser], *MemoryStorage[testUser], *testClock) {
	t.Helper()
	storage := NewMemoryStorage[testUser]()
	clock := newTestClock()
	return NewStore[testUser](storage, testKeyring(t), WithClock(clock.Now)), storage, clock
}

var lastTestUser atomic.Int64

// seedUser returns a user ID no other test uses.
func seedUser(t testing.TB, _ *MemoryStorage[testUser]) testUser {
	t.Helper()
	return lastTestUser.Add(1)
}

// countRows counts the rows of table ("mcp_oauth_states" or
// "mcp_oauth_credentials") belonging to userID.
func countRows(t testing.TB, m *MemoryStorage[testUser], table string, userID testUser) int {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	switch table {
	case statesTable:
		for _, r := range m.states {
			if r.UserID == userID {
				n++
			}
		}
	case credentialsTable:
		for _, r := range m.creds {
			if r.UserID == userID {
				n++
			}
		}
	default:
		t.Fatalf("countRows: unknown table %q", table)
	}
	return n
}
