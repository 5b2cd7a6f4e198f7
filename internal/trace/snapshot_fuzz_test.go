package trace

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// FuzzSnapshot checks the snapshot format (WriteSnapshot, ReadSnapshot):
// what it reads it writes back byte for byte, and damaged input is
// rejected with ErrBadSnapshot, never a panic. Seeds are real snapshots,
// which the fuzzer then truncates and corrupts.
func FuzzSnapshot(f *testing.F) {
	for _, n := range []int{0, 1, 50} {
		s := NewAccessSets()
		for i := range n {
			ev := read("emp-a", "dist-1", cid(i))
			if i%3 == 0 {
				ev = read("emp-b", "dist-2", cid(i))
			}
			s.Apply(uint64(i), ev)
		}
		var b bytes.Buffer
		if err := WriteSnapshot(&b, sha256.Sum256([]byte{byte(n)}), s); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
		f.Add(b.Bytes()[:b.Len()/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		anchor, sets, err := ReadSnapshot(data)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error does not wrap ErrBadSnapshot: %v", err)
			}
			return
		}
		var b bytes.Buffer
		if err := WriteSnapshot(&b, anchor, sets); err != nil {
			t.Fatal(err)
		}
		anchor2, sets2, err := ReadSnapshot(b.Bytes())
		if err != nil || anchor2 != anchor {
			t.Fatalf("snapshot written back does not read: %v", err)
		}
		if sets.Stats() != sets2.Stats() {
			t.Fatalf("stats %+v, then %+v", sets.Stats(), sets2.Stats())
		}
		var b2 bytes.Buffer
		if err := WriteSnapshot(&b2, anchor2, sets2); err != nil || !bytes.Equal(b.Bytes(), b2.Bytes()) {
			t.Fatalf("snapshot not stable across a round trip (%v)", err)
		}
	})
}
