package mcpoauth

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// RateLimit allows at most Max requests per user in each fixed Window
// (windows start at multiples of Window since the Unix epoch, in UTC).
type RateLimit struct {
	Name   string // stored with the counts; unique among a limiter's limits
	Max    int
	Window time.Duration
}

// DefaultRateLimits are the limits on starting and completing
// authorization flows, counted together: 5 a minute and 20 a day per user.
var DefaultRateLimits = []RateLimit{
	{Name: "flow-minute", Max: 5, Window: time.Minute},
	{Name: "flow-day", Max: 20, Window: 24 * time.Hour},
}

// DefaultCallRateLimits are the limits on the Refresh button and the tools
// page, counted together: each is a request to the authorization server
// or a new MCP session. 20 a minute and 500 a day per user.
var DefaultCallRateLimits = []RateLimit{
	{Name: "calls-minute", Max: 20, Window: time.Minute},
	{Name: "calls-day", Max: 500, Window: 24 * time.Hour},
}

// rateLimitSweepEvery is how often a limiter deletes the counts of
// windows that have ended, at most.
const rateLimitSweepEvery = 10 * time.Minute

// errOverLimit reports a refused request inside Allow.
var errOverLimit = errors.New("over the rate limit")

// RateLimiter counts requests per user in the mcp_oauth_rate_limits table,
// so that every process of the app shares the limits. It reads the time
// from its Store's clock. A RateLimiter is safe for concurrent use.
type RateLimiter[U comparable] struct {
	store     *Store[U]
	limits    []RateLimit
	lastSweep atomic.Int64 // Unix nanoseconds
}

// NewRateLimiter returns a limiter enforcing limits (DefaultRateLimits
// when none are given) in the database of store.
func NewRateLimiter[U comparable](store *Store[U], limits ...RateLimit) (*RateLimiter[U], error) {
	if store == nil || store.storage == nil {
		return nil, errors.New("mcpoauth: rate limiter needs a store with a storage")
	}
	if len(limits) == 0 {
		limits = DefaultRateLimits
	}
	seen := map[string]bool{}
	for _, l := range limits {
		if l.Name == "" || seen[l.Name] || l.Max < 1 || l.Window < time.Second {
			return nil, fmt.Errorf("mcpoauth: rate limit %q: want a unique name, Max >= 1 and Window >= 1s", l.Name)
		}
		seen[l.Name] = true
	}
	return &RateLimiter[U]{store: store, limits: limits}, nil
}

// Allow counts one request of userID against every limit, atomically. If
// that would exceed a limit, nothing is counted, allowed is false and
// retryAfter is how long until the request would be allowed again.
func (l *RateLimiter[U]) Allow(ctx context.Context, userID U) (allowed bool, retryAfter time.Duration, err error) {
	now := l.store.now().UTC()
	windows := make([]RateWindow, len(l.limits))
	for i, lim := range l.limits {
		start := now.Truncate(lim.Window)
		windows[i] = RateWindow{Bucket: lim.Name, Start: start, End: start.Add(lim.Window)}
	}
	err = l.store.storage.CountRequest(ctx, userID, windows, func(counts []int) bool {
		for i, n := range counts {
			if i < len(l.limits) && n > l.limits[i].Max {
				retryAfter = max(retryAfter, windows[i].End.Sub(now))
			}
		}
		return retryAfter == 0
	})
	if err == nil && retryAfter > 0 {
		err = errOverLimit
	}
	switch {
	case errors.Is(err, errOverLimit):
		return false, retryAfter, nil
	case err != nil:
		return false, 0, fmt.Errorf("mcpoauth: rate limit: %w", err)
	}
	return true, 0, nil
}

// sweepIfDue deletes the counts of ended windows when the last sweep of
// this limiter is rateLimitSweepEvery ago, so the table stays small
// without a job of its own.
func (l *RateLimiter[U]) sweepIfDue(ctx context.Context) error {
	now := l.store.now()
	last := l.lastSweep.Load()
	if now.Sub(time.Unix(0, last)) < rateLimitSweepEvery || !l.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	_, err := l.DeleteExpired(ctx, now, 1000)
	return err
}

// DeleteExpired deletes up to batchSize counts of windows ended by now
// and returns how many it deleted.
func (l *RateLimiter[U]) DeleteExpired(ctx context.Context, now time.Time, batchSize int) (int64, error) {
	if batchSize < 1 {
		return 0, errors.New("mcpoauth: delete expired rate limits: batch size must be positive")
	}
	n, err := l.store.storage.DeleteExpiredCounts(ctx, now.UTC(), batchSize)
	if err != nil {
		return n, fmt.Errorf("mcpoauth: delete expired rate limits: %w", err)
	}
	return n, nil
}
