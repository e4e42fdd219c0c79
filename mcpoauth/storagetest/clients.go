package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

// checkClient fails t when got is not want.
func checkClient(t testing.TB, what string, got, want *mcpoauth.ClientRecord) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: nil record", what)
		return
	}
	var d []string
	if got.Issuer != want.Issuer {
		d = append(d, fmt.Sprintf("Issuer = %q, want %q", got.Issuer, want.Issuer))
	}
	if got.Data != want.Data {
		d = append(d, fmt.Sprintf("Data = %q, want %q", got.Data, want.Data))
	}
	if s := timeDiff("CreatedAt", got.CreatedAt, want.CreatedAt); s != "" {
		d = append(d, s)
	}
	if s := timeDiff("UpdatedAt", got.UpdatedAt, want.UpdatedAt); s != "" {
		d = append(d, s)
	}
	if len(d) > 0 {
		t.Errorf("%s: the client differs from the one stored:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func findClient[U comparable](t testing.TB, e *env[U], s mcpoauth.Storage[U], issuer string) *mcpoauth.ClientRecord {
	t.Helper()
	r, err := s.FindClient(e.ctx, issuer)
	if err != nil {
		t.Fatalf("FindClient: %v", err)
	}
	if r == nil {
		t.Fatal("FindClient returned a nil record and no error")
	}
	return r
}

// testClientLifecycle saves, replaces and adds raw client rows, and
// clients through a Store.
func testClientLifecycle[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	issuer, other := e.issuer("one"), e.issuer("two")

	_, err := s.FindClient(ctx, issuer)
	wantNotFound(t, "FindClient of a missing issuer", err)

	t0 := e.clock.Now()
	first := &mcpoauth.ClientRecord{Issuer: issuer, Data: "sealed-client-" + randomHex(8), CreatedAt: t0, UpdatedAt: t0.Add(time.Microsecond)}
	want := *first
	if err := s.SaveClient(ctx, first); err != nil {
		t.Fatalf("SaveClient: %v", err)
	}
	checkClient(t, "FindClient after SaveClient", findClient(t, e, e.reopen(), issuer), &want)
	_, err = s.FindClient(ctx, other)
	wantNotFound(t, "FindClient of another issuer", err)

	// SaveClient replaces.
	e.clock.Advance(time.Minute)
	t1 := e.clock.Now()
	second := &mcpoauth.ClientRecord{Issuer: issuer, Data: "sealed-client-" + randomHex(8), CreatedAt: t1, UpdatedAt: t1}
	if err := s.SaveClient(ctx, second); err != nil {
		t.Fatalf("SaveClient again: %v", err)
	}
	got := findClient(t, e, s, issuer)
	if got.Data != second.Data || got.Issuer != issuer {
		t.Errorf("FindClient after SaveClient replaced the row: Data = %q, want %q", got.Data, second.Data)
	}
	checkTime(t, "UpdatedAt after SaveClient replaced the row", got.UpdatedAt, t1)
	stored := *got

	// AddClient keeps the stored row, and returns it.
	third := &mcpoauth.ClientRecord{Issuer: issuer, Data: "sealed-client-" + randomHex(8), CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}
	kept, err := s.AddClient(ctx, third)
	if err != nil {
		t.Fatalf("AddClient over a stored client: %v", err)
	}
	checkClient(t, "AddClient over a stored client (want the stored one)", kept, &stored)
	checkClient(t, "FindClient after AddClient over a stored client", findClient(t, e, s, issuer), &stored)

	// AddClient of a new issuer stores it.
	fourth := &mcpoauth.ClientRecord{Issuer: other, Data: "sealed-client-" + randomHex(8), CreatedAt: t1, UpdatedAt: t1}
	want = *fourth
	added, err := s.AddClient(ctx, fourth)
	if err != nil {
		t.Fatalf("AddClient of a new issuer: %v", err)
	}
	checkClient(t, "AddClient of a new issuer (want it)", added, &want)
	checkClient(t, "FindClient after AddClient", findClient(t, e, s, other), &want)

	// Through a Store.
	si, so := e.issuer("store-one"), e.issuer("store-two")
	if _, err := store.FindClient(ctx, si); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Fatalf("Store.FindClient before saving: err = %v, want ErrNotFound", err)
	}
	c := &mcpoauth.ClientInfo{ClientID: "client-1", ClientSecret: secret("client-secret"), Issuer: si,
		RedirectURIs: []string{"https://app.example.com/mcp_connections/callback"}}
	if err := store.SaveClient(ctx, c); err != nil {
		t.Fatalf("Store.SaveClient: %v", err)
	}
	gc, err := e.newStore(e.reopen()).FindClient(ctx, si)
	if err != nil {
		t.Fatalf("Store.FindClient: %v", err)
	}
	if gc.ClientID != c.ClientID || gc.ClientSecret != c.ClientSecret || gc.Issuer != si || !slices.Equal(gc.RedirectURIs, c.RedirectURIs) {
		t.Errorf("Store.FindClient = %v, want %v", gc, c)
	}
	if _, err := store.FindClient(ctx, so); !errors.Is(err, mcpoauth.ErrNotFound) {
		t.Errorf("Store.FindClient of another issuer: err = %v, want ErrNotFound", err)
	}
	if err := store.SaveClient(ctx, &mcpoauth.ClientInfo{ClientID: "client-2", Issuer: si}); err != nil {
		t.Fatalf("Store.SaveClient again: %v", err)
	}
	if gc, err := store.FindClient(ctx, si); err != nil || gc.ClientID != "client-2" || gc.ClientSecret != "" {
		t.Errorf("after replacing: Store.FindClient = %v, %v; want client-2 without a secret", gc, err)
	}
}

// testConcurrentAddClientAgreesOnOne races processes registering with one
// issuer: every AddClient must return the one client stored.
func testConcurrentAddClientAgreesOnOne[U comparable](t *testing.T, e *env[U]) {
	ctx := e.ctx
	issuer := e.issuer("race")
	storages := []mcpoauth.Storage[U]{e.storage, e.reopen()}
	n := len(storages) * refreshWorkers

	// Seal each process's candidate for issuer with the subtest's keys, in
	// a scratch storage, so that the winner opens through a Store.
	staging := mcpoauth.NewMemoryStorage[U]()
	sealer := e.newStore(staging)
	candidates := make([]*mcpoauth.ClientRecord, n)
	for i := range candidates {
		if err := sealer.SaveClient(ctx, &mcpoauth.ClientInfo{ClientID: fmt.Sprintf("client-%d", i), ClientSecret: secret("client-secret"), Issuer: issuer}); err != nil {
			t.Fatal(err)
		}
		r, err := staging.FindClient(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		candidates[i] = r
	}

	errs := make([]error, n)
	returned := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := storages[i%len(storages)]
		r := *candidates[i]
		wg.Go(func() {
			<-start
			got, err := s.AddClient(ctx, &r)
			switch {
			case err != nil:
				errs[i] = err
			case got == nil:
				errs[i] = errors.New("AddClient returned a nil record and no error")
			case got.Issuer != issuer:
				errs[i] = fmt.Errorf("AddClient returned the client of issuer %q", got.Issuer)
			default:
				returned[i] = got.Data
			}
		})
	}
	close(start)
	wg.Wait()
	firstErrors(t, "concurrent AddClient", errs)

	stored := findClient(t, e, e.storage, issuer)
	winner := slices.IndexFunc(candidates, func(r *mcpoauth.ClientRecord) bool { return r.Data == stored.Data })
	if winner < 0 {
		t.Fatalf("after concurrent AddClient the stored client is none of the candidates (Data %q)", stored.Data)
	}
	for i, d := range returned {
		if d != stored.Data {
			who := slices.IndexFunc(candidates, func(r *mcpoauth.ClientRecord) bool { return r.Data == d })
			t.Errorf("AddClient %d (handle %d) returned candidate %d, but candidate %d is stored: processes must agree on one client",
				i, i%len(storages), who, winner)
		}
	}
	for i, s := range storages {
		c, err := e.newStore(s).FindClient(ctx, issuer)
		if err != nil {
			t.Errorf("Store.FindClient through handle %d: %v", i, err)
			continue
		}
		if want := fmt.Sprintf("client-%d", winner); c.ClientID != want {
			t.Errorf("Store.FindClient through handle %d = %s, want the winner %s", i, c.ClientID, want)
		}
	}
}

// testClientSecretIsSealedAndBoundToIssuer checks that a Store's client
// row hides its secrets and opens under its issuer only.
func testClientSecretIsSealedAndBoundToIssuer[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	issuer, thief := e.issuer("victim"), e.issuer("thief")
	c := &mcpoauth.ClientInfo{ClientID: "client-1", ClientSecret: secret("client-secret"),
		RegistrationAccessToken: secret("registration-token"), Issuer: issuer}
	if err := store.SaveClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	r := findClient(t, e, s, issuer)
	assertNoSecrets(t, "the stored client row", fmt.Sprintf("%+v", *r), c.ClientSecret, c.RegistrationAccessToken)
	if got, err := store.FindClient(ctx, issuer); err != nil || got.ClientSecret != c.ClientSecret || got.RegistrationAccessToken != c.RegistrationAccessToken {
		t.Fatalf("Store.FindClient = %v, %v; want the saved secrets", got, err)
	}

	// The same ciphertext under another issuer does not open.
	if err := store.SaveClient(ctx, &mcpoauth.ClientInfo{ClientID: "decoy", Issuer: thief}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.FindClient(ctx, thief); err != nil {
		t.Fatalf("Store.FindClient of the decoy: %v", err)
	}
	moved := findClient(t, e, s, thief)
	moved.Data = r.Data
	if err := s.SaveClient(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got := findClient(t, e, s, thief); got.Data != r.Data {
		t.Fatalf("SaveClient did not replace the thief's Data")
	}
	if got, err := store.FindClient(ctx, thief); !errors.Is(err, mcpoauth.ErrDecrypt) {
		t.Errorf("Store.FindClient of a ciphertext moved to another issuer = %v, %v; want ErrDecrypt", got, err)
	}
}
