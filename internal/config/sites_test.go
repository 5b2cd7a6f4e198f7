package config

import (
	"errors"
	"testing"
)

// TestSiteZones checks that a site's time zone is read from its table,
// that sites without one are left out (UTC), and that an unknown zone
// fails validation naming the field.
func TestSiteZones(t *testing.T) {
	c, err := Parse([]byte(`
[sites."store-0931"]
timezone = "Asia/Shanghai"
[sites."store-0100"]
`))
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.SiteZones()
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != 1 || z["store-0931"] == nil || z["store-0931"].String() != "Asia/Shanghai" {
		t.Fatalf("SiteZones = %v, want only store-0931 in Asia/Shanghai", z)
	}
	_, err = Parse([]byte(`
[sites."store-0931"]
timezone = "Mars/Olympus"
`))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "sites.store-0931.timezone" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown zone: err = %v, want a ValidationError on sites.store-0931.timezone", err)
	}
}
