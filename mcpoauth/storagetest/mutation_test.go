package storagetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
	"github.com/mcpgen/mcpgen/mcpoauth/storagetest"
)

// The suite is only worth what it catches. TestSuiteCatchesMutants runs it,
// in a child process per mutant, against a MemoryStorage broken in one
// way, and checks that the subtests meant to catch that break fail.

// mutantEnv names the mutant TestMutantStorage runs in a child process.
const mutantEnv = "STORAGETEST_MUTANT"

// mutants maps each way of breaking the storage to the subtests that must
// catch it.
var mutants = map[string][]string{
	"find-millisecond-times":        {"CredentialLifecycle"},
	"find-local-times":              {"CredentialLifecycle"},
	"find-zero-as-epoch":            {"CredentialLifecycle"},
	"find-drops-client-data":        {"CredentialLifecycle", "CredentialLifecycleThroughStore"},
	"find-plain-not-found":          {"CredentialLifecycle", "CredentialLifecycleThroughStore", "TokenStorage"},
	"delete-missing-is-nil":         {"CredentialLifecycle"},
	"upsert-resets-created":         {"CredentialLifecycle", "CredentialLifecycleThroughStore"},
	"list-unordered":                {"ListCredentials", "CredentialUniquePerUserAndServer"},
	"mark-keeps-updated":            {"MarkReauthRequired"},
	"expiring-ignores-limit":        {"ListExpiringCredentials"},
	"expiring-unordered":            {"ListExpiringCredentials"},
	"lock-is-a-no-op":               {"ConcurrentRefreshHappensOnce", "ConcurrentUpdatesAreSerialised"},
	"lock-stores-on-error":          {"UpdateCredentialLocked"}, // the Store never hands the storage a row with an error
	"lock-stale-read":               {"ConcurrentRefreshHappensOnce", "ConcurrentUpdatesAreSerialised"},
	"take-keeps-state":              {"StateIsSingleUse", "ExpiredStateIsDeleted"},
	"take-racy":                     {"ConcurrentTakeStateSucceedsOnce"},
	"delete-states-ignores-limit":   {"DeleteExpiredStates"},
	"delete-states-strictly-before": {"DeleteExpiredStates"},
	"add-client-overwrites":         {"ClientLifecycle", "ConcurrentAddClientAgreesOnOne"},
	"add-client-returns-own":        {"ClientLifecycle", "ConcurrentAddClientAgreesOnOne"},
	"count-refused-too":             {"CountRequestRefusedCountsNothing", "RateLimiterPerUserAndWindow", "RateLimiterEveryLimitApplies"},
	"count-not-atomic":              {"ConcurrentRateLimitIsAtomic"},
	"count-reversed":                {"CountRequestPerUserAndWindow"},
	"delete-counts-ignores-limit":   {"DeleteExpiredCounts"},
	"reopen-other-data":             {"CredentialLifecycle", "ConcurrentAddClientAgreesOnOne", "TokenStorage"},
	"delete-user-keeps-states":      {"DeletingUserDeletesTheirRows"},
}

func TestSuiteCatchesMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per mutant")
	}
	for name, catchers := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMutantStorage$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against mutant %s:\n%s", name, out)
			}
			for _, c := range catchers {
				if !strings.Contains(string(out), "--- FAIL: TestMutantStorage/"+c+" ") {
					t.Errorf("subtest %s did not catch mutant %s", c, name)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// TestMutantStorage runs the suite against the mutant named by
// STORAGETEST_MUTANT; without it, against the unbroken wrapper, whose
// DeleteUser lets the cascade case run.
func TestMutantStorage(t *testing.T) {
	name := os.Getenv(mutantEnv)
	if _, ok := mutants[name]; name != "" && !ok {
		t.Fatalf("unknown mutant %q", name)
	}
	m := &mutant{MemoryStorage: mcpoauth.NewMemoryStorage[int64](), name: name, states: map[int64][]string{}}
	var lastUser atomic.Int64
	storagetest.TestStorage(t, func(t *testing.T) storagetest.Fixture[int64] {
		return storagetest.Fixture[int64]{
			Storage: m,
			Reopen: func(testing.TB) mcpoauth.Storage[int64] {
				if name == "reopen-other-data" {
					return mcpoauth.NewMemoryStorage[int64]()
				}
				return m
			},
			NewUser:    func(testing.TB) int64 { return lastUser.Add(1) },
			DeleteUser: m.deleteUser,
		}
	})
}

// mutant is a MemoryStorage broken as its name says ("": not broken).
type mutant struct {
	*mcpoauth.MemoryStorage[int64]
	name string

	mu     sync.Mutex
	states map[int64][]string // the state parameters created per user, for deleteUser
}

type rec = mcpoauth.CredentialRecord[int64]

// deleteUser deletes what a users row's foreign keys would cascade to.
func (m *mutant) deleteUser(t testing.TB, id int64) {
	ctx := context.Background()
	rows, err := m.MemoryStorage.ListCredentials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := m.MemoryStorage.DeleteCredential(ctx, id, r.ServerURL); err != nil {
			t.Fatal(err)
		}
	}
	if m.name == "delete-user-keeps-states" {
		return
	}
	m.mu.Lock()
	params := m.states[id]
	delete(m.states, id)
	m.mu.Unlock()
	for _, p := range params {
		_, _ = m.MemoryStorage.TakeState(ctx, id, p)
	}
}

func (m *mutant) FindCredential(ctx context.Context, userID int64, serverURL string) (*rec, error) {
	r, err := m.MemoryStorage.FindCredential(ctx, userID, serverURL)
	if err != nil {
		if m.name == "find-plain-not-found" {
			return nil, errors.New("sql: no rows in result set")
		}
		return nil, err
	}
	switch m.name {
	case "find-millisecond-times":
		r.LastRefreshedAt = r.LastRefreshedAt.Truncate(time.Millisecond)
		r.UpdatedAt = r.UpdatedAt.Truncate(time.Millisecond)
	case "find-local-times":
		zone := time.FixedZone("X", 3600)
		r.TokenExpiresAt, r.CreatedAt = r.TokenExpiresAt.In(zone), r.CreatedAt.In(zone)
	case "find-zero-as-epoch":
		if r.ReauthRequiredAt.IsZero() {
			r.ReauthRequiredAt = time.Unix(0, 0).UTC()
		}
	case "find-drops-client-data":
		r.ClientData = ""
	}
	return r, nil
}

func (m *mutant) DeleteCredential(ctx context.Context, userID int64, serverURL string) error {
	err := m.MemoryStorage.DeleteCredential(ctx, userID, serverURL)
	if m.name == "delete-missing-is-nil" && errors.Is(err, mcpoauth.ErrNotFound) {
		return nil
	}
	return err
}

func (m *mutant) UpsertCredential(ctx context.Context, r *rec) error {
	if m.name == "upsert-resets-created" {
		_ = m.MemoryStorage.DeleteCredential(ctx, r.UserID, r.ServerURL)
	}
	return m.MemoryStorage.UpsertCredential(ctx, r)
}

func (m *mutant) ListCredentials(ctx context.Context, userID int64) ([]*rec, error) {
	rows, err := m.MemoryStorage.ListCredentials(ctx, userID)
	if m.name == "list-unordered" {
		slices.Reverse(rows)
	}
	return rows, err
}

func (m *mutant) MarkReauthRequired(ctx context.Context, userID int64, serverURL string, at time.Time) error {
	if m.name != "mark-keeps-updated" {
		return m.MemoryStorage.MarkReauthRequired(ctx, userID, serverURL, at)
	}
	r, err := m.MemoryStorage.FindCredential(ctx, userID, serverURL)
	if err != nil {
		return err
	}
	r.ReauthRequiredAt = at
	return m.MemoryStorage.UpsertCredential(ctx, r)
}

func (m *mutant) ListExpiringCredentials(ctx context.Context, before time.Time, limit int) ([]*rec, error) {
	switch m.name {
	case "expiring-ignores-limit":
		return m.MemoryStorage.ListExpiringCredentials(ctx, before, 0)
	case "expiring-unordered":
		rows, err := m.MemoryStorage.ListExpiringCredentials(ctx, before, limit)
		slices.Reverse(rows)
		return rows, err
	}
	return m.MemoryStorage.ListExpiringCredentials(ctx, before, limit)
}

func (m *mutant) UpdateCredentialLocked(ctx context.Context, userID int64, serverURL string, fn func(*rec) (*rec, error)) error {
	switch m.name {
	case "lock-is-a-no-op", "lock-stale-read", "lock-stores-on-error":
	default:
		return m.MemoryStorage.UpdateCredentialLocked(ctx, userID, serverURL, fn)
	}
	cur, err := m.MemoryStorage.FindCredential(ctx, userID, serverURL)
	if err != nil {
		return err
	}
	if m.name == "lock-stale-read" {
		// Locks, but hands fn the row read before the lock.
		return m.MemoryStorage.UpdateCredentialLocked(ctx, userID, serverURL, func(*rec) (*rec, error) { return fn(cur) })
	}
	next, err := fn(cur)
	if m.name == "lock-stores-on-error" {
		return m.MemoryStorage.UpdateCredentialLocked(ctx, userID, serverURL, func(*rec) (*rec, error) {
			if next != nil {
				return next, nil
			}
			return nil, err
		})
	}
	if err != nil || next == nil {
		return err
	}
	return m.MemoryStorage.UpsertCredential(ctx, next)
}

func (m *mutant) CreateState(ctx context.Context, r *mcpoauth.StateRecord[int64]) error {
	if err := m.MemoryStorage.CreateState(ctx, r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[r.UserID] = append(m.states[r.UserID], r.StateParam)
	return nil
}

func (m *mutant) TakeState(ctx context.Context, userID int64, stateParam string) (*mcpoauth.StateRecord[int64], error) {
	r, err := m.MemoryStorage.TakeState(ctx, userID, stateParam)
	if err != nil {
		return nil, err
	}
	switch m.name {
	case "take-keeps-state":
		c := *r
		_ = m.MemoryStorage.CreateState(ctx, &c)
	case "take-racy":
		// Read, then delete a moment later: others read it meanwhile.
		c := *r
		_ = m.MemoryStorage.CreateState(ctx, &c)
		time.Sleep(20 * time.Millisecond)
		_, _ = m.MemoryStorage.TakeState(ctx, userID, stateParam)
	}
	return r, nil
}

func (m *mutant) DeleteExpiredStates(ctx context.Context, now time.Time, limit int) (int64, error) {
	switch m.name {
	case "delete-states-ignores-limit":
		limit = 1 << 30
	case "delete-states-strictly-before":
		now = now.Add(-time.Microsecond)
	}
	return m.MemoryStorage.DeleteExpiredStates(ctx, now, limit)
}

func (m *mutant) AddClient(ctx context.Context, r *mcpoauth.ClientRecord) (*mcpoauth.ClientRecord, error) {
	switch m.name {
	case "add-client-overwrites":
		c := *r
		return &c, m.MemoryStorage.SaveClient(ctx, r)
	case "add-client-returns-own":
		c := *r
		_, err := m.MemoryStorage.AddClient(ctx, r)
		return &c, err
	}
	return m.MemoryStorage.AddClient(ctx, r)
}

func (m *mutant) CountRequest(ctx context.Context, userID int64, windows []mcpoauth.RateWindow, allow func([]int) bool) error {
	switch m.name {
	case "count-refused-too":
		return m.MemoryStorage.CountRequest(ctx, userID, windows, func(c []int) bool { allow(c); return true })
	case "count-not-atomic":
		var counts []int
		if err := m.MemoryStorage.CountRequest(ctx, userID, windows, func(c []int) bool { counts = c; return false }); err != nil {
			return err
		}
		if !allow(counts) {
			return nil
		}
		time.Sleep(time.Millisecond)
		return m.MemoryStorage.CountRequest(ctx, userID, windows, func([]int) bool { return true })
	case "count-reversed":
		return m.MemoryStorage.CountRequest(ctx, userID, windows, func(c []int) bool {
			r := slices.Clone(c)
			slices.Reverse(r)
			return allow(r)
		})
	}
	return m.MemoryStorage.CountRequest(ctx, userID, windows, allow)
}

func (m *mutant) DeleteExpiredCounts(ctx context.Context, now time.Time, limit int) (int64, error) {
	if m.name == "delete-counts-ignores-limit" {
		limit = 1 << 30
	}
	return m.MemoryStorage.DeleteExpiredCounts(ctx, now, limit)
}
