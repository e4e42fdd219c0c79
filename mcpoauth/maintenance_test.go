package mcpoauth

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// notification is one call of a recordingNotifier.
type notification struct {
	kind   string // "auth" or "reauth"
	userID testUser
	server string
}

// recordingNotifier is a Notifier that remembers its calls.
type recordingNotifier struct {
	mu    sync.Mutex
	calls []notification
	err   error // returned by every call
}

var _ Notifier[testUser] = (*recordingNotifier)(nil)

func (n *recordingNotifier) NotifyAuthRequired(_ context.Context, userID testUser, server string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, notification{"auth", userID, server})
	return n.err
}

func (n *recordingNotifier) NotifyReauthRequired(_ context.Context, userID testUser, server string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, notification{"reauth", userID, server})
	return n.err
}

// got returns the calls so far, ordered by user.
func (n *recordingNotifier) got() []notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := slices.Clone(n.calls)
	slices.SortStableFunc(out, func(a, b notification) int { return cmp.Compare(a.userID, b.userID) })
	return out
}

// saveExpiring stores a credential for a new user on serverURL whose
// token expires at expiry, with refreshToken ("" for none), and returns
// the user.
func saveExpiring(t *testing.T, f *flowFixture, serverURL, refreshToken string, expiry time.Time) testUser {
	t.Helper()
	user := seedUser(t, f.db)
	err := f.store.SaveCredential(context.Background(), &Credential[testUser]{
		UserID: user, ServerURL: serverURL, Issuer: f.as.Issuer,
		Token: Token{AccessToken: fmt.Sprintf("at-%d", user), RefreshToken: refreshToken, TokenType: "Bearer", Expiry: expiry},
	})
	if err != nil {
		t.Fatalf("save credential: %v", err)
	}
	return user
}

// connectUsers connects n new users to the default server and returns them.
func connectUsers(t *testing.T, f *flowFixture, n int) []testUser {
	t.Helper()
	users := make([]testUser, n)
	for i := range users {
		users[i] = seedUser(t, f.db)
		f.connect(t, users[i], "")
	}
	return users
}

func findCredential(t *testing.T, f *flowFixture, user testUser) *Credential[testUser] {
	t.Helper()
	c, err := f.store.FindCredential(context.Background(), user, f.as.MCPURL)
	if err != nil {
		t.Fatalf("find credential of user %d: %v", user, err)
	}
	return c
}

func TestRefreshExpiringRenewsWhatExpiresWithinTheWindow(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	notifier := &recordingNotifier{}
	expiring := connectUsers(t, f, 1)[0] // expires in an hour
	f.clock.Advance(30 * time.Minute)
	later := connectUsers(t, f, 1)[0] // expires half an hour later
	f.clock.Advance(30*time.Minute - DefaultRefreshWindow/2)
	before, beforeLater := findCredential(t, f, expiring), findCredential(t, f, later)

	report, err := f.clients.RefreshExpiring(ctx, nil, notifier)
	if err != nil {
		t.Fatalf("RefreshExpiring: %v", err)
	}
	if want := (RefreshReport{Refreshed: 1}); report != want {
		t.Errorf("report = %+v, want %+v", report, want)
	}
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
	after := findCredential(t, f, expiring)
	if after.Token.AccessToken == before.Token.AccessToken || after.Token.RefreshToken == before.Token.RefreshToken ||
		after.ExpiresSoon(f.clock.Now(), DefaultRefreshWindow) {
		t.Errorf("expiring credential after the run = %v, want a new, rotated token valid for an hour", after)
	}
	if got := findCredential(t, f, later); got.Token != beforeLater.Token {
		t.Errorf("a token outside the window was renewed: %v, was %v", got.Token, beforeLater.Token)
	}
	if got := notifier.got(); len(got) != 0 {
		t.Errorf("notified %v", got)
	}

	// Nothing is left to do: no request at all.
	report, err = f.clients.RefreshExpiring(ctx, nil, notifier)
	if err != nil || report != (RefreshReport{}) {
		t.Errorf("second RefreshExpiring = %+v, %v; want nothing done", report, err)
	}
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("second RefreshExpiring sent %d refresh requests, want none", n-1)
	}
}

func TestRefreshExpiringWindow(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := connectUsers(t, f, 1)[0]
	f.clock.Advance(time.Hour - 10*time.Minute) // expires in 10 minutes: outside DefaultRefreshWindow

	if report, err := f.clients.RefreshExpiring(ctx, nil, &recordingNotifier{}); err != nil || report != (RefreshReport{}) {
		t.Errorf("RefreshExpiring with the default window = %+v, %v; want nothing done", report, err)
	}
	f.clients.RefreshWindow = 15 * time.Minute
	if report, err := f.clients.RefreshExpiring(ctx, &RefreshOptions{Within: time.Minute}, &recordingNotifier{}); err != nil || report != (RefreshReport{}) {
		t.Errorf("RefreshExpiring within a minute = %+v, %v; want nothing done (Within overrides RefreshWindow)", report, err)
	}
	if n := len(f.as.RefreshRequests()); n != 0 {
		t.Fatalf("%d refresh requests for a token outside the window, want none", n)
	}

	before := findCredential(t, f, user)
	report, err := f.clients.RefreshExpiring(ctx, nil, &recordingNotifier{})
	if err != nil || report != (RefreshReport{Refreshed: 1}) {
		t.Errorf("RefreshExpiring with RefreshWindow 15m = %+v, %v; want one refreshed", report, err)
	}
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
	if after := findCredential(t, f, user); after.Token.AccessToken == before.Token.AccessToken {
		t.Error("the token was not renewed")
	}
}

func TestRefreshExpiringSkips(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	notifier := &recordingNotifier{}
	reauth := connectUsers(t, f, 1)[0]
	if err := f.store.MarkReauthRequired(ctx, reauth, f.as.MCPURL); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour) // the connected token has expired
	soon := f.clock.Now().Add(time.Minute)
	// Expiring, but without a refresh token: nothing to refresh with.
	saveExpiring(t, f, f.as.MCPURL, "", soon)
	// Expiring, for a server no longer configured: never contacted.
	saveExpiring(t, f, "https://gone.example.com/mcp", "rt-gone", soon)
	// Not expiring: not listed.
	saveExpiring(t, f, f.as.MCPURL, "rt-later", f.clock.Now().Add(time.Hour))

	report, err := f.clients.RefreshExpiring(ctx, nil, notifier)
	if err != nil {
		t.Fatalf("RefreshExpiring: %v", err)
	}
	if want := (RefreshReport{Skipped: 2}); report != want {
		t.Errorf("report = %+v, want %+v", report, want)
	}
	if n := len(f.as.RefreshRequests()); n != 0 {
		t.Errorf("%d refresh requests, want none", n)
	}
	if got := notifier.got(); len(got) != 0 {
		t.Errorf("notified %v", got)
	}
	if c := findCredential(t, f, reauth); !c.ReauthRequired() {
		t.Errorf("reauth-required credential = %v, want it still marked", c)
	}
}

func TestRefreshExpiringCountsRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	notifier := &recordingNotifier{}
	users := connectUsers(t, f, 2)
	f.as.RefuseRefresh = true
	f.clock.Advance(time.Hour)

	report, err := f.clients.RefreshExpiring(ctx, nil, notifier)
	if err != nil {
		t.Fatalf("RefreshExpiring: %v", err)
	}
	if want := (RefreshReport{ReauthRequired: 2}); report != want {
		t.Errorf("report = %+v, want %+v", report, want)
	}
	want := []notification{{"reauth", users[0], DefaultServerKey}, {"reauth", users[1], DefaultServerKey}}
	if got := notifier.got(); !slices.Equal(got, want) {
		t.Errorf("notifications = %v, want %v", got, want)
	}
	for _, u := range users {
		if c := findCredential(t, f, u); !c.ReauthRequired() {
			t.Errorf("refused credential = %v, want it marked reauth-required", c)
		}
	}

	// Marked, they are not listed again: no request, no notification.
	report, err = f.clients.RefreshExpiring(ctx, nil, notifier)
	if err != nil || report != (RefreshReport{}) {
		t.Errorf("second RefreshExpiring = %+v, %v; want nothing done", report, err)
	}
	if n := len(f.as.RefreshRequests()); n != 2 {
		t.Errorf("%d refresh requests in all, want 2", n)
	}
	if n := len(notifier.got()); n != 2 {
		t.Errorf("%d notifications in all, want 2", n)
	}
}

func TestRefreshExpiringNilNotifierLogs(t *testing.T) {
	f := newFlowFixture(t)
	user := connectUsers(t, f, 1)[0]
	f.as.RefuseRefresh = true
	f.clock.Advance(time.Hour)

	report, err := f.clients.RefreshExpiring(context.Background(), nil, nil)
	if err != nil || report != (RefreshReport{ReauthRequired: 1}) {
		t.Fatalf("RefreshExpiring = %+v, %v; want one reauth-required", report, err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "must reconnect the MCP server") || !strings.Contains(logs, fmt.Sprintf("user_id=%d", user)) {
		t.Errorf("the Clients' logger did not get the LogNotifier's line for user %d:\n%s", user, logs)
	}
}

func TestRefreshExpiringReportsFailures(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	good := connectUsers(t, f, 1)[0]
	f.clock.Advance(time.Hour - time.Minute)
	// A credential that records no issuer: its refresh fails, every time.
	broken := seedUser(t, f.db)
	if err := f.store.SaveCredential(ctx, &Credential[testUser]{UserID: broken, ServerURL: f.as.MCPURL,
		Token: Token{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: f.clock.Now()}}); err != nil {
		t.Fatal(err)
	}

	report, err := f.clients.RefreshExpiring(ctx, nil, &recordingNotifier{})
	if want := (RefreshReport{Refreshed: 1, Failed: 1}); report != want {
		t.Errorf("report = %+v, want %+v", report, want)
	}
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("user %d", broken)) || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("err = %v, want the failure of user %d, 1 of 2", err, broken)
	}
	if c := findCredential(t, f, good); c.ExpiresSoon(f.clock.Now(), DefaultRefreshWindow) {
		t.Errorf("the good credential was not renewed beside the broken one: %v", c)
	}

	// The next run tries the failed one again, and it alone.
	report, err = f.clients.RefreshExpiring(ctx, nil, &recordingNotifier{})
	if err == nil || report != (RefreshReport{Failed: 1}) {
		t.Errorf("second RefreshExpiring = %+v, %v; want the broken credential failing again", report, err)
	}
}

func TestRefreshExpiringPagesPastStuckCredentials(t *testing.T) {
	f := newFlowFixture(t)
	real := connectUsers(t, f, 3) // expire in an hour
	// More than a page of credentials expiring before them that stay in
	// the list: they have no refresh token.
	stuck := refreshPage + 10
	for range stuck {
		saveExpiring(t, f, f.as.MCPURL, "", f.clock.Now().Add(50*time.Minute))
	}
	f.clock.Advance(time.Hour - time.Minute)

	report, err := f.clients.RefreshExpiring(context.Background(), nil, &recordingNotifier{})
	if err != nil {
		t.Fatalf("RefreshExpiring: %v", err)
	}
	if want := (RefreshReport{Refreshed: len(real), Skipped: stuck}); report != want {
		t.Errorf("report = %+v, want %+v", report, want)
	}
	for _, u := range real {
		if c := findCredential(t, f, u); c.ExpiresSoon(f.clock.Now(), DefaultRefreshWindow) {
			t.Errorf("credential behind the first page not renewed: %v", c)
		}
	}
}

func TestRefreshExpiringMax(t *testing.T) {
	ctx := context.Background()
	t.Run("first page", func(t *testing.T) {
		f := newFlowFixture(t)
		connectUsers(t, f, 2)
		for range 10 {
			saveExpiring(t, f, f.as.MCPURL, "", f.clock.Now().Add(50*time.Minute))
		}
		f.clock.Advance(time.Hour - time.Minute)
		report, err := f.clients.RefreshExpiring(ctx, &RefreshOptions{Max: 5}, &recordingNotifier{})
		if err != nil || report != (RefreshReport{Skipped: 5}) {
			t.Errorf("RefreshExpiring with Max 5 = %+v, %v; want the 5 soonest looked at", report, err)
		}
		if n := len(f.as.RefreshRequests()); n != 0 {
			t.Errorf("%d refresh requests, want none", n)
		}
	})
	t.Run("across pages", func(t *testing.T) {
		// Renewed credentials leave the list, so the second query finds
		// more new ones than Max leaves room for.
		f := newFlowFixture(t)
		max := refreshPage + 1
		connectUsers(t, f, max+4)
		f.clock.Advance(time.Hour - time.Minute)
		report, err := f.clients.RefreshExpiring(ctx, &RefreshOptions{Max: max}, &recordingNotifier{})
		if err != nil || report != (RefreshReport{Refreshed: max}) {
			t.Errorf("RefreshExpiring with Max %d = %+v, %v; want %d refreshed", max, report, err, max)
		}
		if n := len(f.as.RefreshRequests()); n != max {
			t.Errorf("%d refresh requests, want %d", n, max)
		}
		report, err = f.clients.RefreshExpiring(ctx, nil, &recordingNotifier{})
		if err != nil || report != (RefreshReport{Refreshed: 4}) {
			t.Errorf("next RefreshExpiring = %+v, %v; want the 4 left refreshed", report, err)
		}
	})
}

func TestRefreshExpiringNeedsClients(t *testing.T) {
	store, _, _ := newTestStore(t)
	reg, err := NewRegistry(Server{Key: DefaultServerKey, URL: "https://mcp.example.com/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Clients[testUser]{
		"nil":        nil,
		"no store":   {Servers: reg},
		"no servers": {Store: store},
	} {
		if _, err := c.RefreshExpiring(context.Background(), nil, nil); err == nil {
			t.Errorf("RefreshExpiring of clients with %s: no error", name)
		}
	}
}

func TestRefreshReportJSON(t *testing.T) {
	b, err := json.Marshal(RefreshReport{Refreshed: 1, ReauthRequired: 2, Skipped: 3, Failed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"refreshed":1,"reauth_required":2,"skipped":3,"failed":4}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

// createStates stores n pending flows for userID expiring at expiresAt.
func createStates(t *testing.T, store *Store[testUser], userID testUser, n int, expiresAt time.Time) []*State[testUser] {
	t.Helper()
	var out []*State[testUser]
	for i := range n {
		st := &State[testUser]{UserID: userID, ServerURL: "https://mcp.example.com/mcp", Verifier: fmt.Sprintf("verifier-%d", i), ExpiresAt: expiresAt}
		if err := store.CreateState(context.Background(), st); err != nil {
			t.Fatalf("create state: %v", err)
		}
		out = append(out, st)
	}
	return out
}

// rateCounts returns how many rate-limit counts m holds.
func rateCounts(m *MemoryStorage[testUser]) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counts)
}

func TestCleanupExpired(t *testing.T) {
	ctx := context.Background()
	store, db, clock := newTestStore(t)
	user := seedUser(t, db)
	limiter, err := NewRateLimiter(store)
	if err != nil {
		t.Fatal(err)
	}
	// Flows and windows that end on the store's clock, not the wall
	// clock's: the first flows a minute from now, the first windows in
	// a day at most.
	expired := createStates(t, store, user, 3, clock.Now().Add(time.Minute))
	live := createStates(t, store, user, 2, clock.Now().Add(72*time.Hour))
	if ok, _, err := limiter.Allow(ctx, user); !ok || err != nil {
		t.Fatalf("Allow = %v, %v", ok, err)
	}
	clock.Advance(48 * time.Hour)
	if ok, _, err := limiter.Allow(ctx, user); !ok || err != nil {
		t.Fatalf("Allow = %v, %v", ok, err)
	}

	states, counts, err := CleanupExpired(ctx, store)
	if err != nil {
		t.Fatalf("CleanupExpired: %v", err)
	}
	if states != int64(len(expired)) || counts != int64(len(DefaultRateLimits)) {
		t.Errorf("CleanupExpired deleted %d flows and %d counts, want %d and %d (the ended ones only)",
			states, counts, len(expired), len(DefaultRateLimits))
	}
	if n := rateCounts(db); n != len(DefaultRateLimits) {
		t.Errorf("%d counts left, want the %d of the current windows", n, len(DefaultRateLimits))
	}
	if states, counts, err := CleanupExpired(ctx, store); states != 0 || counts != 0 || err != nil {
		t.Errorf("second CleanupExpired = %d, %d, %v; want nothing more deleted", states, counts, err)
	}
	for _, st := range expired {
		if _, err := store.ConsumeState(ctx, user, st.StateParam); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired flow %d: ConsumeState = %v, want ErrNotFound (deleted)", st.ID, err)
		}
	}
	for _, st := range live {
		if _, err := store.ConsumeState(ctx, user, st.StateParam); err != nil {
			t.Errorf("live flow %d: ConsumeState = %v, want it kept", st.ID, err)
		}
	}

	if _, _, err := CleanupExpired[testUser](ctx, nil); err == nil {
		t.Error("CleanupExpired without a store: no error")
	}
}

// batchRecorder is a Storage that records the limits of
// DeleteExpiredCounts calls.
type batchRecorder struct {
	Storage[testUser]
	mu     sync.Mutex
	limits []int
}

func (b *batchRecorder) DeleteExpiredCounts(ctx context.Context, now time.Time, limit int) (int64, error) {
	b.mu.Lock()
	b.limits = append(b.limits, limit)
	b.mu.Unlock()
	return b.Storage.DeleteExpiredCounts(ctx, now, limit)
}

func TestDeleteExpiredRateCountsInBatches(t *testing.T) {
	ctx := context.Background()
	db := NewMemoryStorage[testUser]()
	rec := &batchRecorder{Storage: db}
	clock := newTestClock()
	store := NewStore[testUser](rec, testKeyring(t), WithClock(clock.Now))
	limiter, err := NewRateLimiter(store)
	if err != nil {
		t.Fatal(err)
	}
	const users = 7
	for range users {
		if ok, _, err := limiter.Allow(ctx, seedUser(t, db)); !ok || err != nil {
			t.Fatalf("Allow = %v, %v", ok, err)
		}
	}
	total := users * len(DefaultRateLimits)

	if n, err := store.DeleteExpiredRateCounts(ctx, clock.Now(), 3); n != 0 || err != nil {
		t.Errorf("DeleteExpiredRateCounts before the windows end = %d, %v; want 0", n, err)
	}
	rec.limits = nil
	n, err := store.DeleteExpiredRateCounts(ctx, clock.Now().Add(48*time.Hour), 3)
	if err != nil || n != int64(total) {
		t.Errorf("DeleteExpiredRateCounts = %d, %v; want %d", n, err, total)
	}
	if want := []int{3, 3, 3, 3, 3}; !slices.Equal(rec.limits, want) {
		t.Errorf("batches of %v, want %v", rec.limits, want)
	}
	if n := rateCounts(db); n != 0 {
		t.Errorf("%d counts left, want none", n)
	}

	var nilStore *Store[testUser]
	if _, err := nilStore.DeleteExpiredRateCounts(ctx, clock.Now(), 3); err == nil {
		t.Error("DeleteExpiredRateCounts of a nil store: no error")
	}
}

func TestPermanent(t *testing.T) {
	if err := Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
	cause := &InsufficientScopeError{ServerKey: "default", Scope: "mcp:write"}
	err := Permanent(fmt.Errorf("job: %w", cause))
	if !errors.Is(err, ErrPermanent) || !errors.Is(err, ErrInsufficientScope) {
		t.Errorf("Permanent(err) = %v: want it to match ErrPermanent and the cause", err)
	}
	var ise *InsufficientScopeError
	if !errors.As(err, &ise) || ise != cause {
		t.Errorf("errors.As through Permanent found %v, want the cause", ise)
	}
	if want := "job: " + cause.Error(); err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	if again := Permanent(err); again != err {
		t.Errorf("Permanent of a permanent error = %#v, want it as is", again)
	}
	joined := errors.Join(ErrPermanent, errors.New("x"))
	if again := Permanent(joined); again != joined {
		t.Errorf("Permanent of an error matching ErrPermanent = %#v, want it as is", again)
	}
	if errors.Is(errors.New("other"), ErrPermanent) {
		t.Error("a plain error matches ErrPermanent")
	}
}

func TestNotifyJobFailure(t *testing.T) {
	ctx := context.Background()
	const user testUser = 42
	other := errors.New("connection reset")
	for _, tc := range []struct {
		name      string
		err       error
		notified  []notification
		permanent bool
	}{
		{"not authenticated", fmt.Errorf("connect: %w", ErrNotAuthenticated), []notification{{"auth", user, "srv"}}, true},
		{"reauth required", fmt.Errorf("connect: %w", ErrReauthRequired), []notification{{"reauth", user, "srv"}}, true},
		{"insufficient scope", fmt.Errorf("call: %w", &InsufficientScopeError{ServerKey: "srv"}), []notification{{"reauth", user, "srv"}}, true},
		{"unknown server", fmt.Errorf("lookup: %w", ErrUnknownServer), nil, true},
		{"other", other, nil, false},
		{"nil", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &recordingNotifier{}
			err := NotifyJobFailure[testUser](ctx, n, slog.New(slog.DiscardHandler), user, "srv", tc.err)
			if got := n.got(); !slices.Equal(got, tc.notified) {
				t.Errorf("notifications = %v, want %v", got, tc.notified)
			}
			if errors.Is(err, ErrPermanent) != tc.permanent {
				t.Errorf("err = %v: permanent %v, want %v", err, errors.Is(err, ErrPermanent), tc.permanent)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.err)
			}
			if !tc.permanent && err != tc.err {
				t.Errorf("err = %#v, want %#v unchanged", err, tc.err)
			}
		})
	}
}

func TestNotifyJobFailureNotifierFails(t *testing.T) {
	logs := &bytes.Buffer{}
	n := &recordingNotifier{err: errors.New("mailer down")}
	err := NotifyJobFailure[testUser](context.Background(), n, slog.New(slog.NewTextHandler(logs, nil)), 7, "srv", ErrNotAuthenticated)
	if !errors.Is(err, ErrPermanent) || !errors.Is(err, ErrNotAuthenticated) || !errors.Is(err, n.err) {
		t.Errorf("err = %v, want ErrPermanent and the cause joined with the notifier's error", err)
	}
	if !strings.Contains(logs.String(), "notifying the user failed") || !strings.Contains(logs.String(), "mailer down") {
		t.Errorf("the failed notification was not logged:\n%s", logs)
	}
}

func TestNotifyJobFailureNilNotifierLogs(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		line string
	}{
		"auth":   {ErrNotAuthenticated, "has not connected the MCP server"},
		"reauth": {ErrReauthRequired, "must reconnect the MCP server"},
	} {
		t.Run(name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			err := NotifyJobFailure[testUser](context.Background(), nil, slog.New(slog.NewTextHandler(logs, nil)), 7, "srv", tc.err)
			if !errors.Is(err, ErrPermanent) {
				t.Errorf("err = %v, want ErrPermanent", err)
			}
			if out := logs.String(); !strings.Contains(out, tc.line) || !strings.Contains(out, "user_id=7") || !strings.Contains(out, "server=srv") {
				t.Errorf("LogNotifier logged %q, want %q for user 7 and srv", out, tc.line)
			}
		})
	}
}

// Refresh in the field (FlowFuse #8416): a nightly cleanup deleted grants
// whose access token had expired but whose refresh token was good. The
// cleanup job deletes flows and rate-limit windows only: a credential
// whose access token expired long ago is still there, and refreshes.
func TestCleanupKeepsRefreshableCredentials(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.clock.Advance(30 * 24 * time.Hour)
	if _, _, err := CleanupExpired(ctx, f.store); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil {
		t.Fatalf("the credential after the cleanup: %v", err)
	}
	if _, err := f.clients.Refresh(ctx, user, ""); err != nil {
		t.Errorf("Refresh after the cleanup: %v", err)
	}
}
