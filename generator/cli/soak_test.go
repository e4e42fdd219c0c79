package cli_test

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/generator"
	"github.com/mcpgen/mcpgen/generator/e2e"
	"github.com/mcpgen/mcpgen/mcpoauth/devserver"
)

// The soak (make soak, not in make test): MCPGEN_SOAK_CYCLES expiry
// cycles of one-second access tokens for one credential, against the dev
// server with refresh-token rotation and reuse detection, while it
// injects the faults real authorization servers have and a worker
// process is SIGKILLed every hundred cycles. Every database runs at once.

const (
	soakProcs      = 4
	soakGoroutines = 16
	soakTTL        = time.Second
)

// soakKillEvery is how many cycles pass between SIGKILLs.
var soakKillEvery = 100

// soakFaults are the dev server's faults during the soak: a grant in
// five meets one. The grace period is what lets a worker killed between
// the server's rotation and its own commit, or an answer lost on the
// way, leave the next worker a refresh token that still works.
var soakFaults = devserver.Faults{
	Unavailable: 0.04, RateLimited: 0.04, Timeout: 0.01, Slow: 0.05, EarlyRefusal: 0.05, LoseAnswer: 0.01,
	SlowDelay: 300 * time.Millisecond, Seed: 20261204,
}

// soakResult is one database's figures.
type soakResult struct {
	dialect                                 generator.Dialect
	cycles, refreshes, requests, kills      int
	calls, transient, grace                 int
	faults                                  map[string]int
	spuriousReconnects, invalidGrant, reuse int
	lostTokens                              int
	took                                    time.Duration
}

func (r soakResult) String() string {
	kinds := slices.Sorted(maps.Keys(r.faults))
	var fs []string
	for _, k := range kinds {
		fs = append(fs, fmt.Sprintf("%s %d", k, r.faults[k]))
	}
	return fmt.Sprintf("%s: %d cycles in %v, %d refreshes (%d requests), faults injected [%s], %d grace refreshes, %d workers SIGKILLed; "+
		"%d calls ok, %d transient failures; %d spurious reconnect-required, %d invalid_grant, %d reuse detections, %d lost tokens",
		r.dialect, r.cycles, r.took.Round(time.Second), r.refreshes, r.requests, strings.Join(fs, ", "), r.grace, r.kills,
		r.calls, r.transient, r.spuriousReconnects, r.invalidGrant, r.reuse, r.lostTokens)
}

func TestSoak(t *testing.T) {
	cycles, _ := strconv.Atoi(os.Getenv("MCPGEN_SOAK_CYCLES"))
	if cycles <= 0 {
		t.Skip("MCPGEN_SOAK_CYCLES is unset: the soak runs with make soak")
	}
	if k, _ := strconv.Atoi(os.Getenv("MCPGEN_SOAK_KILL_EVERY")); k > 0 {
		soakKillEvery = k
	}
	var mu sync.Mutex
	var results []soakResult
	t.Cleanup(func() {
		for _, r := range results {
			t.Log(r)
		}
	})
	for _, d := range e2eDialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			r := soak(t, d, cycles)
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}
}

func soak(t *testing.T, d generator.Dialect, cycles int) soakResult {
	base := newScaffold(t, e2eCases[0], d)
	r := newRig(t, base, d, devserver.Config{AccessTokenTTL: soakTTL, RefreshGrace: 30 * time.Second, Faults: soakFaults})
	// A fault's timeout costs two requests of this (the retry of a lost
	// answer) before the workers may try again.
	env := r.s.Env(r.ds.URLs().MCP, "MCP_OAUTH_REFRESH_TIMEOUT=2s")
	res := soakResult{dialect: d}
	began := time.Now()

	var live []*e2e.Process
	var reports []e2e.HammerReport
	n := 0
	spawn := func() *e2e.Process {
		n++
		return start(t, fmt.Sprintf("%s soak worker %d", d, n), r.s.Dir, r.s.Worker, env,
			hammer(soakGoroutines, "-duration", "24h", "-pause", "250ms")...)
	}
	for range soakProcs {
		live = append(live, spawn())
	}
	deadline := began.Add(time.Duration(cycles) * 3 * soakTTL)
	nextKill, nextCheck := soakKillEvery, time.Now()
	for {
		st := r.ds.Stats()
		res.cycles = family(t, st).Refreshes
		if res.cycles >= cycles {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d cycles by %v (%d refresh requests, faults %v)", res.cycles, cycles, deadline.Sub(began), st.RefreshRequests, st.FaultsInjected)
		}
		if st.ReuseDetections != 0 || st.InvalidGrants != 0 || st.FamiliesRevoked != 0 {
			t.Fatalf("after %d cycles: %d reuse detections, %d invalid_grant, %d families revoked (token errors %v)",
				res.cycles, st.ReuseDetections, st.InvalidGrants, st.FamiliesRevoked, st.TokenErrors)
		}
		if res.cycles >= nextKill {
			victim := res.kills % soakProcs
			live[victim].Kill()
			live[victim] = spawn()
			res.kills++
			nextKill += soakKillEvery
		}
		if time.Now().After(nextCheck) {
			if conn := r.alice.connection(); !conn.Connected || conn.ReauthRequired {
				t.Fatalf("after %d cycles the credential asks the user to reconnect: %+v", res.cycles, conn)
			}
			nextCheck = time.Now().Add(2 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.took = time.Since(began)
	for _, p := range live {
		p.Stop() // SIGTERM: the hammer prints its report
		rep, err := e2e.ParseHammer(p.Output())
		if err != nil {
			t.Error(err)
			continue
		}
		reports = append(reports, rep)
	}

	st := r.ds.Stats()
	res.refreshes, res.requests, res.grace = st.Refreshes, st.RefreshRequests, st.GraceRefreshes
	res.faults = st.FaultsInjected
	res.invalidGrant, res.reuse = st.InvalidGrants, st.ReuseDetections
	for _, rep := range reports {
		res.calls += rep.OK
		res.transient += rep.Failed - rep.Reauth
		res.spuriousReconnects += rep.Reauth
	}
	if conn := r.alice.connection(); !conn.Connected || conn.ReauthRequired {
		res.spuriousReconnects++
	}
	// A lost token is a family the app can no longer refresh: revoked, or
	// replaced by a second authorization.
	for _, f := range st.Families {
		if f.User == scaleUser && f.Revoked {
			res.lostTokens++
		}
	}
	if fams := len(st.Families); fams != 1 {
		res.lostTokens += fams - 1
	}
	if res.spuriousReconnects != 0 || res.invalidGrant != 0 || res.reuse != 0 || res.lostTokens != 0 {
		t.Errorf("want 0 spurious reconnects, invalid_grant, reuse detections and lost tokens: %v (errors of the survivors: %v)", res, soakErrors(reports))
	}
	if res.calls == 0 {
		t.Error("no call succeeded")
	}
	// And the stored refresh token is the newest of its family, checked
	// with the faults off.
	if err := r.ds.SetFaults(devserver.Faults{}); err != nil {
		t.Fatal(err)
	}
	r.checkNewest(t)
	return res
}

// soakErrors merges the error counts of the workers' reports.
func soakErrors(reps []e2e.HammerReport) map[string]int {
	out := map[string]int{}
	for _, r := range reps {
		for k, v := range r.Errors {
			out[k] += v
		}
	}
	return out
}
