package auditlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// KeyFile is the name, inside the data directory, of the checkpoint signing
// key: a signed-note private key ("PRIVATE+KEY+name+hash+base64"), mode 0600.
const KeyFile = "log-signing.key"

// DefaultOrigin is the log's origin (the checkpoint's first line and the key
// name) when Options.Origin is empty.
const DefaultOrigin = "custos.local/audit"

// signingKey is a signed-note private key. It redacts itself in fmt and slog
// output so that it cannot leak through a log line.
type signingKey string

// String implements fmt.Stringer.
func (signingKey) String() string { return "signingKey(REDACTED)" }

// GoString implements fmt.GoStringer.
func (signingKey) GoString() string { return "signingKey(REDACTED)" }

// LogValue implements slog.LogValuer.
func (signingKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// loadOrCreateKey reads dir/KeyFile, creating it with a fresh Ed25519 key
// named origin if it does not exist. An existing key keeps its own name.
func loadOrCreateKey(dir, origin string) (signingKey, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return parseKey(path, b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read signing key: %w", err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	// Write to a temporary file and link it into place, so that a crash
	// never leaves a half-written key and two starting processes agree on
	// one key (the loser reads the winner's).
	tmp, err := os.CreateTemp(dir, KeyFile+".tmp*")
	if err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if _, err := tmp.WriteString(skey + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	b, err = os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read signing key: %w", err)
	}
	return parseKey(path, b)
}

func parseKey(path string, b []byte) (signingKey, error) {
	k := signingKey(strings.TrimSpace(string(b)))
	if _, err := note.NewSigner(string(k)); err != nil {
		return "", fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// verifierOf returns the verifier key (name+hash+base64) of a private key.
func verifierOf(k signingKey) (string, error) {
	// A private key is PRIVATE+KEY+name+hash+keydata; the public key
	// is derived from the Ed25519 seed.
	s, err := note.NewSigner(string(k))
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	parts := strings.SplitN(string(k), "+", 5)
	if len(parts) != 5 {
		return "", errors.New("signing key: malformed")
	}
	pub, err := publicKey(parts[4])
	if err != nil {
		return "", err
	}
	return note.NewEd25519VerifierKey(s.Name(), pub)
}

// VerifierKey returns the log's public verifier key in signed-note form
// (name+hash+base64), derived from dir/KeyFile. It does not create a key.
func VerifierKey(dir string) (string, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w in %s (start the server once to create it)", ErrNoKey, dir)
		}
		return "", fmt.Errorf("read signing key: %w", err)
	}
	k, err := parseKey(path, b)
	if err != nil {
		return "", err
	}
	return verifierOf(k)
}

// publicKey derives the Ed25519 public key from a signed-note private key's
// key data (base64 of the algorithm byte and the 32-byte seed).
func publicKey(data string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("signing key: not an Ed25519 signed-note key")
	}
	return ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey), nil
}
