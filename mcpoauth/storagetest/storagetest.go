// Package storagetest checks that an implementation of mcpoauth.Storage
// keeps its contract, in the spirit of testing/fstest.TestFS. A storage's
// own tests call TestStorage with a function that opens it:
//
//	func TestStorage(t *testing.T) {
//		db := openTestDB(t)
//		storagetest.TestStorage(t, func(t *testing.T) storagetest.Fixture[int64] {
//			return storagetest.Fixture[int64]{
//				Storage: NewStorage(db),
//				Reopen: func(t testing.TB) mcpoauth.Storage[int64] {
//					return NewStorage(openTestDB(t)) // a second pool, as another process has
//				},
//				NewUser:    func(t testing.TB) int64 { return insertUser(t, db) },
//				DeleteUser: func(t testing.TB, id int64) { deleteUser(t, db, id) },
//			}
//		})
//	}
//
// TestStorage exercises the storage both through its own methods and
// through an mcpoauth.Store that seals secrets before they reach it, since
// the contract includes giving sealed data back byte for byte and keeping
// it out of sight. Its subtests may share one storage, and the tables need
// not be empty: each subtest works with users of its own and server URLs
// and issuers no other subtest uses, and checks only its own rows. Rows a
// subtest leaves behind belong to its users; deleting the users (from
// NewUser's t.Cleanup, say) cleans them up.
//
// The package depends on no database driver.
package storagetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

// Fixture is one storage under test.
type Fixture[U comparable] struct {
	// Storage is the storage under test. It may be shared by the
	// subtests: each uses users, server URLs and issuers of its own.
	Storage mcpoauth.Storage[U]

	// Reopen returns another handle on the same data, as a second process
	// would have (a new *sql.DB pool on the same database), which the
	// concurrency subtests race against Storage: the storage's locks must
	// hold across processes, not only within one handle. For
	// MemoryStorage it returns the same storage. The fixture closes what
	// it opens (with t.Cleanup). A nil Reopen stands for one returning
	// Storage.
	Reopen func(t testing.TB) mcpoauth.Storage[U]

	// NewUser returns the ID of a user that exists (a users row, for
	// foreign keys), unique to this call.
	NewUser func(t testing.TB) U

	// DeleteUser deletes that user; nil when the storage cannot (then the
	// cascade case is skipped with t.Skip and a message).
	DeleteUser func(t testing.TB, id U)
}

// TestStorage runs the contract's subtests against the storages open
// returns, calling it once per subtest for a fresh Fixture. The subtests
// run one after the other.
func TestStorage[U comparable](t *testing.T, open func(t *testing.T) Fixture[U]) {
	t.Helper()
	if open == nil {
		t.Fatal("storagetest: open is nil")
	}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *env[U])
	}{
		// Credentials.
		{"CredentialLifecycle", testCredentialLifecycle[U]},
		{"CredentialLifecycleThroughStore", testCredentialLifecycleThroughStore[U]},
		{"ListCredentials", testListCredentials[U]},
		{"CredentialUniquePerUserAndServer", testCredentialUniquePerUserAndServer[U]},
		{"DeletingUserDeletesTheirRows", testDeletingUserDeletesTheirRows[U]},
		{"TokenStorage", testTokenStorage[U]},
		{"MarkReauthRequired", testMarkReauthRequired[U]},
		{"ListExpiringCredentials", testListExpiringCredentials[U]},
		{"UpdateCredentialLocked", testUpdateCredentialLocked[U]},
		{"UpdateCredentialLockedThroughStore", testUpdateCredentialLockedThroughStore[U]},
		{"ConcurrentRefreshHappensOnce", testConcurrentRefreshHappensOnce[U]},
		{"ConcurrentUpdatesAreSerialised", testConcurrentUpdatesAreSerialised[U]},

		// Pending flows.
		{"StateIsSingleUse", testStateIsSingleUse[U]},
		{"StateOfAnotherUserIsNotFound", testStateOfAnotherUserIsNotFound[U]},
		{"ExpiredStateIsDeleted", testExpiredStateIsDeleted[U]},
		{"SeveralPendingFlowsPerServer", testSeveralPendingFlowsPerServer[U]},
		{"ConcurrentTakeStateSucceedsOnce", testConcurrentTakeStateSucceedsOnce[U]},
		{"DeleteExpiredStates", testDeleteExpiredStates[U]},

		// Registered clients.
		{"ClientLifecycle", testClientLifecycle[U]},
		{"ConcurrentAddClientAgreesOnOne", testConcurrentAddClientAgreesOnOne[U]},
		{"ClientSecretIsSealedAndBoundToIssuer", testClientSecretIsSealedAndBoundToIssuer[U]},

		// Secrets at rest.
		{"SecretsAreSealedAtRest", testSecretsAreSealedAtRest[U]},
		{"CiphertextMovedToAnotherRowDoesNotOpen", testCiphertextMovedToAnotherRowDoesNotOpen[U]},

		// Rate counting.
		{"CountRequestPerUserAndWindow", testCountRequestPerUserAndWindow[U]},
		{"CountRequestRefusedCountsNothing", testCountRequestRefusedCountsNothing[U]},
		{"RateLimiterPerUserAndWindow", testRateLimiterPerUserAndWindow[U]},
		{"RateLimiterEveryLimitApplies", testRateLimiterEveryLimitApplies[U]},
		{"ConcurrentRateLimitIsAtomic", testConcurrentRateLimitIsAtomic[U]},
		{"DeleteExpiredCounts", testDeleteExpiredCounts[U]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t, open))
		})
	}
}

// env is one subtest's fixture with a Store over it.
type env[U comparable] struct {
	ctx     context.Context
	fx      Fixture[U]
	storage mcpoauth.Storage[U]
	keys    *mcpoauth.Keyring
	clock   *clock
	store   *mcpoauth.Store[U] // over storage, with keys and clock
	tag     string             // random, in this subtest's URLs and issuers
	t       *testing.T
}

func newEnv[U comparable](t *testing.T, open func(*testing.T) Fixture[U]) *env[U] {
	t.Helper()
	fx := open(t)
	switch {
	case fx.Storage == nil:
		t.Fatal("storagetest: open returned a Fixture without a Storage")
	case fx.NewUser == nil:
		t.Fatal("storagetest: open returned a Fixture without NewUser")
	}
	e := &env[U]{
		ctx:     t.Context(),
		fx:      fx,
		storage: fx.Storage,
		keys:    newKeyring(t),
		// A time with microseconds, so that a storage keeping less
		// precision is caught.
		clock: newClock(time.Now().UTC().Truncate(time.Second).Add(123456 * time.Microsecond)),
		tag:   randomHex(8),
		t:     t,
	}
	e.store = e.newStore(fx.Storage)
	return e
}

// newKeyring returns a keyring of two random keys.
func newKeyring(t testing.TB) *mcpoauth.Keyring {
	t.Helper()
	keys := make([][]byte, 2)
	for i := range keys {
		keys[i] = make([]byte, mcpoauth.KeySize)
		if _, err := rand.Read(keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	kr, err := mcpoauth.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newStore returns a Store over s with the subtest's keys and clock, as
// another process of the same app would have.
func (e *env[U]) newStore(s mcpoauth.Storage[U]) *mcpoauth.Store[U] {
	return mcpoauth.NewStore(s, e.keys, mcpoauth.WithClock(e.clock.Now))
}

// reopen returns a second handle on the storage's data.
func (e *env[U]) reopen() mcpoauth.Storage[U] {
	e.t.Helper()
	if e.fx.Reopen == nil {
		return e.storage
	}
	s := e.fx.Reopen(e.t)
	if s == nil {
		e.t.Fatal("storagetest: Fixture.Reopen returned nil")
	}
	return s
}

// user returns a new user.
func (e *env[U]) user() U {
	e.t.Helper()
	return e.fx.NewUser(e.t)
}

// server returns the URL of an MCP server no other subtest uses. URLs of
// one subtest differ only in name, so they sort as their names do under
// any collation when names are lowercase letters.
func (e *env[U]) server(name string) string {
	return "https://mcp-" + e.tag + ".example.com/" + name
}

// issuer returns an authorization server no other subtest uses.
func (e *env[U]) issuer(name string) string {
	return "https://auth-" + e.tag + ".example.com/" + name
}

// credential returns a complete credential for user at server, with
// random secrets.
func (e *env[U]) credential(user U, server string) *mcpoauth.Credential[U] {
	now := e.clock.Now()
	issuer := e.issuer("as")
	return &mcpoauth.Credential[U]{
		UserID:    user,
		ServerURL: server,
		Issuer:    issuer,
		Token: mcpoauth.Token{
			AccessToken:  secret("access"),
			RefreshToken: secret("refresh"),
			TokenType:    "Bearer",
			Expiry:       now.Add(time.Hour),
			Scope:        "mcp:read mcp:write",
		},
		Client: &mcpoauth.ClientInfo{
			ClientID:     "client-" + randomHex(4),
			ClientSecret: secret("client-secret"),
			Issuer:       issuer,
			RedirectURIs: []string{"https://app.example.com/mcp_connections/callback"},
		},
		GrantedScope:    "mcp:read mcp:write",
		LastRefreshedAt: now,
	}
}

// credentialRecord returns a complete raw credential row, its sealed
// columns stand-ins the storage must keep as they are.
func (e *env[U]) credentialRecord(user U, server string) *mcpoauth.CredentialRecord[U] {
	now := e.clock.Now()
	return &mcpoauth.CredentialRecord[U]{
		UserID:          user,
		ServerURL:       server,
		Issuer:          e.issuer("as"),
		TokenData:       "sealed-token-" + randomHex(8),
		ClientData:      "sealed-client-" + randomHex(8),
		GrantedScope:    "mcp:read mcp:write",
		RequiredScope:   "mcp:admin",
		TokenExpiresAt:  now.Add(time.Hour),
		LastRefreshedAt: now.Add(-time.Minute),
		CreatedAt:       now,
		UpdatedAt:       now,
	}
}

// stateRecord returns a complete raw state row.
func (e *env[U]) stateRecord(user U, server string, expires time.Time) *mcpoauth.StateRecord[U] {
	return &mcpoauth.StateRecord[U]{
		UserID:         user,
		ServerURL:      server,
		StateParam:     "state-" + randomHex(16),
		PKCEData:       "sealed-pkce-" + randomHex(8),
		Issuer:         e.issuer("as"),
		RedirectURI:    "https://app.example.com/mcp_connections/callback",
		RequestedScope: "mcp:read",
		ExpiresAt:      expires,
		CreatedAt:      e.clock.Now(),
	}
}

// clock is a settable clock for Stores under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(now time.Time) *clock { return &clock{now: now} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(mathrand.Uint32())
	}
	return fmt.Sprintf("%x", b)
}

// secret returns a random secret value of kind, easy to look for.
func secret(kind string) string { return kind + "-" + randomHex(12) }

// farPast returns a random minute between 2000 and 2010: rows with times
// around it are this subtest's, whatever else the tables hold.
func farPast() time.Time {
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).
		Add(time.Duration(mathrand.Int64N(10*365*24*60)) * time.Minute)
}

// farFuture returns a random minute between 2090 and 2095.
func farFuture() time.Time {
	return time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC).
		Add(time.Duration(mathrand.Int64N(5*365*24*60)) * time.Minute)
}

// wantNotFound fails t unless err wraps mcpoauth.ErrNotFound.
func wantNotFound(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("%s: err = %v, want one wrapping mcpoauth.ErrNotFound", what, err)
	}
}

// timeDiff describes how got differs from want: the storage must give a
// time back at microsecond precision, in UTC, and the zero time for the
// zero time (NULL).
func timeDiff(name string, got, want time.Time) string {
	switch {
	case want.IsZero() && !got.IsZero():
		return fmt.Sprintf("%s = %s, want the zero time (NULL)", name, got.Format(time.RFC3339Nano))
	case want.IsZero():
		return ""
	case !got.Equal(want):
		return fmt.Sprintf("%s = %s, want %s", name, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	case got.Location() != time.UTC:
		return fmt.Sprintf("%s = %s is in %q, want UTC", name, got.Format(time.RFC3339Nano), got.Location())
	}
	return ""
}

// checkTime fails t when got is not want; see timeDiff.
func checkTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if d := timeDiff(what, got, want); d != "" {
		t.Error(d)
	}
}

// credentialDiff lists the fields in which got differs from want.
func credentialDiff[U comparable](got, want *mcpoauth.CredentialRecord[U]) []string {
	var d []string
	field := func(name string, ok bool, g, w any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, fmt.Sprint(g), fmt.Sprint(w)))
		}
	}
	field("ID", got.ID == want.ID, got.ID, want.ID)
	field("UserID", got.UserID == want.UserID, got.UserID, want.UserID)
	field("ServerURL", got.ServerURL == want.ServerURL, got.ServerURL, want.ServerURL)
	field("Issuer", got.Issuer == want.Issuer, got.Issuer, want.Issuer)
	field("TokenData", got.TokenData == want.TokenData, got.TokenData, want.TokenData)
	field("ClientData", got.ClientData == want.ClientData, got.ClientData, want.ClientData)
	field("GrantedScope", got.GrantedScope == want.GrantedScope, got.GrantedScope, want.GrantedScope)
	field("RequiredScope", got.RequiredScope == want.RequiredScope, got.RequiredScope, want.RequiredScope)
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{
		{"TokenExpiresAt", got.TokenExpiresAt, want.TokenExpiresAt},
		{"LastRefreshedAt", got.LastRefreshedAt, want.LastRefreshedAt},
		{"ReauthRequiredAt", got.ReauthRequiredAt, want.ReauthRequiredAt},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
	} {
		if s := timeDiff(tm.name, tm.got, tm.want); s != "" {
			d = append(d, s)
		}
	}
	return d
}

// checkCredential fails t when got is not want, field by field.
func checkCredential[U comparable](t testing.TB, what string, got, want *mcpoauth.CredentialRecord[U]) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil record", what)
		return
	}
	if d := credentialDiff(got, want); len(d) > 0 {
		t.Errorf("%s: the row differs from the one stored:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// checkState fails t when got is not want, field by field.
func checkState[U comparable](t testing.TB, what string, got, want *mcpoauth.StateRecord[U]) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil record", what)
		return
	}
	var d []string
	field := func(name string, ok bool, g, w any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, fmt.Sprint(g), fmt.Sprint(w)))
		}
	}
	field("ID", got.ID == want.ID, got.ID, want.ID)
	field("UserID", got.UserID == want.UserID, got.UserID, want.UserID)
	field("ServerURL", got.ServerURL == want.ServerURL, got.ServerURL, want.ServerURL)
	field("StateParam", got.StateParam == want.StateParam, got.StateParam, want.StateParam)
	field("PKCEData", got.PKCEData == want.PKCEData, got.PKCEData, want.PKCEData)
	field("Issuer", got.Issuer == want.Issuer, got.Issuer, want.Issuer)
	field("RedirectURI", got.RedirectURI == want.RedirectURI, got.RedirectURI, want.RedirectURI)
	field("RequestedScope", got.RequestedScope == want.RequestedScope, got.RequestedScope, want.RequestedScope)
	if s := timeDiff("ExpiresAt", got.ExpiresAt, want.ExpiresAt); s != "" {
		d = append(d, s)
	}
	if s := timeDiff("CreatedAt", got.CreatedAt, want.CreatedAt); s != "" {
		d = append(d, s)
	}
	if len(d) > 0 {
		t.Errorf("%s: the state differs from the one stored:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// tokenDiff describes how got differs from want, without printing
// secrets.
func tokenDiff(got, want mcpoauth.Token) string {
	var d []string
	if got.AccessToken != want.AccessToken {
		d = append(d, "AccessToken")
	}
	if got.RefreshToken != want.RefreshToken {
		d = append(d, "RefreshToken")
	}
	if got.TokenType != want.TokenType {
		d = append(d, "TokenType")
	}
	if !got.Expiry.Equal(want.Expiry) {
		d = append(d, "Expiry")
	}
	if got.Scope != want.Scope {
		d = append(d, "Scope")
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprintf("token %v differs from %v in %s", got, want, strings.Join(d, ", "))
}

// firstErrors reports the non-nil errors of concurrent callers.
func firstErrors(t testing.TB, what string, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s (caller %d): %v", what, i, err)
		}
	}
}

// maxCounter counts the callers inside a critical section and remembers
// the most there were at once.
type maxCounter struct {
	mu          sync.Mutex
	inside, max int
}

func (c *maxCounter) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inside++
	c.max = max(c.max, c.inside)
}

func (c *maxCounter) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inside--
}

func (c *maxCounter) most() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}
