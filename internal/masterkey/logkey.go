package masterkey

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// ErrNoMasterKey means neither CUSTOS_MASTER_KEY nor <data>/master.key
// holds a master key.
var ErrNoMasterKey = errors.New("no master key")

// logKeyAD binds a wrapped log signing key to its purpose: it cannot be
// passed off as another wrapped secret.
var logKeyAD = []byte("custos audit log signing key v1")

// LogKeyWrapper wraps the audit log's signing key under the master key
// (AES-256-GCM), as the vault wraps the data keys. It implements
// auditlog.KeyWrapper.
type LogKeyWrapper struct{ Master vault.Key }

// Wrap seals plain under the master key.
func (w LogKeyWrapper) Wrap(plain []byte) ([]byte, error) {
	aead := gcm(w.Master)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, logKeyAD), nil
}

// Unwrap opens what Wrap sealed under the same master key.
func (w LogKeyWrapper) Unwrap(wrapped []byte) ([]byte, error) {
	aead := gcm(w.Master)
	if len(wrapped) < aead.NonceSize() {
		return nil, vault.ErrWrongMasterKey
	}
	plain, err := aead.Open(nil, wrapped[:aead.NonceSize()], wrapped[aead.NonceSize():], logKeyAD)
	if err != nil {
		return nil, vault.ErrWrongMasterKey
	}
	return plain, nil
}

func gcm(k vault.Key) cipher.AEAD { return vault.NewGCM(k) }

// Load returns the master key from getenv(CUSTOS_MASTER_KEY) or
// dir/master.key, without creating one (ErrNoMasterKey if neither has it).
func Load(dir string, getenv func(string) string) (vault.Key, error) {
	if getenv != nil && getenv(vault.EnvMasterKey) != "" {
		return vault.LoadOrCreateMasterKey(dir, getenv)
	}
	path := filepath.Join(dir, vault.MasterKeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return vault.Key{}, fmt.Errorf("%w: set %s or put the deployment's master key in %s", ErrNoMasterKey, vault.EnvMasterKey, path)
	}
	return vault.ReadKeyFile(path)
}

// rewrapLogKey re-wraps the store's log signing key (if it keeps one)
// from old to next. A key already wrapped under next is left alone, so a
// finished rotation can run this again.
func rewrapLogKey(ctx context.Context, st store.Store, old, next vault.Key) error {
	wrapped, err := st.Meta(ctx, auditlog.MetaSigningKey)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(wrapped) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read log signing key: %w", err)
	}
	if _, err := (LogKeyWrapper{next}).Unwrap(wrapped); err == nil {
		return nil
	}
	plain, err := LogKeyWrapper{old}.Unwrap(wrapped)
	if err != nil {
		return fmt.Errorf("log signing key: %w", err)
	}
	w, err := LogKeyWrapper{next}.Wrap(plain)
	if err != nil {
		return err
	}
	return st.SetMeta(ctx, auditlog.MetaSigningKey, w)
}

// CheckFile says why the master key at path (a data dir's master.key)
// cannot be rotated in place: it comes from the environment instead, or
// there is no file.
func CheckFile(path string, getenv func(string) string) error {
	if getenv != nil && getenv(vault.EnvMasterKey) != "" {
		return fmt.Errorf("the master key comes from %s: rotate-master replaces %s; unset %s, or rotate it where it is kept",
			vault.EnvMasterKey, path, vault.EnvMasterKey)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no master key to rotate: %w", err)
	}
	return nil
}
