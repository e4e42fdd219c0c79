package e2e

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseHammer(t *testing.T) {
	out := "2026/06/01 some log line\nhammer: {\"errors\":{\"boom\":2},\"failed\":2,\"ok\":40,\"seconds\":1.5}\n"
	r, err := ParseHammer(out)
	if err != nil || r.OK != 40 || r.Failed != 2 || r.Errors["boom"] != 2 || r.Seconds != 1.5 {
		t.Errorf("ParseHammer = %+v, %v", r, err)
	}
	if _, err := ParseHammer("hammer: some calls failed\n"); err == nil {
		t.Error("no report: want an error")
	}
	if _, err := ParseHammer("hammer: {not json\n"); err == nil {
		t.Error("a broken report: want an error")
	}
}

func TestParseEnqueued(t *testing.T) {
	ids, err := ParseEnqueued("enqueued: [3,4,5]\n")
	if err != nil || !slices.Equal(ids, []int64{3, 4, 5}) {
		t.Errorf("ParseEnqueued = %v, %v", ids, err)
	}
	if _, err := ParseEnqueued("nothing\n"); err == nil {
		t.Error("no enqueued line: want an error")
	}
}

// TestCallback delivers a callback meant for one instance of an app to
// another: the path and query go to the browser's app, signed in.
func TestCallback(t *testing.T) {
	var got *http.Request
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(http.StatusOK)
	}))
	defer app.Close()
	b, err := NewBrowser(app.URL, "/mcp_connections", "7")
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Callback("http://127.0.0.1:1/mcp_connections/callback?code=c%2F1&state=s")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != http.StatusOK || got == nil || got.URL.Path != "/mcp_connections/callback" ||
		got.URL.Query().Get("code") != "c/1" || got.URL.Query().Get("state") != "s" || got.Header.Get("X-User-ID") != "7" {
		t.Errorf("callback arrived as %v (user %q), page %d", got.URL, got.Header.Get("X-User-ID"), p.Status)
	}
	if _, err := b.Callback("http://[::1"); err == nil {
		t.Error("a malformed location: want an error")
	}
}

func TestProcessWait(t *testing.T) {
	ok, err := Start("true", t.TempDir(), "sh", nil, "-c", "echo done")
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Wait(10 * time.Second); err != nil || !strings.Contains(ok.Output(), "done") {
		t.Errorf("Wait = %v, output %q", err, ok.Output())
	}

	failing, err := Start("exit 3", t.TempDir(), "sh", nil, "-c", "echo oops; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if err := failing.Wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("Wait on exit 3 = %v, want the status and the output", err)
	}

	slow, err := Start("sleep", t.TempDir(), "sleep", nil, "30")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Kill()
	if err := slow.Wait(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Wait on a running process = %v, want still running", err)
	}
	select {
	case <-slow.Done():
		t.Error("Wait ended the process")
	default:
	}
}
