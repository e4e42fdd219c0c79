package devserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tryRefresh sends a refresh_token grant with a client timeout and
// reports the transport error instead of failing the test.
func tryRefresh(s *Server, c testClient, rt string, timeout time.Duration) (int, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.id}, "resource": {s.URLs().MCP}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URLs().Token, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// TestFaultsBeforeRotation: the faults that answer before rotating leave
// the presented refresh token valid, and count as faults, not as token
// errors.
func TestFaultsBeforeRotation(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		faults Faults
		status int
	}{
		{FaultUnavailable, Faults{Unavailable: 1}, http.StatusServiceUnavailable},
		{FaultRateLimited, Faults{RateLimited: 1}, http.StatusTooManyRequests},
		{FaultTimeout, Faults{Timeout: 1}, 0}, // the client gives up
		{FaultEarlyRefusal, Faults{EarlyRefusal: 1}, http.StatusBadRequest},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := start(t, Config{AutoApprove: true, Faults: tc.faults})
			c := publicClient(t, s)
			a := mustToken(t, s, c, nil)
			status, h, err := tryRefresh(s, c, a.RefreshToken, 300*time.Millisecond)
			if status != tc.status || (tc.status == 0) != (err != nil) {
				t.Fatalf("refresh under %s: %d, %v; want %d", tc.kind, status, err, tc.status)
			}
			if tc.kind == FaultRateLimited && h.Get("Retry-After") != "1" {
				t.Errorf("429 without Retry-After: 1: %q", h.Get("Retry-After"))
			}
			st := waitStats(t, s, "the fault counted", func(st Stats) bool { return st.FaultsInjected[tc.kind] == 1 && st.RefreshesInFlight == 0 })
			if st.InvalidGrants != 0 || len(st.TokenErrors) != 0 || st.Refreshes != 0 {
				t.Errorf("an injected fault counted as %d invalid_grant, token errors %v, %d refreshes; want none", st.InvalidGrants, st.TokenErrors, st.Refreshes)
			}
		})
	}

	// Early refusals stop once the access token has expired.
	s := start(t, Config{AutoApprove: true, Faults: Faults{EarlyRefusal: 1}})
	c := publicClient(t, s)
	a := mustToken(t, s, c, nil)
	wantError(t, refresh(t, s, c, a.RefreshToken), http.StatusBadRequest, "invalid_grant")
	s.Expire("", false)
	r := refresh(t, s, c, a.RefreshToken)
	if r.status != http.StatusOK {
		t.Fatalf("refresh once the access token expired: %d %s", r.status, r.Error)
	}
	// And SetFaults turns them off.
	if err := s.SetFaults(Faults{Unavailable: 1}); err != nil {
		t.Fatal(err)
	}
	wantError(t, refresh(t, s, c, r.RefreshToken), http.StatusServiceUnavailable, "temporarily_unavailable")
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := refresh(t, s, c, r.RefreshToken); r.status != http.StatusOK {
		t.Fatalf("refresh with the faults off: %d %s", r.status, r.Error)
	}
}

// TestLostAnswerAndGrace: a grant rotates and its answer is dropped.
// With a grace period the spent token is honoured once more, and spends
// what the lost rotation issued; a second replay, or any without grace,
// is reuse.
func TestLostAnswerAndGrace(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Minute} {
		s := start(t, Config{AutoApprove: true, RefreshGrace: grace, Faults: Faults{LoseAnswer: 1}})
		c := publicClient(t, s)
		a := mustToken(t, s, c, nil)
		if _, _, err := tryRefresh(s, c, a.RefreshToken, 5*time.Second); err == nil {
			t.Fatalf("grace %v: the lost answer arrived", grace)
		}
		st := s.Stats()
		if st.FaultsInjected[FaultLoseAnswer] != 1 || st.Refreshes != 1 {
			t.Fatalf("grace %v: faults %v, %d refreshes; want one lost rotation", grace, st.FaultsInjected, st.Refreshes)
		}
		// Replays are not faulted (the token is spent: reuse or grace).
		r := refresh(t, s, c, a.RefreshToken)
		if grace == 0 {
			wantError(t, r, http.StatusBadRequest, "invalid_grant")
			if st := s.Stats(); st.ReuseDetections != 1 || !st.Families[0].Revoked {
				t.Errorf("replay without grace: %d reuse, family %+v; want reuse detected", st.ReuseDetections, st.Families[0])
			}
			continue
		}
		if r.status != http.StatusOK || r.RefreshToken == "" {
			t.Fatalf("replay within the grace period: %d %s %s", r.status, r.Error, r.Description)
		}
		if got := mcpStatus(t, s, r.AccessToken); got != http.StatusOK {
			t.Errorf("the access token of the grace refresh: MCP %d", got)
		}
		if st := s.Stats(); st.GraceRefreshes != 1 || st.ReuseDetections != 0 {
			t.Errorf("after the grace refresh: %d grace refreshes, %d reuse; want 1 and 0", st.GraceRefreshes, st.ReuseDetections)
		}
		wantError(t, refresh(t, s, c, a.RefreshToken), http.StatusBadRequest, "invalid_grant")
		if st := s.Stats(); st.ReuseDetections != 1 {
			t.Errorf("a second replay: %d reuse detections, want 1", st.ReuseDetections)
		}
	}
}

func TestFaultsConfig(t *testing.T) {
	for _, f := range []Faults{{Unavailable: -0.1}, {Slow: 1.5}, {Unavailable: 0.6, Timeout: 0.6}, {SlowDelay: -time.Second}} {
		if _, err := New(Config{Faults: f}); err == nil {
			t.Errorf("New with faults %+v: no error", f)
		}
	}
	d := newFaultDice(7)
	counts := map[string]int{}
	for range 10000 {
		counts[d.draw(Faults{Unavailable: 0.2, Slow: 0.1})]++
	}
	if counts[FaultUnavailable] < 1800 || counts[FaultUnavailable] > 2200 || counts[FaultSlow] < 850 || counts[FaultSlow] > 1150 || counts[""] < 6700 {
		t.Errorf("10,000 draws of 20%% unavailable, 10%% slow: %v", counts)
	}
}

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("unavailable=0.05, rate_limited=0.1,slow=0.2,slow_delay=300ms,lose_answer=0.01")
	if err != nil || f.Unavailable != 0.05 || f.RateLimited != 0.1 || f.Slow != 0.2 || f.SlowDelay != 300*time.Millisecond || f.LoseAnswer != 0.01 {
		t.Fatalf("ParseFaults: %+v, %v", f, err)
	}
	for _, bad := range []string{"unavailable", "flaky=0.1", "slow=x", "slow=2", "slow_delay=soon", "unavailable=0.7,timeout=0.7"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q): no error", bad)
		}
	}
}
