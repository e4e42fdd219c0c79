package mcpoauth

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStorage is a Storage in this process's memory: for tests, and for
// a single-process app that can lose its connections on restart. Its lock
// is a mutex, so it shares nothing across processes. Its zero value is not
// ready; use NewMemoryStorage.
type MemoryStorage[U comparable] struct {
	mu     sync.Mutex
	nextID int64
	creds  map[credKey[U]]*CredentialRecord[U]
	states map[string]*StateRecord[U]
	client map[string]*ClientRecord
	counts map[countKey[U]]*count
	locks  *keyedLocks
}

type credKey[U comparable] struct {
	user   U
	server string
}

type countKey[U comparable] struct {
	user   U
	bucket string
	start  time.Time
}

type count struct {
	n   int
	end time.Time
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage[U comparable]() *MemoryStorage[U] {
	return &MemoryStorage[U]{
		creds:  map[credKey[U]]*CredentialRecord[U]{},
		states: map[string]*StateRecord[U]{},
		client: map[string]*ClientRecord{},
		counts: map[countKey[U]]*count{},
		locks:  newKeyedLocks(),
	}
}

var _ Storage[int64] = (*MemoryStorage[int64])(nil)

func clone[T any](p *T) *T {
	c := *p
	return &c
}

func notFound(what string) error { return fmt.Errorf("%s: %w", what, ErrNotFound) }

// FindCredential implements CredentialStorage.
func (m *MemoryStorage[U]) FindCredential(_ context.Context, userID U, serverURL string) (*CredentialRecord[U], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.creds[credKey[U]{userID, serverURL}]
	if !ok {
		return nil, notFound("credential")
	}
	return clone(r), nil
}

// ListCredentials implements CredentialStorage.
func (m *MemoryStorage[U]) ListCredentials(_ context.Context, userID U) ([]*CredentialRecord[U], error) {
	return m.credentials(func(r *CredentialRecord[U]) bool { return r.UserID == userID },
		func(a, b *CredentialRecord[U]) int { return cmp.Compare(a.ServerURL, b.ServerURL) }, 0), nil
}

// ListExpiringCredentials implements CredentialStorage.
func (m *MemoryStorage[U]) ListExpiringCredentials(_ context.Context, before time.Time, limit int) ([]*CredentialRecord[U], error) {
	return m.credentials(func(r *CredentialRecord[U]) bool {
		return r.ReauthRequiredAt.IsZero() && !r.TokenExpiresAt.IsZero() && !r.TokenExpiresAt.After(before)
	}, func(a, b *CredentialRecord[U]) int {
		return cmp.Or(a.TokenExpiresAt.Compare(b.TokenExpiresAt), cmp.Compare(a.ID, b.ID))
	}, limit), nil
}

func (m *MemoryStorage[U]) credentials(keep func(*CredentialRecord[U]) bool, order func(a, b *CredentialRecord[U]) int, limit int) []*CredentialRecord[U] {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*CredentialRecord[U]
	for _, r := range m.creds {
		if keep(r) {
			out = append(out, clone(r))
		}
	}
	slices.SortFunc(out, order)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// UpsertCredential implements CredentialStorage.
func (m *MemoryStorage[U]) UpsertCredential(_ context.Context, r *CredentialRecord[U]) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := credKey[U]{r.UserID, r.ServerURL}
	if old, ok := m.creds[k]; ok {
		r.ID, r.CreatedAt = old.ID, old.CreatedAt
	} else {
		m.nextID++
		r.ID = m.nextID
	}
	m.creds[k] = clone(r)
	return nil
}

// DeleteCredential implements CredentialStorage.
func (m *MemoryStorage[U]) DeleteCredential(_ context.Context, userID U, serverURL string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := credKey[U]{userID, serverURL}
	if _, ok := m.creds[k]; !ok {
		return notFound("credential")
	}
	delete(m.creds, k)
	return nil
}

// MarkReauthRequired implements CredentialStorage.
func (m *MemoryStorage[U]) MarkReauthRequired(_ context.Context, userID U, serverURL string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.creds[credKey[U]{userID, serverURL}]
	if !ok {
		return notFound("credential")
	}
	if r.ReauthRequiredAt.IsZero() {
		r.ReauthRequiredAt = at
	}
	r.UpdatedAt = at
	return nil
}

// UpdateCredentialLocked implements CredentialStorage with a lock per
// credential held in this process.
func (m *MemoryStorage[U]) UpdateCredentialLocked(ctx context.Context, userID U, serverURL string,
	fn func(cur *CredentialRecord[U]) (*CredentialRecord[U], error)) error {
	unlock, err := m.locks.lock(ctx, userKey(userID)+"\x00"+serverURL)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := m.FindCredential(ctx, userID, serverURL)
	if err != nil {
		return err
	}
	next, err := fn(cur)
	if err != nil || next == nil {
		return err
	}
	if next.UserID != userID || next.ServerURL != serverURL {
		return fmt.Errorf("update credential: fn returned another user's or server's row")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := credKey[U]{userID, serverURL}
	old, ok := m.creds[k]
	if !ok {
		return notFound("credential")
	}
	next.ID, next.CreatedAt = old.ID, old.CreatedAt
	m.creds[k] = clone(next)
	return nil
}

// CreateState implements StateStorage.
func (m *MemoryStorage[U]) CreateState(_ context.Context, r *StateRecord[U]) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[r.StateParam]; ok {
		return fmt.Errorf("create state: state parameter already in use")
	}
	m.nextID++
	r.ID = m.nextID
	m.states[r.StateParam] = clone(r)
	return nil
}

// TakeState implements StateStorage.
func (m *MemoryStorage[U]) TakeState(_ context.Context, userID U, stateParam string) (*StateRecord[U], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.states[stateParam]
	if !ok || r.UserID != userID {
		return nil, notFound("state")
	}
	delete(m.states, stateParam)
	return r, nil
}

// DeleteExpiredStates implements StateStorage.
func (m *MemoryStorage[U]) DeleteExpiredStates(_ context.Context, now time.Time, limit int) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for k, r := range m.states {
		if n == int64(limit) {
			break
		}
		if !r.ExpiresAt.After(now) {
			delete(m.states, k)
			n++
		}
	}
	return n, nil
}

// FindClient implements ClientStorage.
func (m *MemoryStorage[U]) FindClient(_ context.Context, issuer string) (*ClientRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.client[issuer]
	if !ok {
		return nil, notFound("client")
	}
	return clone(r), nil
}

// SaveClient implements ClientStorage.
func (m *MemoryStorage[U]) SaveClient(_ context.Context, r *ClientRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.client[r.Issuer]; ok {
		r.CreatedAt = old.CreatedAt
	}
	m.client[r.Issuer] = clone(r)
	return nil
}

// AddClient implements ClientStorage.
func (m *MemoryStorage[U]) AddClient(_ context.Context, r *ClientRecord) (*ClientRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.client[r.Issuer]; ok {
		return clone(old), nil
	}
	m.client[r.Issuer] = clone(r)
	return clone(r), nil
}

// CountRequest implements RateCounter.
func (m *MemoryStorage[U]) CountRequest(_ context.Context, userID U, windows []RateWindow, allow func(counts []int) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := make([]int, len(windows))
	for i, w := range windows {
		if c, ok := m.counts[countKey[U]{userID, w.Bucket, w.Start}]; ok {
			counts[i] = c.n
		}
		counts[i]++
	}
	if !allow(counts) {
		return nil
	}
	for i, w := range windows {
		m.counts[countKey[U]{userID, w.Bucket, w.Start}] = &count{n: counts[i], end: w.End}
	}
	return nil
}

// DeleteExpiredCounts implements RateCounter.
func (m *MemoryStorage[U]) DeleteExpiredCounts(_ context.Context, now time.Time, limit int) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for k, c := range m.counts {
		if n == int64(limit) {
			break
		}
		if !c.end.After(now) {
			delete(m.counts, k)
			n++
		}
	}
	return n, nil
}
