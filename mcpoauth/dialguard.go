package mcpoauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// AllowPrivateHostsEnv names hosts and networks, comma-separated
// (mcp.internal, 10.2.0.0/16), that the app may reach although they are
// on loopback, private or link-local addresses: an authorization server
// inside the company network. Configured MCP servers need no entry.
const AllowPrivateHostsEnv = "MCP_OAUTH_ALLOW_PRIVATE_HOSTS"

// dialGuard keeps the app's requests off internal addresses. Discovery
// follows URLs that MCP and authorization servers hand out (the
// challenge's resource_metadata, authorization_servers, the endpoints),
// so a malicious server could otherwise make the app call 169.254.169.254
// or an admin port on localhost (RFC 9728 section 7.7, RFC 8414 section
// 6). It checks the addresses a host name resolves to, at dial time, and
// dials the address it checked, so DNS rebinding cannot slip past it.
type dialGuard struct {
	hosts    map[string]bool // allowed whatever they resolve to: the configured servers' hosts and the allow list's names
	nets     []netip.Prefix  // allowed networks of the allow list
	loopback bool            // a configured server is on loopback: local development, loopback is fine
	dialer   *net.Dialer
	resolver *net.Resolver
}

// newDialGuard returns the guard for the servers of r and the allow list
// allow (AllowPrivateHostsEnv's syntax).
func newDialGuard(r *Registry, allow string) (*dialGuard, error) {
	g := &dialGuard{
		hosts:    map[string]bool{},
		dialer:   &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		resolver: net.DefaultResolver,
	}
	for _, s := range r.All() {
		u, err := url.Parse(s.URL)
		if err != nil {
			return nil, err
		}
		host := strings.ToLower(u.Hostname())
		g.hosts[host] = true
		if isLoopbackHost(host) {
			g.loopback = true
		}
	}
	for _, item := range strings.Split(allow, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		switch {
		case item == "":
		case strings.Contains(item, "/"):
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("mcpoauth: %s: %q is not a network (use 10.2.0.0/16)", AllowPrivateHostsEnv, item)
			}
			g.nets = append(g.nets, p.Masked())
		default:
			g.hosts[item] = true
		}
	}
	return g, nil
}

// errInternalAddress is a dial refused by the guard.
var errInternalAddress = errors.New("refusing to connect to an internal address")

// forbidden says why ip may not be dialled, or "".
func (g *dialGuard) forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, p := range g.nets {
		if p.Contains(ip) {
			return ""
		}
	}
	switch {
	case ip.IsLoopback():
		if g.loopback {
			return ""
		}
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case cgnat.Contains(ip):
		return "shared (carrier-grade NAT)"
	}
	return ""
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// DialContext dials addr unless its host resolves to an internal address
// the guard does not allow, then dials the checked address itself.
func (g *dialGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if g.hosts[host] {
		return g.dialer.DialContext(ctx, network, addr)
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range addrs {
		if why := g.forbidden(ip); why != "" {
			errs = append(errs, fmt.Errorf("mcpoauth: %w %s (%s) for %s: only configured MCP servers and %s may be reached there",
				errInternalAddress, ip, why, host, AllowPrivateHostsEnv))
			continue
		}
		conn, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("mcpoauth: %s has no address", host)
	}
	return nil, errors.Join(errs...)
}

// guardedHTTPClient is defaultHTTPClient dialling through g, refusing
// redirects to another host.
func guardedHTTPClient(g *dialGuard) *http.Client {
	c := defaultHTTPClient()
	if t, ok := c.Transport.(*http.Transport); ok {
		t.DialContext = g.DialContext
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("mcpoauth: stopped after 10 redirects")
		}
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) || req.URL.Scheme != via[0].URL.Scheme {
			return fmt.Errorf("mcpoauth: refusing a redirect from %s to another host, %s", via[0].URL.Host, req.URL.Host)
		}
		return nil
	}
	return c
}

// httpClient is the HTTP client of the Clients and Flows over r that set
// none: one per registry, so that they share its connections, guarded
// for r's servers and AllowPrivateHostsEnv.
func (r *Registry) httpClient() (*http.Client, error) {
	r.clientOnce.Do(func() {
		g, err := newDialGuard(r, os.Getenv(AllowPrivateHostsEnv))
		if err != nil {
			r.clientErr = err
			return
		}
		r.client = guardedHTTPClient(g)
	})
	return r.client, r.clientErr
}
