package vault

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
)

// ReadKeyFile reads a master key file (base64 of 32 bytes). It refuses a
// file that others may read.
func ReadKeyFile(path string) (Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("read master key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("master key %s is readable by others (mode %o): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read master key: %w", err)
	}
	return parseKey(string(b), path)
}

// WriteKeyFile writes k to path as base64 with mode 0600 and syncs it. The
// file must not exist; on failure nothing is left behind.
func WriteKeyFile(path string, k Key) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("write master key: %w", err)
	}
	return nil
}
