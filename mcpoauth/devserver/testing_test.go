package devserver

import (
	"context"
	"net/url"
	"testing"
)

func TestStartTestAndApprove(t *testing.T) {
	s := StartTest(t, Config{})
	authURL := s.URLs().Authorize + "?" + url.Values{
		"response_type": {"code"}, "client_id": {"nobody"}, "redirect_uri": {"http://127.0.0.1:1/cb"},
		"code_challenge": {"x"}, "code_challenge_method": {"S256"}, "state": {"s1"},
	}.Encode()
	if _, err := Approve(context.Background(), authURL, "bob"); err == nil {
		t.Fatal("Approve of an unknown client's request succeeded; the server should refuse it without a redirect")
	}
	if _, err := Approve(context.Background(), "http://127.0.0.1:1/\x00", ""); err == nil {
		t.Fatal("Approve of a malformed URL succeeded")
	}
}
