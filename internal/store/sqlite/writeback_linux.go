package sqlite

import (
	"os"
	"syscall"
)

// startWriteback starts writing f's dirty pages to disk and returns at
// once: it neither waits for the disk nor reports (or consumes) a write
// error, which the next fsync of the file reports as before.
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2                                 // SYNC_FILE_RANGE_WRITE
	syscall.SyncFileRange(int(f.Fd()), 0, 0, syncFileRangeWrite) //nolint:errcheck // a hint
}
