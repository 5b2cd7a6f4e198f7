package gateway

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzCustomerViewJSON checks that CustomerView.AppendJSON writes exactly
// what encoding/json writes (HTML escaping off), the bytes every client of
// the read has had: for any strings (quotes, control characters, invalid
// UTF-8, U+2028, HTML), withheld fields, an empty site, any fields map.
func FuzzCustomerViewJSON(f *testing.F) {
	for _, s := range []string{"", "Li Wei", `a"b\c`, "<&>", "\x00\x1f\n\t", "\xff\xfe", "\u2028\u2029", "é中"} {
		f.Add(s, s, uint8(0xff))
	}
	f.Add("c-1", "masked", uint8(0))
	f.Add("c-1", "", uint8(0x5a))
	f.Fuzz(func(t *testing.T, a, b string, opt uint8) {
		str := func(bit uint8, s string) *string {
			if opt&bit == 0 {
				return nil
			}
			return &s
		}
		v := CustomerView{ID: a, Name: str(1, b), Phone: str(2, a+b), Account: str(4, b+a), Region: str(8, b), Fields: map[string]string{}}
		if opt&16 != 0 {
			v.Site = a
		}
		switch {
		case opt&32 != 0:
			v.Fields = nil
		case opt&64 != 0:
			v.Fields = map[string]string{"name": "full", "phone": b, a: "withheld", b: a}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		got := v.AppendJSON(nil)
		if !bytes.Equal(append(got, '\n'), want.Bytes()) {
			t.Errorf("AppendJSON:\n%q\nencoding/json:\n%q", got, want.Bytes())
		}
	})
}
