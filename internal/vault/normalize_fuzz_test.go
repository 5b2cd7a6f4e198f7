package vault_test

import (
	"errors"
	"testing"

	"github.com/custos-dev/custos/internal/vault"
)

// FuzzNormalizePhone checks the phone normaliser on arbitrary strings: it
// never panics; it returns ErrBadPhone or E.164 ("+" and 8 to 15 digits,
// no leading zero); normalising its output again changes nothing; and the
// mask of a result shows its last four digits only.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+8613800138000", "13800138000", "008613800138000", "0755 1234 5678", "(+86) 138-0013-8000",
		"8613800138000", "+1 202 555 0100", "", "+", "00", "0", "+0123456789", "１３８００１３８０００", "138\u00a00013\u00a08000",
		"+86 138 0013 8000 ext 1", "++8613800138000", "1234567890123456789", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := vault.NormalizePhone(s)
		if err != nil {
			if !errors.Is(err, vault.ErrBadPhone) {
				t.Fatalf("NormalizePhone(%q): error %v is not ErrBadPhone", s, err)
			}
			return
		}
		if len(p) < 9 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", s, p)
		}
		for _, c := range p[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("NormalizePhone(%q) = %q, not E.164", s, p)
			}
		}
		if again, err := vault.NormalizePhone(p); err != nil || again != p {
			t.Fatalf("NormalizePhone(%q) = %q, but again gives %q, %v", s, p, again, err)
		}
		if m := vault.MaskPhone(p); len([]rune(m)) != len(p) || m[len(m)-4:] != p[len(p)-4:] {
			t.Fatalf("MaskPhone(%q) = %q", p, m)
		}
	})
}
