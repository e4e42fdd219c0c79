package devserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults make refresh_token grants misbehave as real authorization
// servers do, at random: each field is the probability (0 to 1) that a
// grant meets that fault, drawn once per grant, their sum at most 1.
// Injected refusals are counted in Stats.FaultsInjected only, not in
// TokenErrors or InvalidGrants, so that a client's own mistakes stay
// visible among them.
type Faults struct {
	Unavailable  float64 // 503 temporarily_unavailable; nothing rotated
	RateLimited  float64 // 429 slow_down with Retry-After: 1; nothing rotated
	Timeout      float64 // no answer until the client gives up (at most a minute); nothing rotated
	Slow         float64 // answered normally after SlowDelay
	EarlyRefusal float64 // invalid_grant while the family's newest access token is still valid; nothing rotated
	// LoseAnswer rotates the refresh token and then drops the connection
	// without answering: the client never learns the new token. Only
	// Config.RefreshGrace lets it recover.
	LoseAnswer float64

	SlowDelay time.Duration // default 2s
	Seed      uint64        // the random sequence; 0 picks one
}

// The kinds of fault, as Stats.FaultsInjected counts them.
const (
	FaultUnavailable  = "unavailable"
	FaultRateLimited  = "rate_limited"
	FaultTimeout      = "timeout"
	FaultSlow         = "slow"
	FaultEarlyRefusal = "early_refusal"
	FaultLoseAnswer   = "lose_answer"
)

func (f Faults) check() (Faults, error) {
	sum := 0.0
	for name, p := range map[string]float64{FaultUnavailable: f.Unavailable, FaultRateLimited: f.RateLimited, FaultTimeout: f.Timeout,
		FaultSlow: f.Slow, FaultEarlyRefusal: f.EarlyRefusal, FaultLoseAnswer: f.LoseAnswer} {
		if p < 0 || p > 1 {
			return f, fmt.Errorf("fault %s: probability %v is not between 0 and 1", name, p)
		}
		sum += p
	}
	if sum > 1 {
		return f, fmt.Errorf("fault probabilities add up to %v, more than 1", sum)
	}
	if f.SlowDelay < 0 {
		return f, fmt.Errorf("fault slow delay %v is negative", f.SlowDelay)
	}
	if f.SlowDelay == 0 {
		f.SlowDelay = 2 * time.Second
	}
	return f, nil
}

// SetFaults replaces the faults refresh grants meet from now on, e.g.
// Faults{} to stop them.
func (s *Server) SetFaults(f Faults) error {
	f, err := f.check()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

// faultDice draws the fault of each grant.
type faultDice struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

func newFaultDice(seed uint64) *faultDice {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &faultDice{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// draw returns the fault for the next grant, "" for none.
func (d *faultDice) draw(f Faults) string {
	d.mu.Lock()
	x := d.rnd.Float64()
	d.mu.Unlock()
	for _, k := range []struct {
		name string
		p    float64
	}{{FaultUnavailable, f.Unavailable}, {FaultRateLimited, f.RateLimited}, {FaultTimeout, f.Timeout},
		{FaultSlow, f.Slow}, {FaultEarlyRefusal, f.EarlyRefusal}, {FaultLoseAnswer, f.LoseAnswer}} {
		if x < k.p {
			return k.name
		}
		x -= k.p
	}
	return ""
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return ctx.Err() == nil
}

// ParseFaults reads faults written as "kind=probability,...", e.g.
// "unavailable=0.05,rate_limited=0.05,slow=0.1"; the kinds are the Fault*
// names, and slow_delay takes a duration. Empty is no faults.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return f, fmt.Errorf("fault %q: want kind=probability, e.g. unavailable=0.05", part)
		}
		if k == "slow_delay" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return f, fmt.Errorf("fault slow_delay=%q: %v", v, err)
			}
			f.SlowDelay = d
			continue
		}
		p, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return f, fmt.Errorf("fault %s=%q: not a probability between 0 and 1", k, v)
		}
		dst := map[string]*float64{FaultUnavailable: &f.Unavailable, FaultRateLimited: &f.RateLimited, FaultTimeout: &f.Timeout,
			FaultSlow: &f.Slow, FaultEarlyRefusal: &f.EarlyRefusal, FaultLoseAnswer: &f.LoseAnswer}[k]
		if dst == nil {
			return f, fmt.Errorf("unknown fault %q: use unavailable, rate_limited, timeout, slow, early_refusal, lose_answer or slow_delay", k)
		}
		*dst = p
	}
	return f.check()
}
