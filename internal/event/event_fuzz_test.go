package event_test

import (
	"bytes"
	"testing"

	"github.com/custos-dev/custos/internal/event"
)

// FuzzParseCanonical checks event lines: Parse never panics, and what it
// accepts has canonical bytes that parse back to the same canonical bytes
// (the audit log commits to them, so they must be stable).
func FuzzParseCanonical(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := event.Parse(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		c := ev.Canonical()
		back, err := event.Parse(c)
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", c, err)
		}
		if c2 := back.Canonical(); !bytes.Equal(c, c2) {
			t.Fatalf("canonical bytes unstable:\n%s\n%s", c, c2)
		}
	})
}
