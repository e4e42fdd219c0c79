package storagetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

type stateRecord[U comparable] = mcpoauth.StateRecord[U]

func createState[U comparable](t testing.TB, e *env[U], s mcpoauth.Storage[U], r *stateRecord[U]) {
	t.Helper()
	if err := s.CreateState(e.ctx, r); err != nil {
		t.Fatalf("CreateState: %v", err)
	}
	if r.ID == 0 {
		t.Fatal("CreateState did not set the ID")
	}
}

func takeState[U comparable](t testing.TB, e *env[U], s mcpoauth.Storage[U], user U, param string) *stateRecord[U] {
	t.Helper()
	r, err := s.TakeState(e.ctx, user, param)
	if err != nil {
		t.Fatalf("TakeState: %v", err)
	}
	if r == nil {
		t.Fatal("TakeState returned a nil record and no error")
	}
	return r
}

// testStateIsSingleUse creates and takes a state, once.
func testStateIsSingleUse[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, server := e.user(), e.server("flow")

	r := e.stateRecord(user, server, e.clock.Now().Add(10*time.Minute+3*time.Microsecond))
	want := *r
	createState(t, e, s, r)
	want.ID = r.ID
	checkState(t, "TakeState", takeState(t, e, e.reopen(), user, r.StateParam), &want)
	_, err := s.TakeState(ctx, user, r.StateParam)
	wantNotFound(t, "TakeState twice", err)

	// TakeState gives an expired state back all the same.
	old := e.stateRecord(user, server, e.clock.Now().Add(-time.Hour))
	want = *old
	createState(t, e, s, old)
	want.ID = old.ID
	checkState(t, "TakeState of an expired state", takeState(t, e, s, user, old.StateParam), &want)
	_, err = s.TakeState(ctx, user, "state-never-created-"+randomHex(8))
	wantNotFound(t, "TakeState of a state never created", err)

	// Through a Store.
	st := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier"), Issuer: e.issuer("as"),
		RedirectURI: "https://app.example.com/mcp_connections/callback", RequestedScope: "mcp:read"}
	if err := store.CreateState(ctx, st); err != nil {
		t.Fatalf("Store.CreateState: %v", err)
	}
	if st.ID == 0 || len(st.StateParam) < 32 || !st.ExpiresAt.Equal(e.clock.Now().Add(mcpoauth.DefaultStateTTL)) {
		t.Errorf("Store.CreateState left ID %d, StateParam of %d chars, ExpiresAt %v", st.ID, len(st.StateParam), st.ExpiresAt)
	}
	got, err := store.ConsumeState(ctx, user, st.StateParam)
	if err != nil {
		t.Fatalf("Store.ConsumeState: %v", err)
	}
	if got.ID != st.ID || got.UserID != user || got.Verifier != st.Verifier || got.ServerURL != server || got.Issuer != st.Issuer ||
		got.RedirectURI != st.RedirectURI || got.RequestedScope != st.RequestedScope {
		t.Errorf("Store.ConsumeState = %v, want %v", got, st)
	}
	checkTime(t, "ExpiresAt", got.ExpiresAt, st.ExpiresAt)
	checkTime(t, "CreatedAt", got.CreatedAt, e.clock.Now())
	if _, err := store.ConsumeState(ctx, user, st.StateParam); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("second Store.ConsumeState: err = %v, want ErrNotFound", err)
	}
}

// testStateOfAnotherUserIsNotFound checks that a state is its user's.
func testStateOfAnotherUserIsNotFound[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, attacker := e.user(), e.user()
	server := e.server("flow")

	r := e.stateRecord(user, server, e.clock.Now().Add(time.Hour))
	want := *r
	createState(t, e, s, r)
	want.ID = r.ID
	_, err := s.TakeState(ctx, attacker, r.StateParam)
	wantNotFound(t, "TakeState of another user's state", err)
	checkState(t, "the owner's TakeState after another user's attempt", takeState(t, e, s, user, r.StateParam), &want)

	st := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier")}
	if err := store.CreateState(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ConsumeState(ctx, attacker, st.StateParam); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("another user's Store.ConsumeState: err = %v, want ErrNotFound", err)
	}
	if got, err := store.ConsumeState(ctx, user, st.StateParam); err != nil || got.Verifier != st.Verifier {
		t.Errorf("the owner's Store.ConsumeState after another user's attempt = %v, %v; want the state", got, err)
	}
	if _, err := store.ConsumeState(ctx, user, ""); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("Store.ConsumeState of an empty state parameter: err = %v, want ErrNotFound", err)
	}
}

// testExpiredStateIsDeleted consumes a state that timed out.
func testExpiredStateIsDeleted[U comparable](t *testing.T, e *env[U]) {
	ctx, store := e.ctx, e.store
	user := e.user()
	st := &mcpoauth.State[U]{UserID: user, ServerURL: e.server("flow"), Verifier: secret("verifier")}
	if err := store.CreateState(ctx, st); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(mcpoauth.DefaultStateTTL)
	if _, err := store.ConsumeState(ctx, user, st.StateParam); !errors.Is(err, mcpoauth.ErrStateExpired) {
		t.Errorf("Store.ConsumeState of an expired flow: err = %v, want ErrStateExpired", err)
	}
	_, err := e.storage.TakeState(ctx, user, st.StateParam)
	wantNotFound(t, "TakeState of the expired state after Store.ConsumeState (it must be deleted)", err)
}

// testSeveralPendingFlowsPerServer keeps several flows of one user and
// server apart.
func testSeveralPendingFlowsPerServer[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, server := e.user(), e.server("tabs")

	first := e.stateRecord(user, server, e.clock.Now().Add(time.Hour))
	second := e.stateRecord(user, server, e.clock.Now().Add(2*time.Hour))
	wants := map[*stateRecord[U]]stateRecord[U]{}
	for _, r := range []*stateRecord[U]{first, second} {
		w := *r
		createState(t, e, s, r)
		w.ID = r.ID
		wants[r] = w
	}
	if first.ID == second.ID {
		t.Errorf("two states got the same ID %d", first.ID)
	}
	// The second tab finishing first must not break the first tab.
	for _, r := range []*stateRecord[U]{second, first} {
		w := wants[r]
		checkState(t, "TakeState of one of two pending flows", takeState(t, e, s, user, r.StateParam), &w)
	}

	a := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier-one")}
	b := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier-two")}
	for _, st := range []*mcpoauth.State[U]{a, b} {
		if err := store.CreateState(ctx, st); err != nil {
			t.Fatalf("Store.CreateState: %v", err)
		}
	}
	if a.StateParam == b.StateParam {
		t.Fatal("two flows got the same state parameter")
	}
	for _, st := range []*mcpoauth.State[U]{b, a} {
		got, err := store.ConsumeState(ctx, user, st.StateParam)
		if err != nil || got.Verifier != st.Verifier {
			t.Errorf("Store.ConsumeState of one of two pending flows = %v, %v; want its own verifier", got, err)
		}
	}
}

// testConcurrentTakeStateSucceedsOnce races callers for one state, from
// two handles.
func testConcurrentTakeStateSucceedsOnce[U comparable](t *testing.T, e *env[U]) {
	ctx := e.ctx
	user, server := e.user(), e.server("race")
	storages := []mcpoauth.Storage[U]{e.storage, e.reopen()}
	const callers = 8

	r := e.stateRecord(user, server, e.clock.Now().Add(time.Hour))
	want := *r
	createState(t, e, e.storage, r)
	want.ID = r.ID
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, callers)
	won := make([]*stateRecord[U], callers)
	start := make(chan struct{})
	for i := range callers {
		s := storages[i%len(storages)]
		wg.Go(func() {
			<-start
			got, err := s.TakeState(ctx, user, r.StateParam)
			switch {
			case err == nil:
				wins.Add(1)
				won[i] = got
			case !errors.Is(err, mcpoauth.ErrNotFound):
				errs[i] = err
			}
		})
	}
	close(start)
	wg.Wait()
	firstErrors(t, "concurrent TakeState (want nil or ErrNotFound)", errs)
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of %d concurrent TakeState calls got the state, want exactly 1", n, callers)
	}
	for _, got := range won {
		if got != nil {
			checkState(t, "the state the winner took", got, &want)
		}
	}

	// The same through two Stores.
	st := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier")}
	if err := e.store.CreateState(ctx, st); err != nil {
		t.Fatal(err)
	}
	stores := []*mcpoauth.Store[U]{e.newStore(storages[0]), e.newStore(storages[1])}
	wins.Store(0)
	clear(errs)
	start = make(chan struct{})
	for i := range callers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			got, err := s.ConsumeState(ctx, user, st.StateParam)
			switch {
			case err == nil && got.Verifier == st.Verifier:
				wins.Add(1)
			case err == nil:
				errs[i] = errors.New("Store.ConsumeState returned the wrong verifier")
			case !errors.Is(err, mcpoauth.ErrNotFound):
				errs[i] = err
			}
		})
	}
	close(start)
	wg.Wait()
	firstErrors(t, "concurrent Store.ConsumeState (want nil or ErrNotFound)", errs)
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of %d concurrent Store.ConsumeState calls got the state, want exactly 1", n, callers)
	}
}

// testDeleteExpiredStates deletes the expired states, in batches. The
// states are dated around a random minute of 2000-2010, so that other
// subtests' states are not expired by then.
func testDeleteExpiredStates[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, other := e.user(), e.user()
	server := e.server("cleanup")
	now := farPast()

	var expired []*stateRecord[U]
	for i := range 5 {
		u := user
		if i%2 == 1 {
			u = other
		}
		r := e.stateRecord(u, server, now.Add(-time.Duration(i)*time.Minute)) // the first expires at now exactly
		createState(t, e, s, r)
		expired = append(expired, r)
	}
	live := map[*stateRecord[U]]stateRecord[U]{}
	for _, exp := range []time.Time{now.Add(time.Microsecond), now.Add(time.Hour), farFuture()} {
		r := e.stateRecord(user, server, exp)
		w := *r
		createState(t, e, s, r)
		w.ID = r.ID
		live[r] = w
	}

	n, err := s.DeleteExpiredStates(ctx, now, 2)
	if err != nil {
		t.Fatalf("DeleteExpiredStates: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpiredStates with limit 2 deleted %d rows, want 2 (at least 5 have expired)", n)
	}
	total := n
	for range 1000 {
		n, err := s.DeleteExpiredStates(ctx, now, 2)
		if err != nil {
			t.Fatalf("DeleteExpiredStates: %v", err)
		}
		if n > 2 {
			t.Fatalf("DeleteExpiredStates with limit 2 deleted %d rows", n)
		}
		total += n
		if n < 2 {
			break
		}
	}
	if total < int64(len(expired)) {
		t.Errorf("DeleteExpiredStates deleted %d rows in all, want at least the %d expired ones", total, len(expired))
	}
	for _, r := range expired {
		_, err := s.TakeState(ctx, r.UserID, r.StateParam)
		wantNotFound(t, "TakeState of a state expired at "+r.ExpiresAt.Format(time.RFC3339Nano)+" after deleting those expired at or before "+now.Format(time.RFC3339Nano), err)
	}
	for r, w := range live {
		got, err := s.TakeState(ctx, r.UserID, r.StateParam)
		if err != nil {
			t.Errorf("TakeState of a state expiring at %s, after deleting those expired at or before %s: %v",
				r.ExpiresAt.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), err)
			continue
		}
		checkState(t, "a live state after DeleteExpiredStates", got, &w)
	}

	// Through a Store, in batches until done.
	var gone []*mcpoauth.State[U]
	for i := range 3 {
		st := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier"), ExpiresAt: now.Add(-time.Duration(i+1) * time.Minute)}
		if err := store.CreateState(ctx, st); err != nil {
			t.Fatal(err)
		}
		gone = append(gone, st)
	}
	kept := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier"), ExpiresAt: farFuture()}
	if err := store.CreateState(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if n, err := store.DeleteExpiredStates(ctx, now, 2); err != nil || n < int64(len(gone)) {
		t.Errorf("Store.DeleteExpiredStates = %d, %v; want at least %d", n, err, len(gone))
	}
	for _, st := range gone {
		if _, err := store.ConsumeState(ctx, user, st.StateParam); !errors.Is(err, mcpoauth.ErrNotFound) {
			t.Errorf("Store.ConsumeState of a state Store.DeleteExpiredStates should have deleted: err = %v, want ErrNotFound", err)
		}
	}
	if got, err := store.ConsumeState(ctx, user, kept.StateParam); err != nil || got.Verifier != kept.Verifier {
		t.Errorf("Store.ConsumeState of a live state after Store.DeleteExpiredStates = %v, %v; want it", got, err)
	}
}
