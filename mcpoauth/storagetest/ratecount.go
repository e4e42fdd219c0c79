package storagetest

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

// countRequest calls CountRequest with an allow that answers allow, and
// returns the counts allow was given.
func countRequest[U comparable](t testing.TB, e *env[U], s mcpoauth.RateCounter[U], user U, allow bool, windows ...mcpoauth.RateWindow) []int {
	t.Helper()
	var got []int
	calls := 0
	err := s.CountRequest(e.ctx, user, windows, func(counts []int) bool {
		calls++
		got = slices.Clone(counts)
		return allow
	})
	if err != nil {
		t.Fatalf("CountRequest (allow answering %v): %v", allow, err)
	}
	if calls == 0 {
		t.Fatal("CountRequest did not call allow")
	}
	if len(got) != len(windows) {
		t.Fatalf("CountRequest gave allow %d counts for %d windows", len(got), len(windows))
	}
	return got
}

// peek returns the counts a request would have, without counting it.
func peek[U comparable](t testing.TB, e *env[U], s mcpoauth.RateCounter[U], user U, windows ...mcpoauth.RateWindow) []int {
	t.Helper()
	return countRequest(t, e, s, user, false, windows...)
}

func window(bucket string, start time.Time, length time.Duration) mcpoauth.RateWindow {
	return mcpoauth.RateWindow{Bucket: bucket, Start: start, End: start.Add(length)}
}

func checkCounts(t testing.TB, what string, got []int, want ...int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: allow got counts %v, want %v", what, got, want)
	}
}

// testCountRequestPerUserAndWindow counts per user, bucket and window.
func testCountRequestPerUserAndWindow[U comparable](t *testing.T, e *env[U]) {
	s := e.storage
	user, other := e.user(), e.user()
	now := e.clock.Now()
	minute := window("minute", now.Truncate(time.Minute), time.Minute)
	hour := window("hour", now.Truncate(time.Hour), time.Hour)

	for i := 1; i <= 3; i++ {
		checkCounts(t, "a request in one window", countRequest(t, e, s, user, true, minute), i)
	}
	checkCounts(t, "a request in two windows", countRequest(t, e, s, user, true, minute, hour), 4, 1)
	checkCounts(t, "the windows in the other order", countRequest(t, e, s, user, true, hour, minute), 2, 5)
	checkCounts(t, "another user's request", countRequest(t, e, s, other, true, minute, hour), 1, 1)
	checkCounts(t, "a request in the next window of the bucket",
		countRequest(t, e, s, user, true, window("minute", minute.End, time.Minute)), 1)
	checkCounts(t, "a request in a window of another bucket with the same start",
		countRequest(t, e, s, user, true, window("minute-2", minute.Start, time.Minute)), 1)
	checkCounts(t, "a request through a second handle", countRequest(t, e, e.reopen(), user, true, minute, hour), 6, 3)
	checkCounts(t, "the other user's windows after all that", peek(t, e, s, other, minute, hour), 2, 2)
}

// testCountRequestRefusedCountsNothing checks that a refused request is
// not counted in any of its windows.
func testCountRequestRefusedCountsNothing[U comparable](t *testing.T, e *env[U]) {
	s := e.storage
	user := e.user()
	now := e.clock.Now()
	minute := window("minute", now.Truncate(time.Minute), time.Minute)
	day := window("day", now.Truncate(24*time.Hour), 24*time.Hour)

	checkCounts(t, "the first request", countRequest(t, e, s, user, true, minute, day), 1, 1)
	for range 3 {
		checkCounts(t, "a refused request", peek(t, e, s, user, minute, day), 2, 2)
	}
	checkCounts(t, "the next allowed request", countRequest(t, e, s, user, true, minute, day), 2, 2)
	// A request refused for one window is counted in neither.
	err := s.CountRequest(e.ctx, user, []mcpoauth.RateWindow{minute, day}, func(counts []int) bool {
		return len(counts) == 2 && counts[0] <= 2 // the minute is full
	})
	if err != nil {
		t.Fatalf("CountRequest refused: %v", err)
	}
	checkCounts(t, "after a request refused for its first window", peek(t, e, s, user, minute, day), 3, 3)
	checkCounts(t, "a refused request in a new window", peek(t, e, s, user, window("minute", minute.End, time.Minute)), 1)
	checkCounts(t, "that new window afterwards", peek(t, e, s, user, window("minute", minute.End, time.Minute)), 1)
}

// rateLimiterTime is the time of the RateLimiter subtests: 09:00:30 UTC
// on a day no other subtest uses.
var rateLimiterTime = time.Date(2080, 6, 1, 9, 0, 30, 0, time.UTC)

func newRateLimiter[U comparable](t testing.TB, store *mcpoauth.Store[U], limits ...mcpoauth.RateLimit) *mcpoauth.RateLimiter[U] {
	t.Helper()
	l, err := mcpoauth.NewRateLimiter(store, limits...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testRateLimiterPerUserAndWindow limits through a RateLimiter.
func testRateLimiterPerUserAndWindow[U comparable](t *testing.T, e *env[U]) {
	e.clock.Set(rateLimiterTime)
	burst := mcpoauth.RateLimit{Name: "burst", Max: 2, Window: time.Minute}
	l := newRateLimiter(t, e.store, burst)
	user, other := e.user(), e.user()
	allow := func(u U) (bool, time.Duration) {
		t.Helper()
		ok, retry, err := l.Allow(e.ctx, u)
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		return ok, retry
	}
	for range 2 {
		if ok, _ := allow(user); !ok {
			t.Fatal("refused within the limit")
		}
	}
	for range 3 {
		if ok, retry := allow(user); ok || retry != 30*time.Second {
			t.Fatalf("over the limit: allowed %v, retry after %v; want refused, 30s", ok, retry)
		}
	}
	if ok, _ := allow(other); !ok {
		t.Error("another user was refused")
	}
	// The refused requests were not counted.
	checkCounts(t, "the user's window after 2 allowed and 3 refused requests",
		peek(t, e, e.storage, user, window("burst", rateLimiterTime.Truncate(time.Minute), time.Minute)), 3)
	e.clock.Advance(30 * time.Second)
	if ok, _ := allow(user); !ok {
		t.Error("refused in a new window")
	}
}

// testRateLimiterEveryLimitApplies counts each request against every
// limit.
func testRateLimiterEveryLimitApplies[U comparable](t *testing.T, e *env[U]) {
	e.clock.Set(rateLimiterTime)
	l := newRateLimiter(t, e.store, mcpoauth.DefaultRateLimits...)
	user := e.user()
	for i := range 5 {
		if ok, _, err := l.Allow(e.ctx, user); err != nil || !ok {
			t.Fatalf("request %d: allowed %v, %v", i+1, ok, err)
		}
	}
	ok, retry, err := l.Allow(e.ctx, user)
	if err != nil || ok || retry != 30*time.Second {
		t.Fatalf("sixth request in a minute: allowed %v, retry after %v, %v; want refused, 30s", ok, retry, err)
	}
	// Three more minutes of 5 make the day's 20; the refused request was
	// not counted against the day.
	for m := range 3 {
		e.clock.Advance(time.Minute)
		for i := range 5 {
			if ok, _, err := l.Allow(e.ctx, user); err != nil || !ok {
				t.Fatalf("minute %d, request %d: allowed %v, %v", m+2, i+1, ok, err)
			}
		}
	}
	e.clock.Advance(time.Minute)
	ok, retry, err = l.Allow(e.ctx, user)
	dayEnd := rateLimiterTime.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if want := dayEnd.Sub(e.clock.Now()); err != nil || ok || retry != want {
		t.Errorf("the 21st request of the day: allowed %v, retry after %v, %v; want refused, %v", ok, retry, err, want)
	}
	now := e.clock.Now()
	checkCounts(t, "the minute's and the day's windows",
		peek(t, e, e.storage, user, window("flow-minute", now.Truncate(time.Minute), time.Minute), window("flow-day", dayEnd.Add(-24*time.Hour), 24*time.Hour)),
		1, 21)
}

// testConcurrentRateLimitIsAtomic races requests from two processes, each
// with its own Store and RateLimiter, against two limits.
func testConcurrentRateLimitIsAtomic[U comparable](t *testing.T, e *env[U]) {
	e.clock.Set(rateLimiterTime)
	limits := []mcpoauth.RateLimit{
		{Name: "burst", Max: 5, Window: time.Hour},
		{Name: "minute", Max: 1000, Window: time.Minute},
	}
	user := e.user()
	limiters := []*mcpoauth.RateLimiter[U]{
		newRateLimiter(t, e.newStore(e.storage), limits...),
		newRateLimiter(t, e.newStore(e.reopen()), limits...),
	}
	n := len(limiters) * refreshWorkers
	var allowed atomic.Int32
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		l := limiters[i%len(limiters)]
		wg.Go(func() {
			<-start
			ok, _, err := l.Allow(e.ctx, user)
			if err != nil {
				errs[i] = err
				return
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	firstErrors(t, "concurrent Allow", errs)
	if got := allowed.Load(); got != int32(limits[0].Max) {
		t.Errorf("%d of %d concurrent requests allowed, want exactly %d", got, n, limits[0].Max)
	}
	checkCounts(t, "both windows after the race (the refused requests must count in neither)",
		peek(t, e, e.storage, user,
			window("burst", rateLimiterTime.Truncate(time.Hour), time.Hour),
			window("minute", rateLimiterTime.Truncate(time.Minute), time.Minute)),
		limits[0].Max+1, limits[0].Max+1)
}

// testDeleteExpiredCounts deletes the counts of ended windows, in batches.
// The windows end around a random minute of 2000-2010, so that other
// subtests' windows have not ended by then.
func testDeleteExpiredCounts[U comparable](t *testing.T, e *env[U]) {
	s := e.storage
	user, other := e.user(), e.user()
	now := farPast()

	var ended []mcpoauth.RateWindow
	for i := range 5 {
		// The first ends at now exactly.
		ended = append(ended, window("ended", now.Add(-time.Duration(i+1)*time.Minute), time.Minute))
	}
	live := []mcpoauth.RateWindow{
		{Bucket: "live", Start: now.Add(-time.Minute), End: now.Add(time.Microsecond)},
		window("live", now, time.Hour),
		window("live", farFuture(), time.Minute),
	}
	for i, w := range ended {
		u := user
		if i%2 == 1 {
			u = other
		}
		countRequest(t, e, s, u, true, w)
	}
	for _, w := range live {
		countRequest(t, e, s, user, true, w)
		countRequest(t, e, s, user, true, w)
	}

	n, err := s.DeleteExpiredCounts(e.ctx, now, 2)
	if err != nil {
		t.Fatalf("DeleteExpiredCounts: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpiredCounts with limit 2 deleted %d counts, want 2 (at least 5 windows have ended)", n)
	}
	total := n
	for range 1000 {
		n, err := s.DeleteExpiredCounts(e.ctx, now, 2)
		if err != nil {
			t.Fatalf("DeleteExpiredCounts: %v", err)
		}
		if n > 2 {
			t.Fatalf("DeleteExpiredCounts with limit 2 deleted %d counts", n)
		}
		total += n
		if n < 2 {
			break
		}
	}
	if total < int64(len(ended)) {
		t.Errorf("DeleteExpiredCounts deleted %d counts in all, want at least the %d of ended windows", total, len(ended))
	}
	for i, w := range ended {
		u := user
		if i%2 == 1 {
			u = other
		}
		checkCounts(t, "a window ended at "+w.End.Format(time.RFC3339Nano)+" after deleting those ended at or before "+now.Format(time.RFC3339Nano),
			peek(t, e, s, u, w), 1)
	}
	for _, w := range live {
		checkCounts(t, "a window ending at "+w.End.Format(time.RFC3339Nano)+" after deleting those ended at or before "+now.Format(time.RFC3339Nano),
			peek(t, e, s, user, w), 3)
	}

	// Through a RateLimiter.
	l := newRateLimiter(t, e.store)
	countRequest(t, e, s, user, true, window("ended", now.Add(-time.Hour), time.Minute))
	if n, err := l.DeleteExpired(e.ctx, now, 100); err != nil || n < 1 {
		t.Errorf("RateLimiter.DeleteExpired = %d, %v; want at least 1", n, err)
	}
	checkCounts(t, "a window RateLimiter.DeleteExpired deleted", peek(t, e, s, user, window("ended", now.Add(-time.Hour), time.Minute)), 1)
	if _, err := l.DeleteExpired(e.ctx, now, 0); err == nil {
		t.Error("RateLimiter.DeleteExpired with a batch size of 0: no error")
	}
}
