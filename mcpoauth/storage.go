package mcpoauth

import (
	"context"
	"time"
)

// Storage is what the runtime needs of a database: four small stores of
// rows whose secrets are already sealed. An app's generated SQL store
// implements it for its dialect, tables and user ID type U; another store
// (a key-value database, a test fake) can implement it too, and proves it
// does with storagetest.TestStorage.
//
// Implementations never see a secret in the clear: the runtime's Store
// seals tokens, client secrets and PKCE verifiers before they reach
// Storage and opens them after, binding each ciphertext to its row.
// Methods report a missing row with an error wrapping ErrNotFound. Times
// are given in UTC; an implementation may keep them at microsecond
// precision, and returns the zero time for a NULL column.
type Storage[U comparable] interface {
	CredentialStorage[U]
	StateStorage[U]
	ClientStorage
	RateCounter[U]
}

// CredentialRecord is a row of mcp_oauth_credentials as stored: one per
// user and MCP server.
type CredentialRecord[U comparable] struct {
	ID               int64
	UserID           U
	ServerURL        string
	Issuer           string // "" for NULL
	TokenData        string // the sealed Token
	ClientData       string // the sealed ClientInfo; "" for NULL
	GrantedScope     string // "" for NULL
	RequiredScope    string // "" for NULL
	TokenExpiresAt   time.Time
	LastRefreshedAt  time.Time
	ReauthRequiredAt time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// CredentialStorage keeps credential rows, unique per (UserID, ServerURL).
type CredentialStorage[U comparable] interface {
	// FindCredential returns the user's row for serverURL.
	FindCredential(ctx context.Context, userID U, serverURL string) (*CredentialRecord[U], error)

	// ListCredentials returns the user's rows, ordered by server URL.
	ListCredentials(ctx context.Context, userID U) ([]*CredentialRecord[U], error)

	// ListExpiringCredentials returns at most limit rows not marked
	// reauth-required whose token expires at or before before, soonest
	// first.
	ListExpiringCredentials(ctx context.Context, before time.Time, limit int) ([]*CredentialRecord[U], error)

	// UpsertCredential inserts r, or replaces every column of the row of
	// the same user and server but CreatedAt. It sets r.ID and r.CreatedAt
	// to the stored row's.
	UpsertCredential(ctx context.Context, r *CredentialRecord[U]) error

	// DeleteCredential deletes the user's row for serverURL.
	DeleteCredential(ctx context.Context, userID U, serverURL string) error

	// MarkReauthRequired sets ReauthRequiredAt to at unless it is set
	// already (the first refusal is the one to report), and UpdatedAt to at.
	MarkReauthRequired(ctx context.Context, userID U, serverURL string, at time.Time) error

	// UpdateCredentialLocked is the lock primitive of the refresh
	// protocol. It locks the user's row for serverURL against every other
	// process sharing the storage (SELECT … FOR UPDATE, BEGIN IMMEDIATE,
	// a lease), reads it under the lock and calls fn with it. When fn
	// returns a record it replaces the row (same ID, user and server)
	// before the lock is released; nil stores nothing; an error aborts
	// and is returned. It returns ErrNotFound, without calling fn, when
	// there is no row. fn must not call the storage for the same row.
	UpdateCredentialLocked(ctx context.Context, userID U, serverURL string,
		fn func(cur *CredentialRecord[U]) (*CredentialRecord[U], error)) error
}

// StateRecord is a row of mcp_oauth_states: a pending authorization flow.
type StateRecord[U comparable] struct {
	ID             int64
	UserID         U
	ServerURL      string
	StateParam     string // unique; the OAuth state parameter
	PKCEData       string // the sealed PKCE verifier
	Issuer         string
	RedirectURI    string
	RequestedScope string
	ExpiresAt      time.Time
	CreatedAt      time.Time
}

// StateStorage keeps pending flows. A user may have several at once.
type StateStorage[U comparable] interface {
	// CreateState inserts r and sets r.ID.
	CreateState(ctx context.Context, r *StateRecord[U]) error

	// TakeState deletes the user's row with stateParam and returns it,
	// expired or not. Of two concurrent callers exactly one gets it; the
	// other, and a caller naming another user's state, get ErrNotFound.
	TakeState(ctx context.Context, userID U, stateParam string) (*StateRecord[U], error)

	// DeleteExpiredStates deletes at most limit rows that expired at or
	// before now and returns how many it deleted.
	DeleteExpiredStates(ctx context.Context, now time.Time, limit int) (int64, error)
}

// ClientRecord is a row of mcp_oauth_clients: the client this app
// registered with one authorization server, shared by every user.
type ClientRecord struct {
	Issuer    string // unique
	Data      string // the sealed ClientInfo
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClientStorage keeps registered clients, one per issuer.
type ClientStorage interface {
	// FindClient returns the row of issuer.
	FindClient(ctx context.Context, issuer string) (*ClientRecord, error)

	// SaveClient inserts r or replaces the row of r.Issuer.
	SaveClient(ctx context.Context, r *ClientRecord) error

	// AddClient inserts r unless a row of r.Issuer exists, and returns
	// the row stored afterwards: r, or the one another process added
	// first. So processes registering at once agree on one client.
	AddClient(ctx context.Context, r *ClientRecord) (*ClientRecord, error)
}

// RateWindow is one fixed window of one limit, counted per user.
type RateWindow struct {
	Bucket string // the limit's name
	Start  time.Time
	End    time.Time // when the count may be deleted
}

// RateCounter counts requests per user in fixed windows, shared by every
// process of the app.
type RateCounter[U comparable] interface {
	// CountRequest adds one to the user's count in each window, atomically,
	// and calls allow with the counts after adding. When allow returns
	// false, nothing is counted.
	CountRequest(ctx context.Context, userID U, windows []RateWindow, allow func(counts []int) bool) error

	// DeleteExpiredCounts deletes at most limit counts of windows that
	// ended at or before now and returns how many it deleted.
	DeleteExpiredCounts(ctx context.Context, now time.Time, limit int) (int64, error)
}
