package gateway

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/custos-dev/custos/internal/policy"
)

// FuzzParsePurpose checks the Custos-Purpose header parser on arbitrary
// input: it never panics; it either returns a purpose of a known kind with
// a trimmed, non-empty id of at most 200 bytes (or the empty purpose for an
// empty header), or a 403 purpose_invalid error, and parsing the canonical
// form "kind:id" again gives the same purpose.
func FuzzParsePurpose(f *testing.F) {
	for _, s := range []string{"", "ticket:T-1", " Consent : c-1 ", "breakglass:customer on the phone", "ticket:", ":x", "because",
		"TICKET:T:1", "ticket:" + strings.Repeat("x", 201), "ticket:\x00", "ticket:\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		pu, err := ParsePurpose(h)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != "purpose_invalid" {
				t.Fatalf("ParsePurpose(%q): error %v is not purpose_invalid", h, err)
			}
			if ae.Msg == "" || !utf8.ValidString(ae.Msg) {
				t.Fatalf("error message %q", ae.Msg)
			}
			return
		}
		if strings.TrimSpace(h) == "" {
			if pu != (policy.Purpose{}) {
				t.Fatalf("empty header gave %+v", pu)
			}
			return
		}
		switch pu.Kind {
		case policy.PurposeTicket, policy.PurposeConsent, policy.PurposeBreakGlass, policy.PurposeLegal:
		default:
			t.Fatalf("ParsePurpose(%q): kind %q", h, pu.Kind)
		}
		if pu.ID == "" || len(pu.ID) > 200 || pu.ID != strings.TrimSpace(pu.ID) {
			t.Fatalf("ParsePurpose(%q): id %q", h, pu.ID)
		}
		if pu.Valid {
			t.Fatalf("ParsePurpose(%q) claims validity before any check", h)
		}
		again, err := ParsePurpose(pu.Kind + ":" + pu.ID)
		if err != nil || again != pu {
			t.Fatalf("round trip of %+v: %+v, %v", pu, again, err)
		}
	})
}
