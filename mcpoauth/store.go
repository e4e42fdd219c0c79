package mcpoauth

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The tables and encrypted columns, bound into each ciphertext's
// additional data.
const (
	credentialsTable = "mcp_oauth_credentials"
	statesTable      = "mcp_oauth_states"
	clientsTable     = "mcp_oauth_clients"
)

var (
	// ErrNotFound is returned when the credential, state or client asked
	// for does not exist (for a state: also when it belongs to another
	// user or was already used).
	ErrNotFound = errors.New("not found")

	// ErrStateExpired is returned by ConsumeState for a flow that timed
	// out. The state is deleted all the same.
	ErrStateExpired = errors.New("authorization flow expired")
)

// Store keeps credentials, pending flows and registered clients in a
// Storage, sealing tokens, client secrets and PKCE verifiers with its
// Keyring before they reach it. U is the type of the app's user IDs. A
// Store is safe for concurrent use.
type Store[U comparable] struct {
	storage Storage[U]
	keys    *Keyring
	now     func() time.Time
	locks   *keyedLocks
}

// StoreOption configures a Store.
type StoreOption func(*storeConfig)

type storeConfig struct{ now func() time.Time }

// WithClock makes the Store read the time from now instead of time.Now;
// tests use it to move time.
func WithClock(now func() time.Time) StoreOption {
	return func(c *storeConfig) {
		if now != nil {
			c.now = now
		}
	}
}

// NewStore returns a Store over storage, sealing with keys.
func NewStore[U comparable](storage Storage[U], keys *Keyring, opts ...StoreOption) *Store[U] {
	cfg := storeConfig{now: time.Now}
	for _, opt := range opts {
		opt(&cfg)
	}
	return &Store[U]{storage: storage, keys: keys, now: cfg.now, locks: newKeyedLocks()}
}

// Now returns the Store's time.
func (s *Store[U]) Now() time.Time { return s.now() }

// Storage returns the storage the Store seals for.
func (s *Store[U]) Storage() Storage[U] { return s.storage }

func (s *Store[U]) ready(op string) error {
	switch {
	case s == nil:
		return fmt.Errorf("mcpoauth: %s: store is nil", op)
	case s.storage == nil:
		return fmt.Errorf("mcpoauth: %s: store has no storage", op)
	case s.keys == nil:
		return fmt.Errorf("mcpoauth: %s: store has no keyring: %w", op, ErrNoKeys)
	}
	return nil
}

// FindCredential returns the user's credential for serverURL, decrypted,
// or an error wrapping ErrNotFound.
func (s *Store[U]) FindCredential(ctx context.Context, userID U, serverURL string) (*Credential[U], error) {
	if err := s.ready("find credential"); err != nil {
		return nil, err
	}
	r, err := s.storage.FindCredential(ctx, userID, serverURL)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: find credential: %w", err)
	}
	c, err := s.open(r)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: find credential: %w", err)
	}
	return c, nil
}

// HasCredential reports whether the user has a credential for serverURL,
// without decrypting it. A credential that needs re-authorization counts.
func (s *Store[U]) HasCredential(ctx context.Context, userID U, serverURL string) (bool, error) {
	if err := s.ready("has credential"); err != nil {
		return false, err
	}
	_, err := s.storage.FindCredential(ctx, userID, serverURL)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("mcpoauth: has credential: %w", err)
	}
	return true, nil
}

// ListCredentials returns the user's credentials, decrypted, ordered by
// server URL.
func (s *Store[U]) ListCredentials(ctx context.Context, userID U) ([]*Credential[U], error) {
	if err := s.ready("list credentials"); err != nil {
		return nil, err
	}
	rs, err := s.storage.ListCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: list credentials: %w", err)
	}
	creds, err := s.openAll(rs)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: list credentials: %w", err)
	}
	return creds, nil
}

// ListExpiringCredentials returns up to limit credentials of any user whose
// token expires at or before before and that do not need
// re-authorization, soonest first: the work list of a proactive refresh
// job.
func (s *Store[U]) ListExpiringCredentials(ctx context.Context, before time.Time, limit int) ([]*Credential[U], error) {
	if err := s.ready("list expiring credentials"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, errors.New("mcpoauth: list expiring credentials: limit must be positive")
	}
	rs, err := s.storage.ListExpiringCredentials(ctx, before.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: list expiring credentials: %w", err)
	}
	creds, err := s.openAll(rs)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: list expiring credentials: %w", err)
	}
	return creds, nil
}

// SaveCredential inserts c, or replaces every stored field of the user's
// credential for c.ServerURL (CreatedAt is kept). It encrypts the token and
// client info, and sets c.ID, c.TokenExpiresAt and c.UpdatedAt.
func (s *Store[U]) SaveCredential(ctx context.Context, c *Credential[U]) error {
	if err := s.ready("save credential"); err != nil {
		return err
	}
	if err := checkCredential(c); err != nil {
		return fmt.Errorf("mcpoauth: save credential: %w", err)
	}
	r, err := s.seal(c)
	if err != nil {
		return fmt.Errorf("mcpoauth: save credential: %w", err)
	}
	if err := s.storage.UpsertCredential(ctx, r); err != nil {
		return fmt.Errorf("mcpoauth: save credential: %w", err)
	}
	c.ID, c.TokenExpiresAt, c.UpdatedAt = r.ID, c.Token.Expiry, r.UpdatedAt
	if !r.CreatedAt.IsZero() {
		c.CreatedAt = r.CreatedAt
	}
	return nil
}

// DeleteCredential deletes the user's credential for serverURL (the user
// disconnects). It returns an error wrapping ErrNotFound when there was none.
func (s *Store[U]) DeleteCredential(ctx context.Context, userID U, serverURL string) error {
	if err := s.ready("delete credential"); err != nil {
		return err
	}
	if err := s.storage.DeleteCredential(ctx, userID, serverURL); err != nil {
		return fmt.Errorf("mcpoauth: delete credential: %w", err)
	}
	return nil
}

// MarkReauthRequired records that the authorization server refused to
// refresh the user's token for serverURL (invalid_grant): the user must
// connect again, and nothing should retry the refresh until then.
func (s *Store[U]) MarkReauthRequired(ctx context.Context, userID U, serverURL string) error {
	if err := s.ready("mark reauth required"); err != nil {
		return err
	}
	if err := s.storage.MarkReauthRequired(ctx, userID, serverURL, utc(s.now())); err != nil {
		return fmt.Errorf("mcpoauth: mark reauth required: %w", err)
	}
	return nil
}

// UpdateCredentialLocked runs fn on the user's credential for serverURL
// while holding the storage's lock on it, so one refresh at a time happens
// per credential across every process sharing the database. Callers in
// this process queue before touching the storage, so a burst of jobs holds
// one database connection, not one each.
//
// fn gets the credential as re-read under the lock: when another worker
// has just refreshed it, fn sees the fresh token and should return nil to
// store nothing. Otherwise it returns the credential to store (same user
// and server). An error from fn aborts and is returned wrapped. Bound fn's
// work with ctx, and do not call other Store methods for the same
// credential from it (they would wait for the lock fn holds).
//
// It returns an error wrapping ErrNotFound, without calling fn, when the
// credential does not exist.
func (s *Store[U]) UpdateCredentialLocked(ctx context.Context, userID U, serverURL string,
	fn func(cur *Credential[U]) (*Credential[U], error)) error {
	if err := s.ready("update credential"); err != nil {
		return err
	}
	if fn == nil {
		return errors.New("mcpoauth: update credential: fn is nil")
	}
	unlock, err := s.locks.lock(ctx, userKey(userID)+"\x00"+serverURL)
	if err != nil {
		return fmt.Errorf("mcpoauth: update credential: %w", err)
	}
	defer unlock()

	var stored *Credential[U]
	var storedRec *CredentialRecord[U]
	err = s.storage.UpdateCredentialLocked(ctx, userID, serverURL, func(rec *CredentialRecord[U]) (*CredentialRecord[U], error) {
		cur, err := s.open(rec)
		if err != nil {
			return nil, err
		}
		id, created := rec.ID, rec.CreatedAt // fn may change cur and return it
		next, err := fn(cur)
		if err != nil || next == nil {
			return nil, err
		}
		if next.UserID != userID || next.ServerURL != serverURL {
			return nil, errors.New("fn returned a credential of another user or server")
		}
		if err := checkCredential(next); err != nil {
			return nil, err
		}
		next.ID, next.CreatedAt = id, created
		out, err := s.seal(next)
		if err != nil {
			return nil, err
		}
		stored, storedRec = next, out
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("mcpoauth: update credential: %w", err)
	}
	if stored != nil {
		stored.TokenExpiresAt, stored.UpdatedAt = stored.Token.Expiry, storedRec.UpdatedAt
	}
	return nil
}

// CreateState stores a pending flow, encrypting its verifier. An empty
// StateParam is filled with a fresh random value, a zero ExpiresAt with
// now + DefaultStateTTL. It sets st.ID and st.CreatedAt.
func (s *Store[U]) CreateState(ctx context.Context, st *State[U]) error {
	if err := s.ready("create state"); err != nil {
		return err
	}
	switch {
	case st == nil:
		return errors.New("mcpoauth: create state: state is nil")
	case st.ServerURL == "":
		return errors.New("mcpoauth: create state: server URL is empty")
	case st.Verifier == "":
		return errors.New("mcpoauth: create state: PKCE verifier is empty")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if st.StateParam == "" {
		p, err := randomParam()
		if err != nil {
			return fmt.Errorf("mcpoauth: create state: %w", err)
		}
		st.StateParam = p
	}
	if st.ExpiresAt.IsZero() {
		st.ExpiresAt = now.Add(DefaultStateTTL)
	}
	pkce, err := s.keys.Seal([]byte(st.Verifier), stateAAD(st.UserID, st.StateParam, st.ServerURL, st.Issuer, st.RedirectURI, st.RequestedScope))
	if err != nil {
		return fmt.Errorf("mcpoauth: create state: %w", err)
	}
	r := &StateRecord[U]{
		UserID: st.UserID, ServerURL: st.ServerURL, StateParam: st.StateParam, PKCEData: pkce,
		Issuer: st.Issuer, RedirectURI: st.RedirectURI, RequestedScope: st.RequestedScope,
		ExpiresAt: st.ExpiresAt.UTC(), CreatedAt: now,
	}
	if err := s.storage.CreateState(ctx, r); err != nil {
		return fmt.Errorf("mcpoauth: create state: %w", err)
	}
	st.ID, st.CreatedAt = r.ID, now
	return nil
}

// ConsumeState takes the user's pending flow with stateParam out of the
// storage and returns it with its verifier decrypted. A state is used
// once: of two concurrent callers, one gets it and the other ErrNotFound.
// Another user's state is ErrNotFound. An expired state is deleted and
// reported as ErrStateExpired.
func (s *Store[U]) ConsumeState(ctx context.Context, userID U, stateParam string) (*State[U], error) {
	if err := s.ready("consume state"); err != nil {
		return nil, err
	}
	if stateParam == "" {
		return nil, fmt.Errorf("mcpoauth: consume state: state parameter is empty: %w", ErrNotFound)
	}
	r, err := s.storage.TakeState(ctx, userID, stateParam)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: consume state: %w", err)
	}
	if r.UserID != userID || r.StateParam != stateParam {
		return nil, fmt.Errorf("mcpoauth: consume state: storage returned another flow: %w", ErrNotFound)
	}
	st := &State[U]{
		ID: r.ID, UserID: r.UserID, ServerURL: r.ServerURL, StateParam: r.StateParam,
		Issuer: r.Issuer, RedirectURI: r.RedirectURI, RequestedScope: r.RequestedScope,
		ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt,
	}
	if st.Expired(s.now()) {
		return nil, fmt.Errorf("mcpoauth: consume state: %w", ErrStateExpired)
	}
	verifier, err := s.keys.Open(r.PKCEData, stateAAD(st.UserID, st.StateParam, st.ServerURL, st.Issuer, st.RedirectURI, st.RequestedScope))
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: consume state: verifier: %w", err)
	}
	st.Verifier = string(verifier)
	return st, nil
}

// DeleteExpiredStates deletes the flows that expired at or before now, in
// batches of batchSize rows (1000 when batchSize <= 0) so that no single
// statement holds locks for long, and returns how many it deleted. Run it
// from a periodic job.
func (s *Store[U]) DeleteExpiredStates(ctx context.Context, now time.Time, batchSize int) (int64, error) {
	if err := s.ready("delete expired states"); err != nil {
		return 0, err
	}
	n, err := inBatches(ctx, batchSize, func(limit int) (int64, error) {
		return s.storage.DeleteExpiredStates(ctx, now.UTC(), limit)
	})
	if err != nil {
		return n, fmt.Errorf("mcpoauth: delete expired states: %w", err)
	}
	return n, nil
}

// inBatches calls del with batchSize (1000 when <= 0) until it deletes
// fewer rows than that, and returns the total.
func inBatches(ctx context.Context, batchSize int, del func(limit int) (int64, error)) (int64, error) {
	if batchSize <= 0 {
		batchSize = 1000
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := del(batchSize)
		total += n
		if err != nil || n < int64(batchSize) {
			return total, err
		}
	}
}

// FindClient returns the client this app registered with the authorization
// server issuer (dynamic client registration), decrypted, or an error
// wrapping ErrNotFound. Every user's flows with that issuer share it.
func (s *Store[U]) FindClient(ctx context.Context, issuer string) (*ClientInfo, error) {
	if err := s.ready("find client"); err != nil {
		return nil, err
	}
	c, err := s.readClient(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: find client: %w", err)
	}
	return c, nil
}

// SaveClient stores c as the client registered with c.Issuer, replacing
// the one stored before, if any. The client info is encrypted and bound to
// the issuer: copied to another issuer's row, it does not decrypt.
func (s *Store[U]) SaveClient(ctx context.Context, c *ClientInfo) error {
	if err := s.ready("save client"); err != nil {
		return err
	}
	r, err := s.sealClient(c)
	if err == nil {
		err = s.storage.SaveClient(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("mcpoauth: save client: %w", err)
	}
	return nil
}

// addClient stores c for c.Issuer unless a client is stored already, and
// returns the one stored afterwards: c, or the client another process
// registered first.
func (s *Store[U]) addClient(ctx context.Context, c *ClientInfo) (*ClientInfo, error) {
	if err := s.ready("add client"); err != nil {
		return nil, err
	}
	r, err := s.sealClient(c)
	if err == nil {
		r, err = s.storage.AddClient(ctx, r)
	}
	if err == nil {
		c, err = s.openClient(r, c.Issuer)
	}
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: add client: %w", err)
	}
	return c, nil
}

func (s *Store[U]) readClient(ctx context.Context, issuer string) (*ClientInfo, error) {
	if issuer == "" {
		return nil, errors.New("issuer is empty")
	}
	r, err := s.storage.FindClient(ctx, issuer)
	if err != nil {
		return nil, err
	}
	return s.openClient(r, issuer)
}

func (s *Store[U]) openClient(r *ClientRecord, issuer string) (*ClientInfo, error) {
	var c ClientInfo
	if err := s.openJSON(r.Data, registeredClientAAD(issuer), &c); err != nil {
		return nil, fmt.Errorf("client info: %w", err)
	}
	if c.Issuer != issuer {
		return nil, fmt.Errorf("stored client belongs to issuer %q, not %q", c.Issuer, issuer)
	}
	return &c, nil
}

func (s *Store[U]) sealClient(c *ClientInfo) (*ClientRecord, error) {
	switch {
	case c == nil:
		return nil, errors.New("client is nil")
	case c.Issuer == "":
		return nil, errors.New("client has no issuer")
	case c.ClientID == "":
		return nil, errors.New("client ID is empty")
	}
	data, err := s.sealJSON(*c, registeredClientAAD(c.Issuer))
	if err != nil {
		return nil, fmt.Errorf("client info: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return &ClientRecord{Issuer: c.Issuer, Data: data, CreatedAt: now, UpdatedAt: now}, nil
}

// TokenStorage returns the storage of one user's token for one server: the
// interface an MCP client's OAuth handler loads and saves tokens through.
func (s *Store[U]) TokenStorage(userID U, serverURL string) *TokenStorage[U] {
	return &TokenStorage[U]{store: s, userID: userID, serverURL: serverURL}
}

// TokenStorage loads and saves one user's token for one MCP server.
type TokenStorage[U comparable] struct {
	store     *Store[U]
	userID    U
	serverURL string
}

// UserID returns the user whose token this is.
func (t *TokenStorage[U]) UserID() U { return t.userID }

// ServerURL returns the MCP server the token is for.
func (t *TokenStorage[U]) ServerURL() string { return t.serverURL }

// Load returns the stored token, or an error wrapping ErrNotFound when the
// user has not connected.
func (t *TokenStorage[U]) Load(ctx context.Context) (*Token, error) {
	if t == nil {
		return nil, errors.New("mcpoauth: load token: token storage is nil")
	}
	c, err := t.store.FindCredential(ctx, t.userID, t.serverURL)
	if err != nil {
		return nil, err
	}
	return &c.Token, nil
}

// Save stores tok as the user's token, creating the credential when there
// is none and keeping its client info and issuer when there is. It records
// the refresh time, takes tok.Scope as the granted scope when set, and
// clears any re-authorization mark.
func (t *TokenStorage[U]) Save(ctx context.Context, tok Token) error {
	if t == nil {
		return errors.New("mcpoauth: save token: token storage is nil")
	}
	if tok.AccessToken == "" {
		return errors.New("mcpoauth: save token: access token is empty")
	}
	s := t.store
	apply := func(c *Credential[U]) *Credential[U] {
		c.Token = tok
		if tok.Scope != "" {
			c.GrantedScope = tok.Scope
		}
		c.LastRefreshedAt, c.ReauthRequiredAt = s.now().UTC(), time.Time{}
		return c
	}
	err := s.UpdateCredentialLocked(ctx, t.userID, t.serverURL, func(cur *Credential[U]) (*Credential[U], error) {
		return apply(cur), nil
	})
	if errors.Is(err, ErrNotFound) {
		err = s.SaveCredential(ctx, apply(&Credential[U]{UserID: t.userID, ServerURL: t.serverURL}))
	}
	if err != nil {
		return fmt.Errorf("mcpoauth: save token: %w", err)
	}
	return nil
}

// Delete removes the user's credential for the server. Deleting a
// credential that does not exist is not an error.
func (t *TokenStorage[U]) Delete(ctx context.Context) error {
	if t == nil {
		return errors.New("mcpoauth: delete token: token storage is nil")
	}
	err := t.store.DeleteCredential(ctx, t.userID, t.serverURL)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// open decrypts a record into a Credential.
func (s *Store[U]) open(r *CredentialRecord[U]) (*Credential[U], error) {
	c := &Credential[U]{
		ID: r.ID, UserID: r.UserID, ServerURL: r.ServerURL, Issuer: r.Issuer, GrantedScope: r.GrantedScope, RequiredScope: r.RequiredScope,
		TokenExpiresAt: r.TokenExpiresAt, LastRefreshedAt: r.LastRefreshedAt, ReauthRequiredAt: r.ReauthRequiredAt,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if err := s.openJSON(r.TokenData, tokenAAD(c.UserID, c.ServerURL, c.Issuer), &c.Token); err != nil {
		return nil, fmt.Errorf("credential %d: token: %w", r.ID, err)
	}
	if r.ClientData != "" {
		c.Client = new(ClientInfo)
		if err := s.openJSON(r.ClientData, clientAAD(c.UserID, c.ServerURL, c.Issuer), c.Client); err != nil {
			return nil, fmt.Errorf("credential %d: client info: %w", r.ID, err)
		}
	}
	return c, nil
}

func (s *Store[U]) openAll(rs []*CredentialRecord[U]) ([]*Credential[U], error) {
	creds := make([]*Credential[U], 0, len(rs))
	for _, r := range rs {
		c, err := s.open(r)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return creds, nil
}

// seal encrypts the credential's token and client info into a record.
func (s *Store[U]) seal(c *Credential[U]) (*CredentialRecord[U], error) {
	token, err := s.sealJSON(c.Token, tokenAAD(c.UserID, c.ServerURL, c.Issuer))
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	var client string
	if c.Client != nil {
		if client, err = s.sealJSON(*c.Client, clientAAD(c.UserID, c.ServerURL, c.Issuer)); err != nil {
			return nil, fmt.Errorf("client info: %w", err)
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return &CredentialRecord[U]{
		ID: c.ID, UserID: c.UserID, ServerURL: c.ServerURL, Issuer: c.Issuer,
		TokenData: token, ClientData: client, GrantedScope: c.GrantedScope, RequiredScope: c.RequiredScope,
		TokenExpiresAt: utc(c.Token.Expiry), LastRefreshedAt: utc(c.LastRefreshedAt), ReauthRequiredAt: utc(c.ReauthRequiredAt),
		CreatedAt: cmp.Or(utc(c.CreatedAt), now), UpdatedAt: now,
	}, nil
}

// utc returns t in UTC at microsecond precision, keeping the zero time.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (s *Store[U]) sealJSON(v any, aad []byte) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	return s.keys.Seal(b, aad)
}

func (s *Store[U]) openJSON(sealed string, aad []byte, v any) error {
	b, err := s.keys.Open(sealed, aad)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		// The JSON holds secrets: report where it failed, not what it says.
		return errors.New("decode: stored JSON is malformed")
	}
	return nil
}

// userKey is a user ID as text: in additional data and lock keys.
func userKey[U comparable](id U) string { return fmt.Sprint(id) }

// The additional data that binds each ciphertext to its row: a value
// copied to another user, server or flow does not decrypt there.
// The associated data of the ciphertexts binds them to every plaintext
// column of their row that decides where a secret is sent: the server
// URL (the resource), the issuer (whose token and revocation endpoints
// get the refresh token and the client secret) and, for a pending flow,
// the redirect URI and requested scope. A row whose columns were changed
// in the database no longer opens, so it fails closed, before any request.

func tokenAAD[U comparable](userID U, serverURL, issuer string) []byte {
	return additionalData(credentialsTable, "token_data", userKey(userID), serverURL, issuer)
}

func clientAAD[U comparable](userID U, serverURL, issuer string) []byte {
	return additionalData(credentialsTable, "client_info_data", userKey(userID), serverURL, issuer)
}

func stateAAD[U comparable](userID U, stateParam, serverURL, issuer, redirectURI, scope string) []byte {
	return additionalData(statesTable, "pkce_data", userKey(userID), stateParam, serverURL, issuer, redirectURI, scope)
}

// registeredClientAAD binds a registered client's ciphertext to its issuer.
func registeredClientAAD(issuer string) []byte {
	return additionalData(clientsTable, "client_info_data", issuer)
}

func checkCredential[U comparable](c *Credential[U]) error {
	switch {
	case c == nil:
		return errors.New("credential is nil")
	case c.ServerURL == "":
		return errors.New("server URL is empty")
	case c.Token.AccessToken == "":
		return errors.New("access token is empty")
	}
	return nil
}

// randomParam returns 32 random bytes, base64url-encoded: a state
// parameter nobody can guess.
func randomParam() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random state parameter: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// keyedLocks serialises the callers in this process that want the same
// key, so they queue here instead of each holding a database connection
// while it waits for the row lock.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	ch   chan struct{} // holds one token while the lock is taken
	refs int
}

func newKeyedLocks() *keyedLocks { return &keyedLocks{locks: make(map[string]*keyedLock)} }

// lock takes the lock on key, waiting until it is free or ctx is done.
func (k *keyedLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
