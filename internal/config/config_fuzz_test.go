package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/config"
)

// FuzzParse feeds arbitrary text to the config parser: it never panics; a
// configuration it accepts passes Validate; a rejected one says what is
// wrong on one line, naming the field for validation errors.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := config.Parse(text)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") {
				t.Fatalf("error %q does not say it is about the config", msg)
			}
			var ve *config.ValidationError
			if errors.As(err, &ve) {
				if ve.Field == "" || !errors.Is(err, config.ErrInvalid) {
					t.Fatalf("validation error without a field or ErrInvalid: %v", err)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		for role, q := range c.Quotas {
			if q.CustomersPerHour < 0 || q.CustomersPerDay < 0 {
				t.Fatalf("negative quota for %q", role)
			}
		}
	})
}
