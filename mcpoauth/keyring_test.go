package mcpoauth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// newTestKey returns a fresh random key.
func newTestKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("random key: %v", err)
	}
	return key
}

// testKeyring returns a keyring over one fresh key.
func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	kr, err := NewKeyring(newTestKey(t))
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return kr
}

func TestKeyringRoundTrip(t *testing.T) {
	kr := testKeyring(t)
	aad := additionalData("table", "column", "42", "https://mcp.example.com")
	for _, plain := range [][]byte{[]byte("secret token"), {}, bytes.Repeat([]byte{0xff}, 4096)} {
		sealed, err := kr.Seal(plain, aad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if !strings.HasPrefix(sealed, "v1:") {
			t.Errorf("sealed value %q does not start with the format version", sealed)
		}
		if len(plain) > 0 && strings.Contains(sealed, string(plain)) {
			t.Error("sealed value contains the plaintext")
		}
		got, err := kr.Open(sealed, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Open = %q, want %q", got, plain)
		}
	}
	a, _ := kr.Seal([]byte("same"), aad)
	b, _ := kr.Seal([]byte("same"), aad)
	if a == b {
		t.Error("two seals of one plaintext are equal: the nonce is not fresh")
	}
}

func TestKeyringRotation(t *testing.T) {
	oldKey, newKey := newTestKey(t), newTestKey(t)
	before, err := NewKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, err := NewKeyring(newKey)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("row")

	sealedOld, err := before.Seal([]byte("old secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := after.Open(sealedOld, aad); err != nil || string(got) != "old secret" {
		t.Errorf("rotated keyring opening an old value = %q, %v; want the plaintext", got, err)
	}

	sealedNew, err := after.Seal([]byte("new secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := onlyNew.Open(sealedNew, aad); err != nil || string(got) != "new secret" {
		t.Errorf("new key opening a value sealed after rotation = %q, %v; want the plaintext", got, err)
	}
	if _, err := before.Open(sealedNew, aad); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old key opening a value sealed after rotation: err = %v, want ErrDecrypt", err)
	}

	// A value whose key id was altered still opens: the id only orders the tries.
	parts := strings.SplitN(sealedOld, ":", 3)
	altered := parts[0] + ":00000000:" + parts[2]
	if got, err := after.Open(altered, aad); err != nil || string(got) != "old secret" {
		t.Errorf("Open with an unknown key id = %q, %v; want the plaintext", got, err)
	}
}

func TestKeyringRejects(t *testing.T) {
	kr := testKeyring(t)
	sealed, err := kr.Seal([]byte("secret"), []byte("row 1"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.SplitN(sealed, ":", 3)[2]
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	raw[len(raw)-1] ^= 1
	tampered := strings.TrimSuffix(sealed, body) + base64.RawURLEncoding.EncodeToString(raw)

	for _, tc := range []struct {
		name, sealed string
		aad          string
	}{
		{"wrong additional data", sealed, "row 2"},
		{"no additional data", sealed, ""},
		{"tampered", tampered, "row 1"},
		{"truncated", sealed[:len(sealed)-10], "row 1"},
		{"not sealed", "plain text", "row 1"},
		{"unknown version", "v9" + strings.TrimPrefix(sealed, "v1"), "row 1"},
		{"bad base64", "v1:00000000:!!!", "row 1"},
		{"empty", "", "row 1"},
	} {
		if _, err := kr.Open(tc.sealed, []byte(tc.aad)); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", tc.name, err)
		}
	}
	if _, err := testKeyring(t).Open(sealed, []byte("row 1")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("another key: err = %v, want ErrDecrypt", err)
	}

	var nilRing *Keyring
	if _, err := nilRing.Seal([]byte("x"), nil); !errors.Is(err, ErrNoKeys) {
		t.Errorf("nil keyring Seal: err = %v, want ErrNoKeys", err)
	}
	if _, err := nilRing.Open(sealed, nil); !errors.Is(err, ErrNoKeys) {
		t.Errorf("nil keyring Open: err = %v, want ErrNoKeys", err)
	}
	if _, err := NewKeyring(); !errors.Is(err, ErrNoKeys) {
		t.Errorf("NewKeyring(): err = %v, want ErrNoKeys", err)
	}
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Error("NewKeyring with a 16-byte key: no error")
	}
}

func TestKeyringFromEnv(t *testing.T) {
	k1, k2 := newTestKey(t), newTestKey(t)
	enc := base64.StdEncoding.EncodeToString

	t.Setenv(KeysEnv, enc(k1)+", \n"+enc(k2))
	kr, err := KeyringFromEnv()
	if err != nil {
		t.Fatalf("KeyringFromEnv: %v", err)
	}
	if kr.Len() != 2 {
		t.Fatalf("keyring has %d keys, want 2", kr.Len())
	}
	sealed, err := kr.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := NewKeyring(k1)
	if _, err := first.Open(sealed, nil); err != nil {
		t.Errorf("the first key of %s does not encrypt: %v", KeysEnv, err)
	}

	t.Setenv(KeysEnv, "")
	_, err = KeyringFromEnv()
	if !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
		t.Errorf("empty %s: err = %v, want ErrNoKeys saying how to make a key", KeysEnv, err)
	}

	short := enc(make([]byte, 16))
	for _, tc := range []struct {
		name, value, want string
	}{
		{"not base64", enc(k1) + ",not*base64", "key 2 of 2 is not valid base64"},
		{"wrong length", short, "key 1 of 1 decodes to 16 bytes"},
	} {
		t.Setenv(KeysEnv, tc.value)
		_, err := KeyringFromEnv()
		var ke *KeyError
		if !errors.As(err, &ke) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), KeysEnv) {
			t.Errorf("%s: err = %v, want a KeyError naming %s and saying %q", tc.name, err, KeysEnv, tc.want)
			continue
		}
		if strings.Contains(err.Error(), enc(k1)) || strings.Contains(err.Error(), short) || strings.Contains(err.Error(), "not*base64") {
			t.Errorf("%s: the error echoes key material: %v", tc.name, err)
		}
	}
}

func TestKeyringDoesNotPrintKeys(t *testing.T) {
	key := newTestKey(t)
	kr, err := NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{kr.String(), kr.GoString(), sprintAll(kr), sprintAll(*kr)} {
		if strings.Contains(s, string(key)) || strings.Contains(s, base64.StdEncoding.EncodeToString(key)) {
			t.Errorf("printed keyring contains its key: %q", s)
		}
	}
}
