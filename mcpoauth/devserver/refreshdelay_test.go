package devserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// waitStats polls the counters until ok holds, failing the test after 5 s.
func waitStats(t *testing.T, s *Server, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s: %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRefreshDelay holds refresh_token grants: the gauge shows one in
// flight, and a client that goes away during the delay rotates nothing,
// so the refresh token it presented is still the one to use.
func TestRefreshDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	s := start(t, Config{AutoApprove: true, RefreshDelay: delay})
	c := publicClient(t, s)
	a := mustToken(t, s, c, nil)

	// A client that gives up in the middle of the delay.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "client_id": {c.id}, "resource": {s.URLs().MCP}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URLs().Token, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitStats(t, s, "a refresh in flight", func(st Stats) bool { return st.RefreshesInFlight == 1 })
	s.ResetStats() // keeps the gauge
	if st := s.Stats(); st.RefreshesInFlight != 1 || st.RefreshRequests != 0 {
		t.Errorf("after a reset: %d in flight (want 1), %d requests (want 0)", st.RefreshesInFlight, st.RefreshRequests)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled refresh: %v, want context.Canceled", err)
	}
	waitStats(t, s, "the refresh abandoned", func(st Stats) bool { return st.RefreshesAbandoned == 1 && st.RefreshesInFlight == 0 })

	// Nothing was rotated: the same refresh token still works, once,
	// answered after the delay.
	began := time.Now()
	r := refresh(t, s, c, a.RefreshToken)
	if r.status != http.StatusOK || r.RefreshToken == "" || r.RefreshToken == a.RefreshToken {
		t.Fatalf("refresh after the abandoned one: %d %s %s", r.status, r.Error, r.Description)
	}
	if took := time.Since(began); took < delay {
		t.Errorf("refresh answered in %v, before the %v delay", took, delay)
	}
	if got := mcpStatus(t, s, r.AccessToken); got != http.StatusOK {
		t.Errorf("the refreshed access token: MCP %d", got)
	}
	st := s.Stats()
	if st.Refreshes != 1 || st.RefreshRequests != 1 || st.RefreshesInFlight != 0 || st.ReuseDetections != 0 ||
		st.InvalidGrants != 0 || st.Families[0].Revoked {
		t.Errorf("after the refresh: %d refreshes (want 1), %d requests (want 1), %d in flight, %d reuse, %d invalid_grant, family %+v",
			st.Refreshes, st.RefreshRequests, st.RefreshesInFlight, st.ReuseDetections, st.InvalidGrants, st.Families[0])
	}

	// The delay changes nothing else: the spent token is a replay.
	wantError(t, refresh(t, s, c, a.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if st := s.Stats(); st.ReuseDetections != 1 || !st.Families[0].Revoked || st.RefreshRequests != 2 {
		t.Errorf("replay after a delayed refresh: %d reuse, family %+v, %d requests", st.ReuseDetections, st.Families[0], st.RefreshRequests)
	}

	// Code exchanges are not delayed.
	began = time.Now()
	mustToken(t, s, c, nil)
	if took := time.Since(began); took >= delay {
		t.Errorf("a code exchange took %v: only refreshes are delayed", took)
	}
}

func TestSleepTool(t *testing.T) {
	s := start(t, Config{AutoApprove: true})
	a := mustToken(t, s, publicClient(t, s), nil)
	cs := connect(t, s.URLs().MCP, &bearer{token: a.AccessToken})
	began := time.Now()
	if got, err := callText(t, cs, "sleep", map[string]any{"ms": 120}); err != nil || got != "slept 120ms" {
		t.Errorf("sleep = %q, %v", got, err)
	}
	if took := time.Since(began); took < 120*time.Millisecond {
		t.Errorf("sleep 120ms answered in %v", took)
	}
	for _, ms := range []int{-1, 10001} {
		if _, err := callText(t, cs, "sleep", map[string]any{"ms": ms}); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("sleep %d: %v, want out of range", ms, err)
		}
	}
	if st := s.Stats(); st.ToolCallsByTool["sleep"] != 3 {
		t.Errorf("sleep calls counted: %d, want 3", st.ToolCallsByTool["sleep"])
	}
}
