// Package masterkey rotates the master key file of a data directory.
//
// Rotate's order, so that a crash at any point leaves a store that one of
// the two key files opens:
//
//  1. write the new key to master.key.new (0600, synced);
//  2. re-wrap the key set in the store under the new key (one write),
//     then the audit log's signing key when the store keeps it;
//  3. rename master.key.new over master.key and sync the directory.
//
// If a rotation is interrupted between 2 and 3, the next Rotate finds
// master.key.new, sees that it (not master.key) opens the store, and
// finishes step 3. Records are never re-encrypted: only the key set that
// seals them is re-wrapped.
package masterkey

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// KeyFileError reports a current master key file that cannot be read:
// the caller's to fix, nothing was changed.
type KeyFileError struct{ Err error }

func (e *KeyFileError) Error() string { return e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }

// Rotate replaces the master key at path (the data dir's master.key) with
// a new one, re-wrapping st's key set. finished is true when it only
// completed a rotation that was interrupted before. Servers running on st
// keep working; they read the new key file at their next start.
func Rotate(ctx context.Context, st store.Store, path string) (finished bool, err error) {
	newPath := path + ".new"
	old, err := vault.ReadKeyFile(path)
	if err != nil {
		return false, &KeyFileError{err}
	}
	if _, err := os.Stat(newPath); err == nil {
		// A previous rotation stopped half-way: finish it or start over.
		pending, err := vault.ReadKeyFile(newPath)
		if err != nil {
			return false, err
		}
		if _, err := vault.Open(ctx, st, pending); err == nil {
			if err := rewrapLogKey(ctx, st, old, pending); err != nil {
				return false, err
			}
			return true, replaceFile(newPath, path)
		}
		os.Remove(newPath)
	}
	if _, err := vault.Open(ctx, st, old); err != nil {
		return false, fmt.Errorf("current master key: %w", err)
	}
	next := vault.NewKey()
	if err := vault.WriteKeyFile(newPath, next); err != nil {
		return false, err
	}
	if err := vault.Rewrap(ctx, st, old, next); err != nil {
		os.Remove(newPath)
		return false, fmt.Errorf("re-wrap: %w; the old master key still applies", err)
	}
	// The log signing key, when the store keeps it, after the key set:
	// an interrupted rotation is finished above, re-wrapping it then.
	if err := rewrapLogKey(ctx, st, old, next); err != nil {
		return false, fmt.Errorf("re-wrap the log signing key: %w; run custos keys rotate-master again to finish", err)
	}
	if err := replaceFile(newPath, path); err != nil {
		return false, fmt.Errorf("%w; the store now opens only with %s: run custos keys rotate-master again to finish", err, newPath)
	}
	// Check the result end to end.
	if _, err := vault.Open(ctx, st, next); err != nil {
		return false, fmt.Errorf("after rotation: %w", err)
	}
	return false, nil
}

// replaceFile renames src over dst and syncs the directory.
func replaceFile(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
