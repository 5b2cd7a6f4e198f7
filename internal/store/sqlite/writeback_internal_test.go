package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteback: writeback runs until stopped, stopping twice is safe, and
// a file that cannot be opened is left alone. It only starts writes, so
// the file is as written.
func TestWriteback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("pages"), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := writeback(path)
	time.Sleep(2 * writebackEvery) // let it run at least once (not a timed assertion)
	stop()
	stop()
	if b, err := os.ReadFile(path); err != nil || string(b) != "pages" {
		t.Errorf("file after writeback: %q, %v", b, err)
	}
	writeback(filepath.Join(t.TempDir(), "missing"))()
}
