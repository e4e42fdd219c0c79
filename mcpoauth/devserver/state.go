package devserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"time"
)

// The server's state lives in memory, guarded by Server.mu. Tokens, codes
// and secrets are kept only as SHA-256 digests, so that nothing readable is
// held (or could be dumped) after they are handed out.

// digest is the map key of a secret.
type digest [sha256.Size]byte

func digestOf(secret string) digest { return sha256.Sum256([]byte(secret)) }

// newSecret returns prefix followed by at least 128 random bits. The
// prefixes tell a reader (or a secret scanner) what a string is.
func newSecret(prefix string) string { return prefix + rand.Text() }

func equalSecret(a, b string) bool {
	da, db := digestOf(a), digestOf(b)
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// secretMatches reports whether secret is the client's secret.
func (c *client) secretMatches(secret string) bool {
	d := digestOf(secret)
	return c.secret != digest{} && subtle.ConstantTimeCompare(d[:], c.secret[:]) == 1
}

// Registration kinds of a client.
const (
	kindDCR           = "dcr"
	kindCIMD          = "cimd"
	kindPreregistered = "preregistered"
)

// Token endpoint authentication methods.
const (
	authNone   = "none"
	authBasic  = "client_secret_basic"
	authPost   = "client_secret_post"
	grantCode  = "authorization_code"
	grantRefr  = "refresh_token"
	respCode   = "code"
	bearerType = "Bearer"
)

type client struct {
	id           string
	secret       digest // zero for public clients
	authMethods  []string
	name         string
	redirectURIs []string
	grantTypes   []string
	scopes       []string // empty: any supported scope
	kind         string
	expires      time.Time // end of a CIMD cache entry
}

func (c *client) public() bool { return slices.Contains(c.authMethods, authNone) }

func (c *client) displayName() string {
	if c.name != "" {
		return c.name
	}
	return c.id
}

// family is one authorization and every token descended from it: the code's
// first access and refresh tokens and all their rotations. Reuse of a spent
// refresh token (or of the code) revokes the whole family.
type family struct {
	id        string
	user      string
	clientID  string
	scopes    []string
	resource  string
	created   time.Time
	refreshes int
	refreshed []time.Time // when each refresh_token grant succeeded
	// accessExpires is when the newest access token expires.
	accessExpires time.Time
	revoked       string // why, once revoked
}

type accessToken struct {
	family  *family
	scopes  []string
	expires time.Time
	revoked bool
}

type refreshToken struct {
	family  *family
	expires time.Time
	used    bool
	usedAt  time.Time
	next    *refreshToken // what its rotation issued
	// regraced is set once it was presented again within
	// Config.RefreshGrace: a second time is reuse.
	regraced bool
}

type authCode struct {
	req     authRequest
	user    string
	scopes  []string
	expires time.Time
	used    bool
	family  *family // once exchanged, so that a replay revokes what it gave
}

// pendingConsent is an authorization request waiting on the consent form.
type pendingConsent struct {
	req     authRequest
	csrf    string
	expires time.Time
}

type state struct {
	clients   map[string]*client // registered and pre-registered, by client_id
	cimd      map[string]*client // fetched metadata documents, by client_id URL
	codes     map[digest]*authCode
	access    map[digest]*accessToken
	refresh   map[digest]*refreshToken
	families  map[string]*family
	pending   map[string]*pendingConsent
	stats     Stats
	lastSweep time.Time
}

func newState() state {
	return state{
		clients:  map[string]*client{},
		cimd:     map[string]*client{},
		codes:    map[digest]*authCode{},
		access:   map[digest]*accessToken{},
		refresh:  map[digest]*refreshToken{},
		families: map[string]*family{},
		pending:  map[string]*pendingConsent{},
		stats:    newStats(),
	}
}

// sweepLocked drops what expired more than a minute ago. Spent refresh
// tokens are kept until they expire, for reuse detection.
func (st *state) sweepLocked(now time.Time) {
	if now.Sub(st.lastSweep) < 10*time.Second {
		return
	}
	st.lastSweep = now
	cut := now.Add(-time.Minute)
	for k, c := range st.codes {
		if c.expires.Before(cut) {
			delete(st.codes, k)
		}
	}
	for k, t := range st.access {
		if t.expires.Before(cut) {
			delete(st.access, k)
		}
	}
	for k, t := range st.refresh {
		if t.expires.Before(cut) {
			delete(st.refresh, k)
		}
	}
	for k, p := range st.pending {
		if p.expires.Before(cut) {
			delete(st.pending, k)
		}
	}
	for k, c := range st.cimd {
		if c.expires.Before(cut) {
			delete(st.cimd, k)
		}
	}
}

// revokeFamilyLocked revokes f and so every token descended from it.
func (st *state) revokeFamilyLocked(f *family, why string) {
	if f == nil || f.revoked != "" {
		return
	}
	f.revoked = why
	st.stats.FamiliesRevoked++
}

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// issueLocked mints an access token (and a refresh token when the client
// may refresh) in family f.
func (s *Server) issueLocked(f *family, scopes []string, withRefresh bool, now time.Time) tokenResponse {
	st := &s.st
	at := newSecret("mcpdev_at_")
	exp := now.Add(s.cfg.AccessTokenTTL)
	st.access[digestOf(at)] = &accessToken{family: f, scopes: slices.Clone(scopes), expires: exp}
	f.accessExpires = exp
	st.stats.TokensIssued++
	resp := tokenResponse{
		AccessToken: at,
		TokenType:   bearerType,
		ExpiresIn:   int64((s.cfg.AccessTokenTTL + time.Second - 1) / time.Second),
		Scope:       joinScopes(scopes),
	}
	if withRefresh {
		rt := newSecret("mcpdev_rt_")
		st.refresh[digestOf(rt)] = &refreshToken{family: f, expires: now.Add(s.cfg.RefreshTokenTTL)}
		resp.RefreshToken = rt
	}
	return resp
}
