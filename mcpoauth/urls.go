package mcpoauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CanonicalServerURL checks that raw is an acceptable MCP server URL and
// returns it in canonical form (RFC 8707 resource): an absolute https URL,
// or http on a loopback host; no user info, query or fragment; lower-case
// scheme and host; no default port; no trailing slash.
func CanonicalServerURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("server URL %q does not parse", redactURL(raw))
	}
	if err := checkEndpointURL(u); err != nil {
		return "", fmt.Errorf("server URL %q: %w", redactURL(raw), err)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Errorf("server URL %q: a resource URL has no query", redactURL(raw))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	u.Host = host
	if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	}
	if port != "" {
		u.Host += ":" + port
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// redactURL is raw as an error may quote it, in logs and on pages: its
// user info, query and fragment, where credentials hide in configured
// URLs (https://user:pass@host/?api_key=...), each replaced by REDACTED.
func redactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "REDACTED", ""
	}
	return u.String()
}

// checkEndpointURL accepts absolute https URLs, and http ones on a
// loopback host, without user info or fragment: the only URLs tokens,
// codes or secrets are ever sent to.
func checkEndpointURL(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("missing")
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return errors.New("not an absolute URL")
	case u.Hostname() == "":
		return errors.New("has no host name")
	case u.User != nil:
		return errors.New("has user info")
	case u.Fragment != "" || strings.Contains(u.String(), "#"):
		return errors.New("has a fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return errors.New("http is only accepted on a loopback host; use https")
	}
	return fmt.Errorf("scheme %q is neither https nor http", u.Scheme)
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameIssuer compares issuer identifiers as go-sdk does: a trailing slash
// aside, exactly.
func sameIssuer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// checkEndpoint checks a URL the app sends requests, and so secrets, to.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("does not parse")
	}
	return checkEndpointURL(u)
}

// checkIssuer checks an issuer identifier (RFC 8414 section 2): an
// endpoint URL without query.
func checkIssuer(raw string) error {
	if err := checkEndpoint(raw); err != nil {
		return err
	}
	if strings.Contains(raw, "?") {
		return errors.New("an issuer has no query")
	}
	return nil
}

// validScopeToken checks a scope against RFC 6749's scope-token grammar.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
