package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

type credRecord[U comparable] = mcpoauth.CredentialRecord[U]

func findCredential[U comparable](t testing.TB, e *env[U], s mcpoauth.Storage[U], user U, server string) *credRecord[U] {
	t.Helper()
	r, err := s.FindCredential(e.ctx, user, server)
	if err != nil {
		t.Fatalf("FindCredential: %v", err)
	}
	if r == nil {
		t.Fatal("FindCredential returned a nil record and no error")
	}
	return r
}

func upsertCredential[U comparable](t testing.TB, e *env[U], s mcpoauth.Storage[U], r *credRecord[U]) {
	t.Helper()
	if err := s.UpsertCredential(e.ctx, r); err != nil {
		t.Fatalf("UpsertCredential: %v", err)
	}
}

// testCredentialLifecycle saves, finds, replaces and deletes a raw row.
func testCredentialLifecycle[U comparable](t *testing.T, e *env[U]) {
	ctx, s := e.ctx, e.storage
	user, server := e.user(), e.server("lifecycle")

	_, err := s.FindCredential(ctx, user, server)
	wantNotFound(t, "FindCredential of a missing row", err)
	wantNotFound(t, "DeleteCredential of a missing row", s.DeleteCredential(ctx, user, server))
	wantNotFound(t, "MarkReauthRequired of a missing row", s.MarkReauthRequired(ctx, user, server, e.clock.Now()))
	called := false
	err = s.UpdateCredentialLocked(ctx, user, server, func(*credRecord[U]) (*credRecord[U], error) {
		called = true
		return nil, nil
	})
	wantNotFound(t, "UpdateCredentialLocked of a missing row", err)
	if called {
		t.Error("UpdateCredentialLocked of a missing row called fn")
	}

	// Every column round-trips; times at microsecond precision, in UTC.
	created := e.clock.Now()
	r := e.credentialRecord(user, server)
	r.TokenExpiresAt = time.Date(2031, 5, 6, 7, 8, 9, 987654000, time.UTC)
	r.LastRefreshedAt = created.Add(-90*time.Second + time.Microsecond)
	r.UpdatedAt = created.Add(7 * time.Microsecond)
	want := *r // ReauthRequiredAt is zero: NULL stays NULL
	upsertCredential(t, e, s, r)
	if r.ID == 0 {
		t.Fatal("UpsertCredential did not set the ID")
	}
	want.ID = r.ID
	checkCredential(t, "FindCredential after insert", findCredential(t, e, s, user, server), &want)
	checkCredential(t, "FindCredential through a second handle", findCredential(t, e, e.reopen(), user, server), &want)

	// An upsert of the same user and server replaces every column but
	// CreatedAt, NULLs included, and keeps the ID.
	e.clock.Advance(time.Minute)
	later := e.clock.Now()
	r2 := &credRecord[U]{
		UserID: user, ServerURL: server, TokenData: "sealed-token-" + randomHex(8),
		LastRefreshedAt: later, ReauthRequiredAt: later.Add(3 * time.Microsecond),
		CreatedAt: later, UpdatedAt: later,
	}
	want2 := *r2
	upsertCredential(t, e, s, r2)
	if r2.ID != r.ID {
		t.Errorf("the upsert of an existing row set ID %d, want the row's %d", r2.ID, r.ID)
	}
	want2.ID, want2.CreatedAt = r.ID, created
	checkCredential(t, "FindCredential after replacing the row", findCredential(t, e, s, user, server), &want2)
	if rows, err := s.ListCredentials(ctx, user); err != nil || len(rows) != 1 {
		t.Errorf("ListCredentials after an upsert of the same row: %d rows, %v; want 1", len(rows), err)
	}

	if err := s.DeleteCredential(ctx, user, server); err != nil {
		t.Fatalf("DeleteCredential: %v", err)
	}
	_, err = s.FindCredential(ctx, user, server)
	wantNotFound(t, "FindCredential after DeleteCredential", err)
	wantNotFound(t, "DeleteCredential twice", s.DeleteCredential(ctx, user, server))

	// The row can be made again.
	r3 := e.credentialRecord(user, server)
	want3 := *r3
	upsertCredential(t, e, s, r3)
	if r3.ID == 0 {
		t.Fatal("UpsertCredential after a delete did not set the ID")
	}
	want3.ID = r3.ID
	checkCredential(t, "FindCredential of a row made again after a delete", findCredential(t, e, s, user, server), &want3)
}

// testCredentialLifecycleThroughStore is the lifecycle of a credential
// sealed by a Store.
func testCredentialLifecycleThroughStore[U comparable](t *testing.T, e *env[U]) {
	ctx, store := e.ctx, e.store
	user, server := e.user(), e.server("lifecycle")
	now := e.clock.Now()

	if _, err := store.FindCredential(ctx, user, server); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Fatalf("Store.FindCredential before saving: err = %v, want ErrNotFound", err)
	}
	if ok, err := store.HasCredential(ctx, user, server); err != nil || ok {
		t.Fatalf("Store.HasCredential before saving = %v, %v; want false, nil", ok, err)
	}

	c := e.credential(user, server)
	if err := store.SaveCredential(ctx, c); err != nil {
		t.Fatalf("Store.SaveCredential: %v", err)
	}
	if c.ID == 0 {
		t.Error("Store.SaveCredential did not set the ID")
	}
	got, err := store.FindCredential(ctx, user, server)
	if err != nil {
		t.Fatalf("Store.FindCredential: %v", err)
	}
	if got.ID != c.ID || got.UserID != user || got.ServerURL != server || got.Issuer != c.Issuer || got.GrantedScope != c.GrantedScope {
		t.Errorf("Store.FindCredential = %v, want %v", got, c)
	}
	if d := tokenDiff(got.Token, c.Token); d != "" {
		t.Errorf("Store.FindCredential: %s", d)
	}
	if got.Client == nil || got.Client.ClientID != c.Client.ClientID || got.Client.ClientSecret != c.Client.ClientSecret ||
		!slices.Equal(got.Client.RedirectURIs, c.Client.RedirectURIs) {
		t.Errorf("client info = %v, want %v", got.Client, c.Client)
	}
	checkTime(t, "TokenExpiresAt", got.TokenExpiresAt, c.Token.Expiry)
	checkTime(t, "LastRefreshedAt", got.LastRefreshedAt, now)
	checkTime(t, "CreatedAt", got.CreatedAt, now)
	checkTime(t, "UpdatedAt", got.UpdatedAt, now)
	if got.ReauthRequired() {
		t.Error("a new credential requires re-authorization")
	}
	if ok, err := store.HasCredential(ctx, user, server); err != nil || !ok {
		t.Errorf("Store.HasCredential = %v, %v; want true, nil", ok, err)
	}
	// Another process's Store opens it.
	if got, err := e.newStore(e.reopen()).FindCredential(ctx, user, server); err != nil || got.Token.AccessToken != c.Token.AccessToken {
		t.Errorf("Store.FindCredential through a second handle = %v, %v; want the saved credential", got, err)
	}

	// Saving again replaces the credential, keeping its ID and creation
	// time.
	e.clock.Advance(time.Minute)
	c2 := e.credential(user, server)
	c2.Client, c2.Issuer = nil, ""
	if err := store.SaveCredential(ctx, c2); err != nil {
		t.Fatalf("Store.SaveCredential again: %v", err)
	}
	if c2.ID != c.ID {
		t.Errorf("saving again changed the ID from %d to %d", c.ID, c2.ID)
	}
	got, err = store.FindCredential(ctx, user, server)
	if err != nil {
		t.Fatalf("Store.FindCredential after saving again: %v", err)
	}
	if got.Token.AccessToken != c2.Token.AccessToken || got.Client != nil || got.Issuer != "" {
		t.Errorf("after saving again = %v, want the second credential", got)
	}
	checkTime(t, "CreatedAt after saving again", got.CreatedAt, now)
	checkTime(t, "UpdatedAt after saving again", got.UpdatedAt, e.clock.Now())

	if err := store.DeleteCredential(ctx, user, server); err != nil {
		t.Fatalf("Store.DeleteCredential: %v", err)
	}
	if _, err := store.FindCredential(ctx, user, server); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("Store.FindCredential after delete: err = %v, want ErrNotFound", err)
	}
	if err := store.DeleteCredential(ctx, user, server); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("Store.DeleteCredential twice: err = %v, want ErrNotFound", err)
	}
}

// testListCredentials lists a user's rows, and only theirs, by server URL.
func testListCredentials[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, other, nobody := e.user(), e.user(), e.user()
	alpha, beta, gamma := e.server("alpha"), e.server("beta"), e.server("gamma")

	saved := map[string]*mcpoauth.Credential[U]{}
	for _, c := range []*mcpoauth.Credential[U]{ // not in order
		e.credential(user, gamma),
		e.credential(user, alpha),
		e.credential(other, alpha),
		e.credential(user, beta),
	} {
		if err := store.SaveCredential(ctx, c); err != nil {
			t.Fatalf("Store.SaveCredential: %v", err)
		}
		if c.UserID == user {
			saved[c.ServerURL] = c
		}
	}

	rows, err := s.ListCredentials(ctx, user)
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	var urls []string
	for _, r := range rows {
		urls = append(urls, r.ServerURL)
		if r.UserID != user {
			t.Errorf("ListCredentials returned a row of user %v, want only %v's", r.UserID, user)
		}
		if r.ID == 0 || r.TokenData == "" {
			t.Errorf("ListCredentials returned an incomplete row for %s (ID %d, %d bytes of token data)", r.ServerURL, r.ID, len(r.TokenData))
		}
	}
	if want := []string{alpha, beta, gamma}; !slices.Equal(urls, want) {
		t.Errorf("ListCredentials = %q, want the user's three ordered by server URL, %q", urls, want)
	}

	creds, err := store.ListCredentials(ctx, user)
	if err != nil {
		t.Fatalf("Store.ListCredentials: %v", err)
	}
	if len(creds) != 3 {
		t.Fatalf("Store.ListCredentials: %d credentials, want 3", len(creds))
	}
	for _, c := range creds {
		want := saved[c.ServerURL]
		if want == nil || c.UserID != user {
			t.Errorf("Store.ListCredentials returned %v, not one of the user's", c)
			continue
		}
		if d := tokenDiff(c.Token, want.Token); d != "" || c.ID != want.ID {
			t.Errorf("Store.ListCredentials: credential %d for %s (want ID %d): %s", c.ID, c.ServerURL, want.ID, d)
		}
	}

	if rows, err := s.ListCredentials(ctx, other); err != nil || len(rows) != 1 || rows[0].ServerURL != alpha || rows[0].UserID != other {
		t.Errorf("ListCredentials of the other user: %d rows, %v; want their one for %s", len(rows), err, alpha)
	}
	if rows, err := s.ListCredentials(ctx, nobody); err != nil || len(rows) != 0 {
		t.Errorf("ListCredentials of a user without credentials: %d rows, %v; want none", len(rows), err)
	}
}

// testCredentialUniquePerUserAndServer checks that a row is unique per
// user and server: a second upsert replaces it.
func testCredentialUniquePerUserAndServer[U comparable](t *testing.T, e *env[U]) {
	ctx, s := e.ctx, e.storage
	user, other := e.user(), e.user()
	server, second := e.server("alpha"), e.server("beta")

	a := e.credentialRecord(user, server)
	upsertCredential(t, e, s, a)
	b := e.credentialRecord(user, server)
	upsertCredential(t, e, s, b)
	if b.ID != a.ID {
		t.Errorf("a second upsert for the same user and server got ID %d, want the first's %d", b.ID, a.ID)
	}
	c := e.credentialRecord(user, second)
	upsertCredential(t, e, s, c)
	d := e.credentialRecord(other, server)
	upsertCredential(t, e, s, d)
	if ids := []int64{a.ID, c.ID, d.ID}; slices.Contains(ids, 0) || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 {
		t.Errorf("rows of distinct (user, server) got IDs %v, want three distinct IDs", ids)
	}

	rows, err := s.ListCredentials(ctx, user)
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	if len(rows) != 2 {
		t.Fatalf("ListCredentials: %d rows after two upserts for one server and one for another, want 2", len(rows))
	}
	if rows[0].ServerURL != server || rows[0].TokenData != b.TokenData || rows[1].ServerURL != second || rows[1].TokenData != c.TokenData {
		t.Errorf("ListCredentials = [%s %s, %s %s], want [%s %s, %s %s]",
			rows[0].ServerURL, rows[0].TokenData, rows[1].ServerURL, rows[1].TokenData, server, b.TokenData, second, c.TokenData)
	}
	if got := findCredential(t, e, s, other, server); got.TokenData != d.TokenData {
		t.Errorf("the other user's row for the same server holds %q, want its own %q", got.TokenData, d.TokenData)
	}

	// The same through a Store: saving twice leaves one credential.
	u := e.user()
	for range 2 {
		if err := e.store.SaveCredential(ctx, e.credential(u, server)); err != nil {
			t.Fatalf("Store.SaveCredential: %v", err)
		}
	}
	if creds, err := e.store.ListCredentials(ctx, u); err != nil || len(creds) != 1 {
		t.Errorf("Store.ListCredentials after saving one credential twice: %d, %v; want 1", len(creds), err)
	}
}

// testDeletingUserDeletesTheirRows checks the foreign keys' cascade.
func testDeletingUserDeletesTheirRows[U comparable](t *testing.T, e *env[U]) {
	if e.fx.DeleteUser == nil {
		t.Skip("storagetest: Fixture.DeleteUser is nil, so deleting a user's credentials and states with the user is not checked")
	}
	ctx, s, store := e.ctx, e.storage, e.store
	user, other := e.user(), e.user()
	server := e.server("cascade")
	params := map[U]string{}
	for _, u := range []U{user, other} {
		if err := store.SaveCredential(ctx, e.credential(u, server)); err != nil {
			t.Fatal(err)
		}
		st := &mcpoauth.State[U]{UserID: u, ServerURL: server, Verifier: secret("verifier")}
		if err := store.CreateState(ctx, st); err != nil {
			t.Fatal(err)
		}
		params[u] = st.StateParam
	}
	e.fx.DeleteUser(t, user)

	_, err := s.FindCredential(ctx, user, server)
	wantNotFound(t, "FindCredential of a deleted user", err)
	if rows, err := s.ListCredentials(ctx, user); err != nil || len(rows) != 0 {
		t.Errorf("ListCredentials of a deleted user: %d rows, %v; want none", len(rows), err)
	}
	_, err = s.TakeState(ctx, user, params[user])
	wantNotFound(t, "TakeState of a deleted user", err)

	if _, err := store.FindCredential(ctx, other, server); err != nil {
		t.Errorf("deleting one user deleted another's credential: %v", err)
	}
	if _, err := store.ConsumeState(ctx, other, params[other]); err != nil {
		t.Errorf("deleting one user deleted another's state: %v", err)
	}
}

// testTokenStorage loads, saves and deletes through Store.TokenStorage.
func testTokenStorage[U comparable](t *testing.T, e *env[U]) {
	ctx, store := e.ctx, e.store
	user, server := e.user(), e.server("tokens")
	ts := store.TokenStorage(user, server)

	if _, err := ts.Load(ctx); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Fatalf("Load before Save: err = %v, want ErrNotFound", err)
	}
	first := mcpoauth.Token{AccessToken: secret("first"), RefreshToken: secret("r1"), TokenType: "Bearer",
		Expiry: e.clock.Now().Add(time.Hour), Scope: "mcp:read"}
	if err := ts.Save(ctx, first); err != nil {
		t.Fatalf("Save into no credential: %v", err)
	}
	got, err := ts.Load(ctx)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if d := tokenDiff(*got, first); d != "" {
		t.Fatalf("Load after Save: %s", d)
	}
	if c, err := store.FindCredential(ctx, user, server); err != nil || c.GrantedScope != "mcp:read" ||
		timeDiff("LastRefreshedAt", c.LastRefreshedAt, e.clock.Now()) != "" {
		t.Errorf("the credential Save made = %v, %v; want granted scope mcp:read, refreshed now", c, err)
	}

	// A full credential keeps its client and issuer when a refresh saves a
	// token, and loses its re-authorization mark.
	c := e.credential(user, server)
	if err := store.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkReauthRequired(ctx, user, server); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	second := mcpoauth.Token{AccessToken: secret("second"), RefreshToken: secret("r2"), TokenType: "Bearer",
		Expiry: e.clock.Now().Add(time.Hour)}
	if err := ts.Save(ctx, second); err != nil {
		t.Fatalf("Save: %v", err)
	}
	cred, err := store.FindCredential(ctx, user, server)
	if err != nil {
		t.Fatal(err)
	}
	if d := tokenDiff(cred.Token, second); d != "" {
		t.Errorf("after Save: %s", d)
	}
	if cred.Client == nil || cred.Client.ClientID != c.Client.ClientID || cred.Issuer != c.Issuer {
		t.Errorf("after Save = %v; want the old client and issuer kept", cred)
	}
	if cred.GrantedScope != c.GrantedScope {
		t.Errorf("a token without scope changed the granted scope to %q, want %q", cred.GrantedScope, c.GrantedScope)
	}
	checkTime(t, "LastRefreshedAt after Save", cred.LastRefreshedAt, e.clock.Now())
	checkTime(t, "TokenExpiresAt after Save", cred.TokenExpiresAt, second.Expiry)
	checkTime(t, "ReauthRequiredAt after Save", cred.ReauthRequiredAt, time.Time{})
	if cred.ID != c.ID {
		t.Errorf("Save changed the credential's ID from %d to %d", c.ID, cred.ID)
	}
	// Another process sees the saved token.
	if got, err := e.newStore(e.reopen()).TokenStorage(user, server).Load(ctx); err != nil || tokenDiff(*got, second) != "" {
		t.Errorf("Load through a second handle = %v, %v; want the saved token", got, err)
	}

	if err := ts.Delete(ctx); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := ts.Delete(ctx); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
	if _, err := ts.Load(ctx); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("Load after Delete: err = %v, want ErrNotFound", err)
	}
	if ts.UserID() != user || ts.ServerURL() != server {
		t.Errorf("TokenStorage is for (%v, %q), want (%v, %q)", ts.UserID(), ts.ServerURL(), user, server)
	}
}

// testMarkReauthRequired sets ReauthRequiredAt and UpdatedAt, and nothing
// else.
func testMarkReauthRequired[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, server := e.user(), e.server("reauth")

	r := e.credentialRecord(user, server)
	upsertCredential(t, e, s, r)
	want := *r
	at := e.clock.Now().Add(42*time.Second + 7*time.Microsecond)
	if err := s.MarkReauthRequired(ctx, user, server, at); err != nil {
		t.Fatalf("MarkReauthRequired: %v", err)
	}
	want.ReauthRequiredAt, want.UpdatedAt = at, at
	checkCredential(t, "FindCredential after MarkReauthRequired", findCredential(t, e, s, user, server), &want)
	wantNotFound(t, "MarkReauthRequired of another user's server", s.MarkReauthRequired(ctx, e.user(), server, at))

	// Through a Store.
	u := e.user()
	if err := store.MarkReauthRequired(ctx, u, server); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("Store.MarkReauthRequired without a credential: err = %v, want ErrNotFound", err)
	}
	c := e.credential(u, server)
	if err := store.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := store.MarkReauthRequired(ctx, u, server); err != nil {
		t.Fatalf("Store.MarkReauthRequired: %v", err)
	}
	got, err := store.FindCredential(ctx, u, server)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ReauthRequired() {
		t.Error("Store.MarkReauthRequired: the credential does not require re-authorization")
	}
	checkTime(t, "ReauthRequiredAt", got.ReauthRequiredAt, e.clock.Now())
	checkTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
	if d := tokenDiff(got.Token, c.Token); d != "" {
		t.Errorf("after MarkReauthRequired: %s", d)
	}
	if ok, err := store.HasCredential(ctx, u, server); err != nil || !ok {
		t.Errorf("a credential needing re-authorization: HasCredential = %v, %v; want true", ok, err)
	}
}

// testListExpiringCredentials lists the rows about to expire, soonest
// first. The rows are dated around a random minute of 2000-2010, so that
// the ones of other subtests (dated today) do not qualify; rows of others
// that do are allowed, but must obey the contract too.
func testListExpiringCredentials[U comparable](t *testing.T, e *env[U]) {
	ctx, s := e.ctx, e.storage
	user := e.user()
	base := farPast()
	before := base.Add(5 * time.Minute)
	rows := []struct {
		name    string
		expires time.Time
		reauth  string // "", "marked" (MarkReauthRequired) or "stored" (in the upserted row)
	}{
		{"later", base.Add(2 * time.Hour), ""},
		{"soon", base.Add(2 * time.Minute), ""},
		{"after", before.Add(time.Microsecond), ""},
		{"gone", base.Add(-time.Minute), ""},
		{"edge", before, ""},
		{"marked", base.Add(time.Minute), "marked"},
		{"stored", base, "stored"},
		{"never", time.Time{}, ""},
	}
	byName := map[string]*credRecord[U]{}
	for _, row := range rows {
		r := e.credentialRecord(user, e.server(row.name))
		r.TokenExpiresAt = row.expires
		if row.reauth == "stored" {
			r.ReauthRequiredAt = base.Add(-time.Hour)
		}
		upsertCredential(t, e, s, r)
		if row.reauth == "marked" {
			if err := s.MarkReauthRequired(ctx, user, r.ServerURL, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		byName[row.name] = r
	}
	t.Cleanup(func() { // t.Context() is done by now
		for _, r := range byName {
			_ = s.DeleteCredential(context.Background(), user, r.ServerURL)
		}
	})

	list, err := s.ListExpiringCredentials(ctx, before, 1000)
	if err != nil {
		t.Fatalf("ListExpiringCredentials: %v", err)
	}
	var mine []string
	for i, r := range list {
		if r.TokenExpiresAt.IsZero() || r.TokenExpiresAt.After(before) {
			t.Errorf("ListExpiringCredentials(%s) returned a row expiring at %s (%s)", before.Format(time.RFC3339Nano), r.TokenExpiresAt.Format(time.RFC3339Nano), r.ServerURL)
		}
		if !r.ReauthRequiredAt.IsZero() {
			t.Errorf("ListExpiringCredentials returned a row marked reauth-required (%s)", r.ServerURL)
		}
		if i > 0 && r.TokenExpiresAt.Before(list[i-1].TokenExpiresAt) {
			t.Errorf("ListExpiringCredentials is not soonest first: %s after %s", r.TokenExpiresAt.Format(time.RFC3339Nano), list[i-1].TokenExpiresAt.Format(time.RFC3339Nano))
		}
		if r.UserID == user {
			mine = append(mine, strings.TrimPrefix(r.ServerURL, e.server("")))
			checkCredential(t, "a listed row", r, byName[strings.TrimPrefix(r.ServerURL, e.server(""))])
		}
	}
	if want := []string{"gone", "soon", "edge"}; !slices.Equal(mine, want) {
		t.Errorf("ListExpiringCredentials listed %q of this test's rows, want %q (soonest first, expiring at or before %s, none reauth-required or without expiry)",
			mine, want, before.Format(time.RFC3339Nano))
	}

	// The limit is respected, and keeps the soonest.
	limited, err := s.ListExpiringCredentials(ctx, before, 2)
	if err != nil {
		t.Fatalf("ListExpiringCredentials with limit 2: %v", err)
	}
	if len(limited) != 2 {
		t.Fatalf("ListExpiringCredentials with limit 2 returned %d rows, want 2 (at least 3 qualify)", len(limited))
	}
	for i, r := range limited {
		if i < len(list) && !r.TokenExpiresAt.Equal(list[i].TokenExpiresAt) {
			t.Errorf("ListExpiringCredentials with limit 2: row %d expires at %s, want the soonest, %s",
				i, r.TokenExpiresAt.Format(time.RFC3339Nano), list[i].TokenExpiresAt.Format(time.RFC3339Nano))
		}
	}

	if _, err := e.store.ListExpiringCredentials(ctx, before, 0); err == nil {
		t.Error("Store.ListExpiringCredentials with limit 0: no error")
	}
}

// testUpdateCredentialLocked calls UpdateCredentialLocked on raw rows.
func testUpdateCredentialLocked[U comparable](t *testing.T, e *env[U]) {
	ctx, s := e.ctx, e.storage
	user, server := e.user(), e.server("locked")
	r := e.credentialRecord(user, server)
	r.ReauthRequiredAt = e.clock.Now().Add(-time.Second)
	upsertCredential(t, e, s, r)

	// fn sees the current row, changed by another handle too.
	changed := e.credentialRecord(user, server)
	changed.ReauthRequiredAt = r.ReauthRequiredAt
	upsertCredential(t, e, e.reopen(), changed)
	stored := *changed
	stored.ID, stored.CreatedAt = r.ID, r.CreatedAt
	calls := 0
	if err := s.UpdateCredentialLocked(ctx, user, server, func(cur *credRecord[U]) (*credRecord[U], error) {
		calls++
		checkCredential(t, "the row fn got", cur, &stored)
		return nil, nil
	}); err != nil {
		t.Fatalf("UpdateCredentialLocked with fn returning nil: %v", err)
	}
	if calls != 1 {
		t.Errorf("UpdateCredentialLocked called fn %d times, want once", calls)
	}
	// nil stored nothing.
	checkCredential(t, "the row after fn returned nil", findCredential(t, e, s, user, server), &stored)

	// An error aborts: nothing is stored, and the error comes back.
	boom := errors.New("token endpoint down")
	err := s.UpdateCredentialLocked(ctx, user, server, func(cur *credRecord[U]) (*credRecord[U], error) {
		cur.TokenData, cur.UpdatedAt = "must-not-be-stored", e.clock.Now().Add(time.Hour)
		return cur, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("UpdateCredentialLocked with a failing fn: err = %v, want it to wrap %v", err, boom)
	}
	checkCredential(t, "the row after fn failed", findCredential(t, e, s, user, server), &stored)

	// A returned row replaces it, NULLs included, under the same ID.
	later := e.clock.Now().Add(time.Minute + 5*time.Microsecond)
	var next credRecord[U]
	err = s.UpdateCredentialLocked(ctx, user, server, func(cur *credRecord[U]) (*credRecord[U], error) {
		next = *cur
		next.TokenData, next.ClientData, next.Issuer = "sealed-refreshed-"+randomHex(8), "", ""
		next.GrantedScope, next.RequiredScope = "mcp:read", ""
		next.TokenExpiresAt, next.LastRefreshedAt, next.UpdatedAt = later.Add(time.Hour), later, later
		next.ReauthRequiredAt = time.Time{}
		n := next
		return &n, nil
	})
	if err != nil {
		t.Fatalf("UpdateCredentialLocked: %v", err)
	}
	checkCredential(t, "the row after fn returned a new one", findCredential(t, e, s, user, server), &next)
	checkCredential(t, "the updated row through a second handle", findCredential(t, e, e.reopen(), user, server), &next)
	if err := s.UpdateCredentialLocked(ctx, user, server, func(cur *credRecord[U]) (*credRecord[U], error) {
		checkCredential(t, "the row the next fn got", cur, &next)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if rows, err := s.ListCredentials(ctx, user); err != nil || len(rows) != 1 {
		t.Errorf("ListCredentials after updates: %d rows, %v; want 1", len(rows), err)
	}
}

// testUpdateCredentialLockedThroughStore calls Store.UpdateCredentialLocked.
func testUpdateCredentialLockedThroughStore[U comparable](t *testing.T, e *env[U]) {
	ctx, store := e.ctx, e.store
	user, server := e.user(), e.server("locked")

	called := false
	err := store.UpdateCredentialLocked(ctx, user, server, func(*mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, mcpoauth.ErrNotFound) || called {
		t.Fatalf("Store.UpdateCredentialLocked without a credential: err = %v, fn called %v; want ErrNotFound, not called", err, called)
	}

	c := e.credential(user, server)
	if err := store.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := findCredential(t, e, e.storage, user, server)
	// nil: nothing to store.
	if err := store.UpdateCredentialLocked(ctx, user, server, func(cur *mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
		if d := tokenDiff(cur.Token, c.Token); d != "" {
			t.Errorf("fn got the wrong token: %s", d)
		}
		return nil, nil
	}); err != nil {
		t.Fatalf("Store.UpdateCredentialLocked returning nil: %v", err)
	}
	checkCredential(t, "the row after fn returned nil", findCredential(t, e, e.storage, user, server), before)

	// An error aborts and comes back wrapped.
	boom := errors.New("token endpoint down")
	err = store.UpdateCredentialLocked(ctx, user, server, func(cur *mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
		cur.Token.AccessToken = "must-not-be-stored"
		return cur, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Store.UpdateCredentialLocked with a failing fn: err = %v, want it to wrap %v", err, boom)
	}
	checkCredential(t, "the row after fn failed", findCredential(t, e, e.storage, user, server), before)

	// A new credential is stored.
	e.clock.Advance(time.Minute)
	refreshed := mcpoauth.Token{AccessToken: secret("refreshed"), RefreshToken: secret("rotated"), Expiry: e.clock.Now().Add(time.Hour)}
	err = store.UpdateCredentialLocked(ctx, user, server, func(cur *mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
		cur.Token = refreshed
		cur.LastRefreshedAt = e.clock.Now()
		return cur, nil
	})
	if err != nil {
		t.Fatalf("Store.UpdateCredentialLocked: %v", err)
	}
	got, err := store.FindCredential(ctx, user, server)
	if err != nil {
		t.Fatal(err)
	}
	if d := tokenDiff(got.Token, refreshed); d != "" {
		t.Errorf("after the update: %s", d)
	}
	if got.Client == nil || got.Client.ClientSecret != c.Client.ClientSecret || got.ID != c.ID {
		t.Errorf("after the update = %v, want the same credential with its client", got)
	}
	checkTime(t, "LastRefreshedAt", got.LastRefreshedAt, e.clock.Now())
	checkTime(t, "TokenExpiresAt", got.TokenExpiresAt, refreshed.Expiry)
	checkTime(t, "CreatedAt", got.CreatedAt, before.CreatedAt)

	// fn may not move the credential to another user or server.
	err = store.UpdateCredentialLocked(ctx, user, server, func(cur *mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
		cur.ServerURL = e.server("elsewhere")
		return cur, nil
	})
	if err == nil {
		t.Error("Store.UpdateCredentialLocked let fn change the server URL")
	}
	if _, err := e.storage.FindCredential(ctx, user, e.server("elsewhere")); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("a credential moved by fn was stored under the other server (err = %v)", err)
	}
	if err := store.UpdateCredentialLocked(ctx, user, server, nil); err == nil {
		t.Error("Store.UpdateCredentialLocked with a nil fn: no error")
	}
}

// refreshWorkers is how many goroutines each of the two handles runs in
// the concurrency subtests.
const refreshWorkers = 8

// testConcurrentRefreshHappensOnce races the refresh protocol: two
// processes' worth of workers, each process with its own Store and storage
// handle, all finding one expired token and refreshing it under the lock.
// Only the first may refresh (a rotating refresh token works once); every
// other must see the new token under the lock and store nothing.
func testConcurrentRefreshHappensOnce[U comparable](t *testing.T, e *env[U]) {
	ctx := e.ctx
	user, server := e.user(), e.server("refresh")
	c := e.credential(user, server)
	c.Token.Expiry = e.clock.Now().Add(-time.Minute)
	old := c.Token
	if err := e.store.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	stores := []*mcpoauth.Store[U]{e.newStore(e.storage), e.newStore(e.reopen())}
	fresh := mcpoauth.Token{AccessToken: secret("new-access"), RefreshToken: secret("new-refresh"), TokenType: "Bearer",
		Expiry: e.clock.Now().Add(time.Hour)}

	var refreshes sync.Map // worker -> true
	var holders maxCounter
	n := len(stores) * refreshWorkers
	errs := make([]error, n)
	seen := make([]mcpoauth.Token, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			err := s.UpdateCredentialLocked(ctx, user, server, func(cur *mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
				holders.enter()
				defer holders.leave()
				time.Sleep(10 * time.Millisecond) // the token request
				if cur.Token.AccessToken != old.AccessToken || cur.Token.RefreshToken != old.RefreshToken {
					seen[i] = cur.Token // refreshed by another worker meanwhile
					return nil, nil
				}
				refreshes.Store(i, true)
				cur.Token, cur.LastRefreshedAt = fresh, e.clock.Now()
				seen[i] = fresh
				return cur, nil
			})
			if err != nil {
				errs[i] = err
				return
			}
			// And the worker reads the token back, as its caller would.
			got, err := s.FindCredential(ctx, user, server)
			if err != nil {
				errs[i] = fmt.Errorf("FindCredential after the update: %w", err)
				return
			}
			if d := tokenDiff(got.Token, fresh); d != "" {
				errs[i] = fmt.Errorf("after its update the worker finds the wrong token: %s", d)
			}
		})
	}
	close(start)
	wg.Wait()
	firstErrors(t, "Store.UpdateCredentialLocked", errs)

	count := 0
	refreshes.Range(func(any, any) bool { count++; return true })
	if count != 1 {
		t.Errorf("%d of %d concurrent workers refreshed the token, want exactly 1: the others must see the new token under the lock", count, n)
	}
	if most := holders.most(); most != 1 {
		t.Errorf("%d workers were inside fn at once, want 1", most)
	}
	for i, tok := range seen {
		if d := tokenDiff(tok, fresh); d != "" {
			t.Errorf("worker %d (handle %d) ended with the wrong token: %s", i, i%len(stores), d)
		}
	}
	for i, s := range stores {
		got, err := s.FindCredential(ctx, user, server)
		if err != nil {
			t.Fatal(err)
		}
		if d := tokenDiff(got.Token, fresh); d != "" {
			t.Errorf("handle %d finds the wrong token after the refresh: %s", i, d)
		}
		if got.Client == nil || got.Client.ClientID != c.Client.ClientID {
			t.Errorf("handle %d: the refresh lost the client info: %v", i, got)
		}
	}
}

// testConcurrentUpdatesAreSerialised runs concurrent read-modify-write
// updates of one credential from two handles: a lost update, or two
// workers inside fn at once, fails it.
func testConcurrentUpdatesAreSerialised[U comparable](t *testing.T, e *env[U]) {
	ctx := e.ctx
	user, server := e.user(), e.server("counter")
	c := e.credential(user, server)
	c.Token.AccessToken = "n0"
	if err := e.store.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	stores := []*mcpoauth.Store[U]{e.newStore(e.storage), e.newStore(e.reopen())}

	var holders maxCounter
	n := len(stores) * refreshWorkers
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			errs[i] = s.UpdateCredentialLocked(ctx, user, server, func(cur *mcpoauth.Credential[U]) (*mcpoauth.Credential[U], error) {
				holders.enter()
				defer holders.leave()
				count, err := strconv.Atoi(strings.TrimPrefix(cur.Token.AccessToken, "n"))
				if err != nil {
					return nil, fmt.Errorf("unexpected token %q", cur.Token.AccessToken)
				}
				time.Sleep(5 * time.Millisecond)
				cur.Token.AccessToken = "n" + strconv.Itoa(count+1)
				return cur, nil
			})
		})
	}
	close(start)
	wg.Wait()
	firstErrors(t, "Store.UpdateCredentialLocked", errs)
	if most := holders.most(); most != 1 {
		t.Errorf("%d workers were inside fn at once, want 1", most)
	}
	got, err := e.newStore(e.reopen()).FindCredential(ctx, user, server)
	if err != nil {
		t.Fatal(err)
	}
	if want := "n" + strconv.Itoa(n); got.Token.AccessToken != want {
		t.Errorf("after %d serialised increments the token is %q, want %q: an update was lost", n, got.Token.AccessToken, want)
	}
}
