package mcpoauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Refresh as authorization servers do it in the field: slow, rate
// limited, losing answers. Each test injects the fault at the test
// authorization server and checks that the connection survives it.

// TestRefreshBacksOffAndHonorsRetryAfter: a 429 with Retry-After keeps
// every refresh of the credential away from the token endpoint for that
// long; failures without one back off exponentially; none marks the
// credential.
func TestRefreshBacksOffAndHonorsRetryAfter(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	f.connect(t, user, "")
	f.clock.Advance(2 * time.Hour) // expired
	f.as.RefreshStatus, f.as.RetryAfter = http.StatusTooManyRequests, "7"

	for i := range 5 {
		_, err := f.clients.Refresh(ctx, user, "")
		var ru *RefreshUnavailableError
		if !errors.As(err, &ru) {
			t.Fatalf("Refresh %d during the 429s: %v, want a *RefreshUnavailableError", i, err)
		}
		if want := 7 * time.Second; ru.RetryAfter != want {
			t.Errorf("Refresh %d: RetryAfter = %v, want the server's %v", i, ru.RetryAfter, want)
		}
	}
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Fatalf("%d requests reached the token endpoint during its Retry-After, want 1", n)
	}
	f.clock.Advance(6 * time.Second)
	f.clients.Refresh(ctx, user, "")
	if n := len(f.as.RefreshRequests()); n != 1 {
		t.Fatalf("%d requests 6s into a Retry-After of 7s, want 1", n)
	}
	f.clock.Advance(2 * time.Second)
	f.clients.Refresh(ctx, user, "")
	if n := len(f.as.RefreshRequests()); n != 2 {
		t.Fatalf("%d requests once the Retry-After passed, want 2", n)
	}

	// Without Retry-After: a backoff doubling with each failure in a
	// row (one second for the first), with jitter in its upper half,
	// and the server asked once per backoff.
	f.as.RefreshStatus = http.StatusServiceUnavailable
	f.clock.Advance(8 * time.Second)
	for i, base := range []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second} {
		// The two 429s were failures 1 and 2: these are 3, 4 and 5.
		_, err := f.clients.Refresh(ctx, user, "")
		var ru *RefreshUnavailableError
		if !errors.As(err, &ru) || ru.RetryAfter < base/2 || ru.RetryAfter > base {
			t.Fatalf("failure %d: %v; want a backoff between %v and %v", i+3, err, base/2, base)
		}
		f.clock.Advance(ru.RetryAfter)
	}
	if n := len(f.as.RefreshRequests()); n != 5 {
		t.Errorf("%d requests after three backoffs, want 5", n)
	}
	c, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
	if err != nil || c.ReauthRequired() {
		t.Fatalf("credential after the failures: %v, %v; want it kept", c, err)
	}
	f.as.RefreshStatus = 0
	if _, err := f.clients.Refresh(ctx, user, ""); err != nil {
		t.Fatalf("Refresh once the server is back: %v", err)
	}
	if _, err := f.clients.Refresh(ctx, user, ""); err != nil {
		t.Fatalf("the backoff was not forgotten after a success: %v", err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"12", 12 * time.Second},
		{"86400", maxRetryAfter}, // a bad header must not stop refreshes for a day
		{"99999999999999999999", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q: %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestRefreshTimeoutIsShorterThanTheLockHold: a token endpoint that never
// answers. Each refresh request gives up after the refresh timeout (and
// the one retry for a lost answer after another), well inside the
// lock's hold, and the lock is free when the refresh returns: no refresh
// outlives its lock, so no other worker can refresh the same token while
// one is still in flight.
func TestRefreshTimeoutIsShorterThanTheLockHold(t *testing.T) {
	for _, timeout := range []time.Duration{time.Millisecond, DefaultRefreshTimeout, time.Minute} {
		if hold := lockHold(timeout); hold <= 2*timeout {
			t.Errorf("lock hold %v for a refresh timeout of %v: want longer than the two requests under it", hold, timeout)
		}
	}
	ctx := context.Background()
	f := newFlowFixture(t)
	const timeout = 200 * time.Millisecond
	f.clients.RefreshTimeout = timeout
	user := seedUser(t, f.db)
	before := f.connect(t, user, "")
	f.clock.Advance(2 * time.Hour)
	f.as.RefreshHang = true
	defer func() { f.as.RefreshHang = false }()

	began := time.Now()
	_, err := f.clients.Refresh(ctx, user, "")
	took := time.Since(began)
	if !errors.Is(err, ErrRefreshUnavailable) {
		t.Fatalf("Refresh against a hanging token endpoint: %v, want ErrRefreshUnavailable", err)
	}
	if took < 2*timeout || took > lockHold(timeout)-time.Second {
		t.Errorf("the refresh took %v: want its two requests' %v, and well under the lock's hold of %v", took, 2*timeout, lockHold(timeout))
	}
	// The lock is free at once: another worker takes it within 100ms.
	lctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := f.store.UpdateCredentialLocked(lctx, user, f.as.MCPURL, func(*Credential[testUser]) (*Credential[testUser], error) { return nil, nil }); err != nil {
		t.Fatalf("taking the lock after the refresh returned: %v", err)
	}
	// And the server's side of both requests has ended.
	for deadline := time.Now().Add(time.Second); f.as.refreshesOpen.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d refresh requests still open at the server after the refresh returned", f.as.refreshesOpen.Load())
		}
	}
	c, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
	if err != nil || c.ReauthRequired() || c.Token != before.Token {
		t.Fatalf("credential after the timeouts: %+v, %v; want it as it was", c, err)
	}
}

// failingLocks is storage whose lock (the database behind it) fails.
type failingLocks struct {
	*MemoryStorage[testUser]
}

func (failingLocks) UpdateCredentialLocked(context.Context, testUser, string, func(*CredentialRecord[testUser]) (*CredentialRecord[testUser], error)) error {
	return errors.New("database is locked")
}

// TestLockBackendErrorNeverServesAnExpiredToken: when the database
// cannot give the refresh its lock, a token that is still valid serves,
// an expired one never does: the caller gets ErrRefreshUnavailable, "try
// later", and the credential is untouched.
func TestLockBackendErrorNeverServesAnExpiredToken(t *testing.T) {
	ctx := context.Background()
	f := newFlowFixture(t)
	user := seedUser(t, f.db)
	connected := f.connect(t, user, "")
	broken := &Clients[testUser]{Store: NewStore[testUser](failingLocks{f.db}, f.store.keys, WithClock(f.clock.Now)), Servers: f.servers}

	f.clock.Advance(time.Hour - DefaultRefreshWindow/2) // expiring, not expired
	h, err := broken.OAuthHandler(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := h.token(ctx)
	if err != nil || tok.AccessToken != connected.Token.AccessToken {
		t.Fatalf("token while still valid with the lock failing: %v, %v; want the current token", tok, err)
	}
	f.clock.Advance(DefaultRefreshWindow) // expired
	tok, err = h.token(ctx)
	if !errors.Is(err, ErrRefreshUnavailable) || tok != nil {
		t.Fatalf("token once expired with the lock failing: %v, %v; want no token and ErrRefreshUnavailable", tok, err)
	}
	if _, err := broken.Refresh(ctx, user, ""); !errors.Is(err, ErrRefreshUnavailable) || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("Refresh with the lock failing: %v, want ErrRefreshUnavailable naming the cause", err)
	}
	if n := len(f.as.RefreshRequests()); n != 0 {
		t.Errorf("%d refresh requests without the lock, want none", n)
	}
	c, err := f.store.FindCredential(ctx, user, f.as.MCPURL)
	if err != nil || c.ReauthRequired() {
		t.Fatalf("credential: %v, %v; want it kept", c, err)
	}
}

// TestLostRefreshAnswer: the server rotates the refresh token and the
// answer never arrives. Where the server keeps the previous refresh token
// valid for a grace period the refresh recovers at once; where it does
// not, the user must reconnect, and the error says why.
func TestLostRefreshAnswer(t *testing.T) {
	ctx := context.Background()
	t.Run("grace period", func(t *testing.T) {
		f := newFlowFixture(t)
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.clock.Advance(2 * time.Hour)
		f.as.LoseAnswers, f.as.RefreshGrace = 1, true
		c, err := f.clients.Refresh(ctx, user, "")
		if err != nil {
			t.Fatalf("Refresh with its first answer lost: %v, want it recovered", err)
		}
		if f.as.answersLost != 1 || f.as.graceRefreshes != 1 {
			t.Errorf("%d answers lost, %d refreshes in the grace period; want 1 and 1", f.as.answersLost, f.as.graceRefreshes)
		}
		session, err := f.clients.For(ctx, user, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		if got := whoami(t, session); got == "" {
			t.Error("no tool call with the recovered token")
		}
		if _, ok := f.as.refreshTokens[c.Token.RefreshToken]; !ok {
			t.Error("the stored refresh token is not one the server issued")
		}
	})
	t.Run("no grace period", func(t *testing.T) {
		f := newFlowFixture(t)
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.clock.Advance(2 * time.Hour)
		f.as.LoseAnswers = 1
		_, err := f.clients.Refresh(ctx, user, "")
		if !errors.Is(err, ErrReauthRequired) || !strings.Contains(err.Error(), "answer of it was lost") {
			t.Fatalf("Refresh with its answer lost and no grace: %v; want ErrReauthRequired saying an answer was lost", err)
		}
		if c, err := f.store.FindCredential(ctx, user, f.as.MCPURL); err != nil || !c.ReauthRequired() {
			t.Fatalf("credential: %v, %v; want it marked reauth-required", c, err)
		}
		if !strings.Contains(f.logs.String(), "answer of it was lost") {
			t.Errorf("the log does not say why the user must reconnect:\n%s", f.logs)
		}
	})
	t.Run("lost, then down, then refused", func(t *testing.T) {
		// The answer is lost and the retry meets a server that is down;
		// when it is back it refuses the spent token. The reason is
		// remembered across the backoff.
		f := newFlowFixture(t)
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.clock.Advance(2 * time.Hour)
		f.as.LoseAnswers, f.as.StatusAfterLoss = 1, http.StatusServiceUnavailable
		_, err := f.clients.Refresh(ctx, user, "")
		if !errors.Is(err, ErrRefreshUnavailable) {
			t.Fatalf("Refresh while down: %v, want ErrRefreshUnavailable", err)
		}
		f.as.RefreshStatus = 0
		f.clock.Advance(maxRetryAfter)
		_, err = f.clients.Refresh(ctx, user, "")
		if !errors.Is(err, ErrReauthRequired) || !strings.Contains(err.Error(), "answer of it was lost") {
			t.Fatalf("Refresh once back: %v; want ErrReauthRequired saying an answer was lost", err)
		}
	})
}

// TestRefreshResourceIsTheGrantedOne: the resource a refresh sends is
// byte for byte the one the authorization request sent, however the
// server's URL was written in the configuration. The test server refuses
// any other with invalid_target, as RFC 8707 servers may.
func TestRefreshResourceIsTheGrantedOne(t *testing.T) {
	ctx := context.Background()
	for _, variant := range []func(string) string{
		func(u string) string { return u },
		func(u string) string { return "HTTP" + strings.TrimPrefix(u, "http") },
	} {
		f := newFlowFixture(t)
		written := variant(f.as.MCPURL)
		reg, err := NewRegistry(Server{Key: "default", URL: written})
		if err != nil {
			t.Logf("%q is not accepted as a server URL (%v): nothing to refresh", written, err)
			continue
		}
		f.servers, f.flow.Servers, f.clients.Servers = reg, reg, reg
		user := seedUser(t, f.db)
		f.connect(t, user, "")
		f.clock.Advance(2 * time.Hour)
		if _, err := f.clients.Refresh(ctx, user, ""); err != nil {
			t.Fatalf("server written %q: Refresh: %v", written, err)
		}
		reqs := f.as.RefreshRequests()
		if len(reqs) != 1 || len(reqs[0]["resource"]) != 1 || reqs[0].Get("resource") != f.as.MCPURL {
			t.Fatalf("server written %q: refresh requests %v, want one with resource %q exactly", written, reqs, f.as.MCPURL)
		}
	}
}
