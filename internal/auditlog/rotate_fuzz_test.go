package auditlog

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// FuzzKeyHistory feeds arbitrary log-keys files to the key-history reader
// used by Verify: it never panics, and whatever chain it accepts is made
// of hand-overs signed by both of their keys, linked in order, and holds
// the trusted key. Seeds include a valid two-step chain.
func FuzzKeyHistory(f *testing.F) {
	const origin = "custos.local/audit"
	var skeys, vkeys []string
	for i := 0; i < 3; i++ {
		s, v, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			f.Fatal(err)
		}
		skeys, vkeys = append(skeys, s), append(vkeys, v)
	}
	var valid []byte
	for i := 0; i < 2; i++ {
		text := handoverText(origin, uint64(10*(i+1)), vkeys[i], vkeys[i+1])
		s1, _ := note.NewSigner(skeys[i])
		s2, _ := note.NewSigner(skeys[i+1])
		n, err := note.Sign(&note.Note{Text: text}, s1, s2)
		if err != nil {
			f.Fatal(err)
		}
		line, _ := json.Marshal(Handover{Size: uint64(10 * (i + 1)), Old: vkeys[i], New: vkeys[i+1], Note: string(n)})
		valid = append(append(valid, line...), '\n')
	}
	trusted := vkeys[2]
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{"size":1,"old":"x","new":"y","note":"z"}` + "\n"))
	f.Add([]byte("not json\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := parseKeyHistory(data)
		if err != nil {
			return
		}
		eras, err := chainEras(hs, origin, trusted)
		if err != nil {
			return
		}
		keys := make([]string, len(eras))
		for i, e := range eras {
			keys[i] = e.vkey
		}
		if !slices.Contains(keys, trusted) {
			t.Fatalf("accepted a chain %v without the trusted key", keys)
		}
		for i, h := range hs {
			if err := h.check(origin); err != nil {
				t.Fatalf("accepted hand-over %d that does not check: %v", i, err)
			}
			if eras[i].to != h.Size || eras[i].vkey != h.Old {
				t.Fatalf("era %d is %+v for hand-over %+v", i, eras[i], h)
			}
		}
	})
}
