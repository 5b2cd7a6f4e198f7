package sqlite

import (
	"os"
	"syscall"
)

// startWriteback starts writing the dirty pages of n bytes of f from off
// to disk and returns at once: it neither waits for the disk nor reports
// (or consumes) a write error, which the next fsync of the file reports as
// before.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2                                   // SYNC_FILE_RANGE_WRITE
	syscall.SyncFileRange(int(f.Fd()), off, n, syncFileRangeWrite) //nolint:errcheck // a hint
}
