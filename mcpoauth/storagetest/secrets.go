package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mcpgen/mcpgen/mcpoauth"
)

// assertNoSecrets fails t when text holds one of secrets, naming which
// (not what) it is.
func assertNoSecrets(t testing.TB, where, text string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s == "" {
			t.Fatalf("assertNoSecrets: secret %d is empty", i)
		}
		if strings.Contains(text, s) {
			t.Errorf("%s holds secret %d of %d in plaintext", where, i+1, len(secrets))
		}
	}
}

// testSecretsAreSealedAtRest saves secrets through a Store and looks for
// them in the records the storage gives back.
func testSecretsAreSealedAtRest[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	user, server := e.user(), e.server("secrets")

	c := e.credential(user, server)
	c.Client.RegistrationAccessToken = secret("registration-token")
	if err := store.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	st := &mcpoauth.State[U]{UserID: user, ServerURL: server, Verifier: secret("verifier")}
	if err := store.CreateState(ctx, st); err != nil {
		t.Fatal(err)
	}
	ci := &mcpoauth.ClientInfo{ClientID: "client-1", ClientSecret: secret("client-secret"),
		RegistrationAccessToken: secret("registration-token"), Issuer: e.issuer("as")}
	if err := store.SaveClient(ctx, ci); err != nil {
		t.Fatal(err)
	}
	secrets := []string{c.Token.AccessToken, c.Token.RefreshToken, c.Client.ClientSecret, c.Client.RegistrationAccessToken,
		st.Verifier, ci.ClientSecret, ci.RegistrationAccessToken}

	r := findCredential(t, e, s, user, server)
	if r.TokenData == "" || r.ClientData == "" {
		t.Errorf("the credential row has %d bytes of token data and %d of client data, want both", len(r.TokenData), len(r.ClientData))
	}
	assertNoSecrets(t, "the credential row FindCredential returns", fmt.Sprintf("%+v", *r), secrets...)
	rows, err := s.ListCredentials(ctx, user)
	if err != nil || len(rows) != 1 {
		t.Fatalf("ListCredentials: %d rows, %v; want 1", len(rows), err)
	}
	assertNoSecrets(t, "the credential row ListCredentials returns", fmt.Sprintf("%+v", *rows[0]), secrets...)
	sr := takeState(t, e, s, user, st.StateParam)
	if sr.PKCEData == "" {
		t.Error("the state row has no PKCE data")
	}
	assertNoSecrets(t, "the state row TakeState returns", fmt.Sprintf("%+v", *sr), secrets...)
	cr := findClient(t, e, s, ci.Issuer)
	assertNoSecrets(t, "the client row FindClient returns", fmt.Sprintf("%+v", *cr), secrets...)

	// And the sealed data is given back whole: the Store opens it.
	got, err := store.FindCredential(ctx, user, server)
	if err != nil {
		t.Fatalf("Store.FindCredential: %v", err)
	}
	if d := tokenDiff(got.Token, c.Token); d != "" {
		t.Errorf("Store.FindCredential: %s", d)
	}
	if got.Client == nil || got.Client.ClientSecret != c.Client.ClientSecret || got.Client.RegistrationAccessToken != c.Client.RegistrationAccessToken {
		t.Errorf("Store.FindCredential: client info %v, want %v", got.Client, c.Client)
	}
	sr.ID = 0
	createState(t, e, s, sr) // put the taken state back, as it was
	if got, err := store.ConsumeState(ctx, user, st.StateParam); err != nil || got.Verifier != st.Verifier {
		t.Errorf("Store.ConsumeState = %v, %v; want the verifier back", got, err)
	}
	if got, err := store.FindClient(ctx, ci.Issuer); err != nil || got.ClientSecret != ci.ClientSecret || got.RegistrationAccessToken != ci.RegistrationAccessToken {
		t.Errorf("Store.FindClient = %v, %v; want the secrets back", got, err)
	}
}

// testCiphertextMovedToAnotherRowDoesNotOpen copies sealed columns
// between rows: the Store must refuse them there.
func testCiphertextMovedToAnotherRowDoesNotOpen[U comparable](t *testing.T, e *env[U]) {
	ctx, s, store := e.ctx, e.storage, e.store
	victim, thief := e.user(), e.user()
	server, otherServer := e.server("alpha"), e.server("beta")
	for _, c := range []*mcpoauth.Credential[U]{
		e.credential(victim, server),
		e.credential(thief, server),
		e.credential(thief, otherServer),
	} {
		if err := store.SaveCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	v := findCredential(t, e, s, victim, server)
	move := func(what string, user U, server string, set func(r *credRecord[U])) {
		t.Helper()
		if _, err := store.FindCredential(ctx, user, server); err != nil {
			t.Fatalf("%s: the row does not open before the move: %v", what, err)
		}
		r := findCredential(t, e, s, user, server)
		set(r)
		upsertCredential(t, e, s, r)
		if _, err := store.FindCredential(ctx, user, server); !errors.Is(err, mcpoauth.ErrDecrypt) {
			t.Errorf("%s: Store.FindCredential err = %v, want ErrDecrypt", what, err)
		}
	}
	move("token data copied to another user's row", thief, server, func(r *credRecord[U]) { r.TokenData = v.TokenData })
	move("token data copied to another server's row", thief, otherServer, func(r *credRecord[U]) { r.TokenData = v.TokenData })
	move("token data copied into the client data of its row", victim, server, func(r *credRecord[U]) { r.ClientData = v.TokenData })

	// The same holds for a pending flow's verifier.
	a := &mcpoauth.State[U]{UserID: victim, ServerURL: server, Verifier: secret("verifier")}
	b := &mcpoauth.State[U]{UserID: thief, ServerURL: server, Verifier: secret("verifier")}
	for _, st := range []*mcpoauth.State[U]{a, b} {
		if err := store.CreateState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	ra := takeState(t, e, s, victim, a.StateParam)
	rb := takeState(t, e, s, thief, b.StateParam)
	rb.ID, rb.PKCEData = 0, ra.PKCEData
	createState(t, e, s, rb)
	if _, err := store.ConsumeState(ctx, thief, b.StateParam); !errors.Is(err, mcpoauth.ErrDecrypt) {
		t.Errorf("a verifier copied to another user's flow: Store.ConsumeState err = %v, want ErrDecrypt", err)
	}
}
