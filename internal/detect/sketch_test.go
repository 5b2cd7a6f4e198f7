package detect

import (
	"fmt"
	"math"
	"testing"
)

func TestDistinctSet(t *testing.T) {
	s := distinctSet{max: 64}
	for i := range 100 {
		h := hashString(fmt.Sprint(i))
		if !s.add(h) {
			t.Fatalf("add(%d) not new", i)
		}
		if i < 60 && (s.add(h) || !s.has(h)) {
			t.Fatalf("re-add(%d) reported new or missing", i)
		}
	}
	if !s.full {
		t.Fatalf("set of cap 64 not saturated after 100 adds")
	}
	s.reset()
	if s.n != 0 || s.full || s.has(hashString("1")) {
		t.Fatalf("reset left state: %+v", s)
	}
}

func TestHLL(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 1000, 20000} {
		var h hll
		for i := range n {
			h.add(hashString(fmt.Sprintf("c-%07d", i)))
			h.add(hashString(fmt.Sprintf("c-%07d", i))) // duplicates do not count
		}
		got := h.estimate()
		if tol := math.Max(2, 0.06*float64(n)); math.Abs(float64(got-n)) > tol {
			t.Errorf("estimate of %d = %d", n, got)
		}
	}
}

func TestCountHist(t *testing.T) {
	var h countHist
	// Ten members counting up to 1..10, one to 5000.
	for m := 1; m <= 10; m++ {
		for v := 1; v <= m; v++ {
			h.move(v-1, v)
		}
	}
	for v := 1; v <= 5000; v++ {
		h.move(v-1, v)
	}
	if h.total != 11 {
		t.Fatalf("total = %d, want 11", h.total)
	}
	if q := h.quantile(0.5); q != 6 {
		t.Errorf("median = %v, want 6", q)
	}
	if q := h.quantile(1); q < 4096 || q > 5000 {
		t.Errorf("max = %v, want about 5000", q)
	}
	if q := h.quantileOf(0.5, 30); q != 0 {
		t.Errorf("median over 30 members (19 zero) = %v, want 0", q)
	}
	prev := -1
	for v := 0; v < 1<<20; v += 37 {
		b := bucketOf(v)
		if b < prev || bucketValue(b) > float64(v) {
			t.Fatalf("bucketOf(%d) = %d (value %v) not monotone or above v", v, b, bucketValue(b))
		}
		prev = b
	}
}

func TestTrailingNumber(t *testing.T) {
	for _, tt := range []struct {
		in string
		n  int64
		ok bool
	}{
		{"c-0001234", 1235, true}, {"c-12", 0, false}, {"abc", 0, false}, {"", 0, false},
	} {
		n, ok := trailingNumber(tt.in)
		if n != tt.n || ok != tt.ok {
			t.Errorf("trailingNumber(%q) = %d, %v", tt.in, n, ok)
		}
	}
}
