package mcpoauth

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
)

// DefaultServerKey is the registry key of the server DEFAULT_MCP_SERVER_URL
// configures, and the one used when no key is given.
const DefaultServerKey = "default"

// ErrUnknownServer is returned for a server key or URL the registry does
// not hold. A server that is not configured is never contacted.
var ErrUnknownServer = errors.New("unknown MCP server")

// Server is one MCP server users may connect to.
type Server struct {
	Key          string   // how users and jobs pick it, e.g. "default", "github"
	URL          string   // the MCP endpoint, canonical: it is the OAuth resource (RFC 8707)
	Scopes       []string // scopes to ask for; empty: what the server advertises
	ClientID     string   // a client registered with the authorization server beforehand, optional
	ClientSecret string   // its secret, for a confidential client
}

// Registry is the set of MCP servers the app knows, by key. It is
// read-only once built, so safe for concurrent use.
//
// This file is yours to edit, to list servers in code, say; the generated
// flow and client use Lookup, ByURL, Default and resolve, so keep those.
type Registry struct {
	servers []Server // sorted by key

	clientOnce sync.Once // see httpClient
	client     *http.Client
	clientErr  error
}

// NewRegistry returns a registry of servers. Keys must be unique, made of
// lower-case letters, digits, '-' and '_'; URLs must be absolute https
// URLs without a fragment (http is accepted on a loopback host, for
// development). A URL is stored in canonical form: lower-case scheme and
// host, no default port, no trailing slash.
func NewRegistry(servers ...Server) (*Registry, error) {
	r := &Registry{}
	seenURL := map[string]string{}
	for _, s := range servers {
		if !validServerKey(s.Key) {
			return nil, fmt.Errorf("mcpoauth: server key %q: use lower-case letters, digits, '-' and '_'", s.Key)
		}
		if _, dup := r.Lookup(s.Key); dup {
			return nil, fmt.Errorf("mcpoauth: server key %q is configured twice", s.Key)
		}
		u, err := CanonicalServerURL(s.URL)
		if err != nil {
			return nil, fmt.Errorf("mcpoauth: server %q: %w", s.Key, err)
		}
		if other, dup := seenURL[u]; dup {
			return nil, fmt.Errorf("mcpoauth: servers %q and %q have the same URL %s", other, s.Key, u)
		}
		seenURL[u] = s.Key
		if s.ClientSecret != "" && s.ClientID == "" {
			return nil, fmt.Errorf("mcpoauth: server %q has a client secret but no client ID", s.Key)
		}
		for _, sc := range s.Scopes {
			if !validScopeToken(sc) {
				return nil, fmt.Errorf("mcpoauth: server %q: scope %q is not a valid OAuth scope", s.Key, sc)
			}
		}
		s.URL = u
		s.Scopes = slices.Clone(s.Scopes)
		r.servers = append(r.servers, s)
	}
	slices.SortFunc(r.servers, func(a, b Server) int { return strings.Compare(a.Key, b.Key) })
	return r, nil
}

// RegistryFromEnv builds the registry from the environment:
//
//	DEFAULT_MCP_SERVER_URL     the "default" server
//	MCP_OAUTH_SCOPES           its scopes, space-separated
//	MCP_OAUTH_CLIENT_ID        its pre-registered client, optional
//	MCP_OAUTH_CLIENT_SECRET    and that client's secret
//	MCP_SERVERS                more servers: key=url,key2=url2
//	MCP_SERVER_<KEY>_SCOPES, MCP_SERVER_<KEY>_CLIENT_ID, MCP_SERVER_<KEY>_CLIENT_SECRET
//	                           the same per extra server (KEY upper-cased, '-' as '_')
//
// An empty registry is not an error: the app runs, with nothing to connect.
func RegistryFromEnv() (*Registry, error) {
	return registryFromLookup(os.LookupEnv)
}

// registryFromLookup is RegistryFromEnv reading variables through lookup,
// so tests need not touch the process environment.
func registryFromLookup(lookup func(string) (string, bool)) (*Registry, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var servers []Server
	if u := get("DEFAULT_MCP_SERVER_URL"); u != "" {
		servers = append(servers, Server{
			Key:          DefaultServerKey,
			URL:          u,
			Scopes:       strings.Fields(get("MCP_OAUTH_SCOPES")),
			ClientID:     get("MCP_OAUTH_CLIENT_ID"),
			ClientSecret: get("MCP_OAUTH_CLIENT_SECRET"),
		})
	}
	if list := get("MCP_SERVERS"); list != "" {
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			key, u, ok := strings.Cut(item, "=")
			key, u = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(u)
			if !ok || key == "" || u == "" {
				return nil, fmt.Errorf("mcpoauth: MCP_SERVERS: %q is not key=url", redactURL(item))
			}
			prefix := "MCP_SERVER_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_")) + "_"
			servers = append(servers, Server{
				Key:          key,
				URL:          u,
				Scopes:       strings.Fields(get(prefix + "SCOPES")),
				ClientID:     get(prefix + "CLIENT_ID"),
				ClientSecret: get(prefix + "CLIENT_SECRET"),
			})
		}
	}
	return NewRegistry(servers...)
}

// Lookup returns the server with key; "" means DefaultServerKey.
func (r *Registry) Lookup(key string) (Server, bool) {
	if r == nil {
		return Server{}, false
	}
	if key == "" {
		key = DefaultServerKey
	}
	i, ok := slices.BinarySearchFunc(r.servers, key, func(s Server, k string) int { return strings.Compare(s.Key, k) })
	if !ok {
		return Server{}, false
	}
	return cloneServer(r.servers[i]), true
}

// ByURL returns the server whose URL is serverURL, compared in canonical
// form.
func (r *Registry) ByURL(serverURL string) (Server, bool) {
	if r == nil {
		return Server{}, false
	}
	u, err := CanonicalServerURL(serverURL)
	if err != nil {
		return Server{}, false
	}
	for _, s := range r.servers {
		if s.URL == u {
			return cloneServer(s), true
		}
	}
	return Server{}, false
}

// Default returns the server with key DefaultServerKey or, when the
// registry holds one server only, that one.
func (r *Registry) Default() (Server, bool) {
	if s, ok := r.Lookup(DefaultServerKey); ok {
		return s, true
	}
	if r != nil && len(r.servers) == 1 {
		return cloneServer(r.servers[0]), true
	}
	return Server{}, false
}

// All returns the servers, sorted by key.
func (r *Registry) All() []Server {
	if r == nil {
		return nil
	}
	out := make([]Server, len(r.servers))
	for i, s := range r.servers {
		out[i] = cloneServer(s)
	}
	return out
}

// resolve returns the server for key ("" picks Default), or an error
// wrapping ErrUnknownServer.
func (r *Registry) resolve(key string) (Server, error) {
	var s Server
	var ok bool
	if key == "" {
		s, ok = r.Default()
	} else {
		s, ok = r.Lookup(key)
	}
	if !ok {
		if key == "" {
			key = DefaultServerKey
		}
		return Server{}, fmt.Errorf("mcpoauth: server %q: %w", key, ErrUnknownServer)
	}
	return s, nil
}

func cloneServer(s Server) Server {
	s.Scopes = slices.Clone(s.Scopes)
	return s
}

// validServerKey reports whether key is a registry key: what a form field
// and a URL path segment can carry as it is.
func validServerKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
