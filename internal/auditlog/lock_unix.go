//go:build unix

package auditlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the lock, inside the data directory, that one process
// holds while it has the log open for appending.
const lockFileName = ".audit.lock"

// lockDir takes the data directory's audit log lock without waiting. It
// returns ErrLocked if another process (or another open Log) holds it.
// The lock is released by the returned function or when the process dies.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held (is custos serve running on this data dir?)", ErrLocked, filepath.Join(dir, lockFileName))
		}
		return nil, fmt.Errorf("audit log lock: %w", err)
	}
	return func() { f.Close() }, nil
}
