package postgres

import "testing"

func TestCharged(t *testing.T) {
	var c charged
	if _, _, ok := c.free("h:1", "d:1", "emp-1", "c-1"); ok {
		t.Fatal("an empty memo spares a charge")
	}
	c.add("h:1", "d:1", "emp-1", "c-1", 1, 1)
	c.add("h:1", "d:1", "emp-1", "c-2", 2, 2)
	if h, d, ok := c.free("h:1", "d:1", "emp-1", "c-1"); !ok || h != 2 || d != 2 {
		t.Fatalf("a customer charged this hour: %d %d %v, want the principal's last counts 2 2", h, d, ok)
	}
	for _, tc := range []struct{ hw, dw, p, c string }{
		{"h:2", "d:1", "emp-1", "c-1"}, // the next hour
		{"h:1", "d:2", "emp-1", "c-1"},
		{"h:1", "d:1", "emp-2", "c-1"}, // another principal
		{"h:1", "d:1", "emp-1", "c-3"}, // another customer
	} {
		if _, _, ok := c.free(tc.hw, tc.dw, tc.p, tc.c); ok {
			t.Errorf("%+v is spared its charge", tc)
		}
	}
	c.add("h:2", "d:1", "emp-1", "c-3", 1, 3)
	if _, _, ok := c.free("h:1", "d:1", "emp-1", "c-1"); ok {
		t.Fatal("a charge of the previous hour still spares one")
	}
}
