package detect

import (
	"math"
	"math/bits"
)

// hashString is FNV-1a followed by a 64-bit finaliser: deterministic across
// runs (so alerts are reproducible) and cheap. Zero is reserved as "empty".
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 {
		h = 1
	}
	return h
}

// distinctSet is an exact set of 64-bit hashes up to a cap, with open
// addressing. Past the cap it saturates: every insert counts as new, so the
// count over-estimates (which only makes a detector fire sooner on someone
// who already read thousands of records in a day). Each entry carries two
// flags in its top bits (setMarked: the entry was counted by the caller;
// setAgain: it was touched again), so the set also tells customers read
// once from those read again.
type distinctSet struct {
	slots []uint64
	n     int
	max   int // cap on entries
	full  bool
}

const (
	minSetSlots = 32
	setAgain    = 1 << 63
	setMarked   = 1 << 62
	setFlags    = setAgain | setMarked
)

// setKey is h without the flag bits, never zero.
func setKey(h uint64) uint64 {
	if k := h &^ setFlags; k != 0 {
		return k
	}
	return 1
}

// add inserts h and reports whether it was new.
func (s *distinctSet) add(h uint64) bool {
	_, isNew := s.touch(h)
	return isNew
}

// touch inserts h and reports whether it was new, with its entry for the
// caller's flags (setMarked, setAgain); the entry is valid until the next
// touch. Once saturated, every touch is new and the entry is nil.
func (s *distinctSet) touch(h uint64) (entry *uint64, isNew bool) {
	if s.full {
		return nil, true
	}
	if s.slots == nil {
		s.slots = make([]uint64, minSetSlots)
	}
	if (s.n+1)*2 > len(s.slots) {
		if len(s.slots)/2 >= s.max {
			s.full = true
			return nil, true
		}
		s.grow()
	}
	k := setKey(h)
	mask := uint64(len(s.slots) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch v := s.slots[i]; {
		case v == 0:
			s.slots[i] = k
			s.n++
			return &s.slots[i], true
		case v&^setFlags == k:
			return &s.slots[i], false
		}
	}
}

// has reports whether h is in the set (false once saturated and not found).
func (s *distinctSet) has(h uint64) bool {
	if s.slots == nil {
		return false
	}
	k := setKey(h)
	mask := uint64(len(s.slots) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch v := s.slots[i]; {
		case v == 0:
			return false
		case v&^setFlags == k:
			return true
		}
	}
}

func (s *distinctSet) grow() {
	old := s.slots
	s.slots = make([]uint64, len(old)*2)
	mask := uint64(len(s.slots) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := (h &^ setFlags) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
	}
}

// reset empties the set, releasing large tables so a one-day burst does not
// pin memory for good.
func (s *distinctSet) reset() {
	if len(s.slots) > 4*minSetSlots {
		s.slots = nil
	} else {
		clear(s.slots)
	}
	s.n = 0
	s.full = false
}

func (s *distinctSet) bytes() int { return 8 * len(s.slots) }

// hll is a HyperLogLog sketch with 2^hllP one-byte registers and linear
// counting for small cardinalities (exact to within a few percent up to
// thousands, ~3% standard error beyond).
type hll struct {
	reg *[1 << hllP]uint8 // allocated on first add
}

const hllP = 10

func (h *hll) add(x uint64) {
	if h.reg == nil {
		h.reg = new([1 << hllP]uint8)
	}
	idx := x >> (64 - hllP)
	w := x<<hllP | 1<<(hllP-1)
	rho := uint8(bits.LeadingZeros64(w) + 1)
	if rho > h.reg[idx] {
		h.reg[idx] = rho
	}
}

func (h *hll) estimate() int {
	if h.reg == nil {
		return 0
	}
	const m = float64(1 << hllP)
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros))
	}
	return int(math.Round(est))
}

// countHist is a count-of-counts histogram: how many group members have each
// value of a monotone per-day counter today. Values 0..63 are exact; above,
// buckets are an eighth of a power of two wide. Members with value 0 are not
// in it (inactive today).
type countHist struct {
	b     [histBuckets]uint32
	total uint32
}

const histBuckets = 64 + 8*12

func bucketOf(v int) int {
	if v < 64 {
		return v
	}
	lg := bits.Len(uint(v)) - 1 // v in [2^lg, 2^(lg+1)), lg >= 6
	frac := (v >> (lg - 3)) & 7
	i := 64 + (lg-6)*8 + frac
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

func bucketValue(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	lg := (i-64)/8 + 6
	frac := (i - 64) % 8
	return float64(int(1)<<lg + frac<<(lg-3))
}

// move records one member's value changing from old to new (old 0 = joining).
func (h *countHist) move(old, new int) {
	if old == new {
		return
	}
	if old > 0 {
		h.b[bucketOf(old)]--
	} else {
		h.total++
	}
	h.b[bucketOf(new)]++
}

// quantile returns the q-quantile of members' values (0 when empty).
func (h *countHist) quantile(q float64) float64 { return h.quantileOf(q, h.total) }

// quantileOf returns the q-quantile over n members, those not in the
// histogram counting as zero.
func (h *countHist) quantileOf(q float64, n uint32) float64 {
	if h.total == 0 || n == 0 {
		return 0
	}
	n = max(n, h.total)
	need := uint32(math.Ceil(q * float64(n)))
	zeros := n - h.total
	if need <= zeros {
		return 0
	}
	need -= zeros
	if need == 0 {
		need = 1
	}
	var acc uint32
	for i := range h.b {
		acc += h.b[i]
		if acc >= need {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}

func (h *countHist) reset() { *h = countHist{} }
