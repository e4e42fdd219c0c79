package mcpoauth

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrRefreshUnavailable matches every *RefreshUnavailableError with
// errors.Is: the token could not be refreshed just now, and the
// connection is kept. Try again later.
var ErrRefreshUnavailable = errors.New("the token cannot be refreshed just now")

// RefreshUnavailableError is a refresh that failed for a reason that
// passes: the authorization server answered 5xx or 429, timed out or
// dropped the connection, its metadata could not be fetched, or the
// credential's lock could not be taken. The credential is neither marked
// nor deleted. After a failure at the authorization server the runtime
// does not ask it again, in this process, for RetryAfter: its Retry-After
// when it sent one, else a backoff that doubles with each failure in a
// row, from one second to five minutes. A background job can snooze for
// RetryAfter; a page can say "try again in a minute".
type RefreshUnavailableError struct {
	ServerKey  string
	RetryAfter time.Duration // 0: try again whenever
	Err        error         // the failure, or the last one when backing off
}

// Error implements error.
func (e *RefreshUnavailableError) Error() string {
	s := "the token for " + strconv.Quote(e.ServerKey) + " cannot be refreshed just now"
	if e.RetryAfter > 0 {
		s += " (next attempt in " + e.RetryAfter.Round(time.Second).String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the failure.
func (e *RefreshUnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRefreshUnavailable) true.
func (e *RefreshUnavailableError) Is(target error) bool { return target == ErrRefreshUnavailable }

// DefaultRefreshTimeout bounds each refresh request to the token
// endpoint when Clients.RefreshTimeout or Flow.RefreshTimeout is zero.
const DefaultRefreshTimeout = 10 * time.Second

// lockHold is the longest a refresh holds its credential's lock with
// timeout per request: a request, the one retry of a request whose
// answer was lost, and the database's own reads and writes. It is longer
// than the refreshes it covers, so no refresh outlives its lock; the
// database must not end an open transaction sooner (PostgreSQL's
// idle_in_transaction_session_timeout, MySQL's wait_timeout).
func lockHold(timeout time.Duration) time.Duration { return 2*timeout + 5*time.Second }

// Bounds of the backoff after failed refreshes.
const (
	minRefreshBackoff = time.Second
	maxRefreshBackoff = 5 * time.Minute
	// maxRetryAfter caps a server's Retry-After: a bad header must not
	// stop refreshes for a day.
	maxRetryAfter = 15 * time.Minute
)

// refreshShared is what the refreshes of one Clients or Flow share: the
// in-process coalescing of concurrent refreshes, and the backoff.
type refreshShared struct {
	flights singleflight.Group
	backoff refreshBackoff
}

// refreshBackoff remembers, per credential, the failed refreshes in a row
// and when the authorization server may be asked again.
type refreshBackoff struct {
	mu sync.Mutex
	m  map[string]*backoffEntry
}

type backoffEntry struct {
	failures int
	until    time.Time
	last     error
	// lost is set when an answer was lost: the server may have rotated
	// the refresh token without the app learning the new one.
	lost bool
}

// wait returns how long the credential with key must wait before its
// next refresh, and the failure that made it wait.
func (b *refreshBackoff) wait(key string, now time.Time) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[key]
	if e == nil || !now.Before(e.until) {
		return 0, nil
	}
	return e.until.Sub(now), e.last
}

// fail records a failed refresh and returns how long to wait: retryAfter
// when the server sent one, else an exponential backoff with jitter.
func (b *refreshBackoff) fail(key string, now time.Time, retryAfter time.Duration, lost bool, err error) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*backoffEntry{}
	}
	e := b.m[key]
	if e == nil {
		e = &backoffEntry{}
		b.m[key] = e
	}
	e.failures++
	e.last = err
	e.lost = e.lost || lost
	d := retryAfter
	if d <= 0 {
		d = minRefreshBackoff << min(e.failures-1, 20)
		d = min(d, maxRefreshBackoff)
		d = d/2 + rand.N(d/2+1) // workers that failed together do not return together
	}
	d = min(d, maxRetryAfter)
	e.until = now.Add(d)
	return d
}

// done forgets the credential's failures after a refresh that succeeded
// or ended the connection, and reports whether an answer was lost since
// the last success.
func (b *refreshBackoff) done(key string) (lost bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.m[key]; e != nil {
		lost = e.lost
		delete(b.m, key)
	}
	return lost
}

// lostSince reports whether an answer for the credential was lost since
// its last refresh that succeeded or ended the connection.
func (b *refreshBackoff) lostSince(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[key]
	return e != nil && e.lost
}

// retryAfter parses a Retry-After header (RFC 9110 section 10.2.3):
// seconds or an HTTP date; 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(min(n, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// lostAnswerError is a refresh request whose answer never arrived: the
// connection failed or timed out after the request may have reached the
// server, which may have rotated the refresh token meanwhile.
type lostAnswerError struct{ err error }

func (e *lostAnswerError) Error() string { return fmt.Sprintf("no answer: %v", e.err) }
func (e *lostAnswerError) Unwrap() error { return e.err }
