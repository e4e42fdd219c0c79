package mcpoauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// KeysEnv is the environment variable KeyringFromEnv reads: one or more
// base64-encoded 32-byte keys separated by commas or white space. The first
// key encrypts; every key decrypts, so a key is rotated by putting the new
// key first and removing the old one once no data is sealed with it.
const KeysEnv = "MCP_OAUTH_ENCRYPTION_KEYS"

// KeySize is the length in bytes of an encryption key (AES-256).
const KeySize = 32

// keyIDSize is the number of bytes of a key's fingerprint written into each
// ciphertext so Open tries the right key first.
const keyIDSize = 4

// sealedPrefix opens every ciphertext Seal writes: the format version. A
// sealed value reads "v1:<key id>:<base64url(nonce || ciphertext || tag)>".
const sealedPrefix = "v1:"

var (
	// ErrNoKeys is returned when no encryption key is configured.
	ErrNoKeys = errors.New("no encryption keys configured")

	// ErrDecrypt is returned when a sealed value cannot be opened: no key
	// decrypts it, it was altered, or it was copied from another row (the
	// row's identity is bound into the ciphertext).
	ErrDecrypt = errors.New("decryption failed: wrong key, or data altered or moved from another row")
)

// KeyError describes an encryption key that cannot be used. It never holds
// key material.
type KeyError struct {
	Source  string // where the keys came from, e.g. KeysEnv; may be empty
	Index   int    // 1-based position of the key in its list
	Count   int    // number of keys in the list
	Problem string // what is wrong, e.g. "is not valid base64"
}

func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString("mcpoauth: ")
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "key %d of %d %s", e.Index, e.Count, e.Problem)
	return b.String()
}

// Keyring seals and opens values with AES-256-GCM. Its first key encrypts;
// all its keys decrypt. A Keyring is safe for concurrent use.
type Keyring struct {
	keys []keyringKey
}

type keyringKey struct {
	id   string // hex fingerprint, keyIDSize bytes
	aead cipher.AEAD
}

// KeyringFromEnv builds a Keyring from the keys in the environment variable
// KeysEnv.
func KeyringFromEnv() (*Keyring, error) {
	v, ok := os.LookupEnv(KeysEnv)
	if !ok || strings.TrimSpace(v) == "" {
		state := "is not set"
		if ok {
			state = "is empty"
		}
		return nil, fmt.Errorf("mcpoauth: %s %s: make a key with `openssl rand -base64 32` and set %s to it: %w",
			KeysEnv, state, KeysEnv, ErrNoKeys)
	}
	keys, err := ParseKeys(v)
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			ke.Source = KeysEnv
		}
		return nil, err
	}
	return NewKeyring(keys...)
}

// ParseKeys decodes a list of base64-encoded keys separated by commas or
// white space, in the form KeysEnv holds. Errors name the key by position
// and never echo it.
func ParseKeys(s string) ([][]byte, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) == 0 {
		return nil, fmt.Errorf("mcpoauth: parse keys: %w", ErrNoKeys)
	}
	keys := make([][]byte, 0, len(fields))
	for i, f := range fields {
		key, err := decodeKey(f)
		if err != nil {
			return nil, &KeyError{Index: i + 1, Count: len(fields),
				Problem: "is not valid base64 (make a key with `openssl rand -base64 32`)"}
		}
		if len(key) != KeySize {
			return nil, &KeyError{Index: i + 1, Count: len(fields),
				Problem: fmt.Sprintf("decodes to %d bytes; AES-256 needs %d (make a key with `openssl rand -base64 32`)", len(key), KeySize)}
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// decodeKey accepts standard and URL-safe base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	var lastErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(s)
		if err == nil {
			return key, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// NewKeyring returns a Keyring over keys, each KeySize bytes. The first key
// encrypts. The keys are copied.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("mcpoauth: new keyring: %w", ErrNoKeys)
	}
	kr := &Keyring{keys: make([]keyringKey, 0, len(keys))}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, &KeyError{Index: i + 1, Count: len(keys),
				Problem: fmt.Sprintf("is %d bytes; AES-256 needs %d", len(key), KeySize)}
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("mcpoauth: new keyring: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("mcpoauth: new keyring: key %d: %w", i+1, err)
		}
		kr.keys = append(kr.keys, keyringKey{id: keyID(key), aead: aead})
	}
	return kr, nil
}

// keyID is a short public fingerprint of key. It reveals nothing usable
// about the key: 4 bytes of a domain-separated SHA-256.
func keyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("mcpoauth key id\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:keyIDSize])
}

// Seal encrypts plaintext with the first key, binding aad (additional data
// that must be presented again to Open) into the result.
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	if k == nil || len(k.keys) == 0 {
		return "", fmt.Errorf("mcpoauth: seal: %w", ErrNoKeys)
	}
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize(), key.aead.NonceSize()+len(plaintext)+key.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("mcpoauth: seal: read nonce: %w", err)
	}
	sealed := key.aead.Seal(nonce, nonce, plaintext, versionedAAD(aad))
	return sealedPrefix + key.id + ":" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value written by Seal with the same aad. The key whose id
// the value names is tried first, then the others. Any failure wraps
// ErrDecrypt.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	if k == nil || len(k.keys) == 0 {
		return nil, fmt.Errorf("mcpoauth: open: %w", ErrNoKeys)
	}
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("mcpoauth: open: unknown format: %w", ErrDecrypt)
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, fmt.Errorf("mcpoauth: open: malformed value: %w", ErrDecrypt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("mcpoauth: open: malformed value: %w", ErrDecrypt)
	}
	ad := versionedAAD(aad)
	try := func(key keyringKey) ([]byte, bool) {
		n := key.aead.NonceSize()
		if len(raw) < n+key.aead.Overhead() {
			return nil, false
		}
		plain, err := key.aead.Open(nil, raw[:n], raw[n:], ad)
		return plain, err == nil
	}
	for _, key := range k.keys {
		if key.id == id {
			if plain, ok := try(key); ok {
				return plain, nil
			}
		}
	}
	for _, key := range k.keys {
		if key.id != id {
			if plain, ok := try(key); ok {
				return plain, nil
			}
		}
	}
	return nil, fmt.Errorf("mcpoauth: open: %w", ErrDecrypt)
}

// Len returns the number of keys in the keyring.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// String describes the keyring without revealing its keys.
func (k Keyring) String() string {
	return fmt.Sprintf("mcpoauth.Keyring{keys: %d}", len(k.keys))
}

// GoString describes the keyring without revealing its keys.
func (k Keyring) GoString() string { return k.String() }

// LogValue describes the keyring to log/slog without revealing its keys.
func (k Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("keys", len(k.keys)))
}

// Format writes the keyring's description for every verb, so no fmt verb
// can print its keys.
func (k Keyring) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// versionedAAD prefixes the caller's additional data with the format
// version, so a value sealed for another format never opens as this one.
func versionedAAD(aad []byte) []byte {
	ad := make([]byte, 0, len(sealedPrefix)+len(aad))
	ad = append(ad, sealedPrefix...)
	return append(ad, aad...)
}

// additionalData encodes parts unambiguously (each length-prefixed) into
// the additional data that binds a ciphertext to its row.
func additionalData(parts ...string) []byte {
	var b []byte
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}
