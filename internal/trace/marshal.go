package trace

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/RoaringBitmap/roaring/v2"
)

// ErrBadSnapshot is returned for persisted access sets that are truncated,
// corrupt or of an unknown version.
var ErrBadSnapshot = errors.New("not a valid access-sets snapshot")

// snapshotMagic starts every snapshot; the version is part of it.
const snapshotMagic = "custos access sets v2\n"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary returns a snapshot of the sets (see WriteTo).
func (s *AccessSets) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteTo writes a snapshot of the sets: the customer numbering, every
// principal's and org's bitmap, and Applied, followed by a CRC-32C of the
// whole. It holds the read lock while writing.
func (s *AccessSets) WriteTo(w io.Writer) (int64, error) {
	s.rlock()
	defer s.mu.RUnlock()
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(io.MultiWriter(cw, crcWriter{&cw.crc}), 1<<20)
	e := encoder{w: bw}
	e.raw([]byte(snapshotMagic))
	e.uvarint(s.applied)
	e.uvarint(s.pairs)
	// The numbering: per chunk its region, the lengths of its ids, then
	// the ids back to back, so that loading makes one string per chunk.
	e.uvarint(uint64(s.dict.count))
	e.uvarint(uint64(len(s.dict.chunks)))
	for _, c := range s.dict.chunks {
		e.str(c.region)
		e.uvarint(uint64(len(c.ids)))
		for _, id := range c.ids {
			e.uvarint(uint64(len(id)))
		}
		for _, id := range c.ids {
			e.raw([]byte(id))
		}
	}
	e.uvarint(uint64(len(s.og)))
	for _, o := range s.og {
		e.str(o.id)
		e.bitmap(o.reads)
	}
	e.uvarint(uint64(len(s.pr)))
	for _, p := range s.pr {
		e.str(p.id)
		e.str(p.org)
		if p.moved {
			e.raw([]byte{1})
		} else {
			e.raw([]byte{0})
		}
		e.bitmap(p.reads)
	}
	for _, b := range []*roaring.Bitmap{s.once, s.multi, s.orgOnce, s.orgMulti} {
		e.bitmap(b)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err == nil {
		var sum [4]byte
		binary.BigEndian.PutUint32(sum[:], cw.crc)
		_, e.err = cw.w.Write(sum[:])
		cw.n += 4
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("write access sets: %w", e.err)
	}
	return cw.n, nil
}

// ReadFrom replaces the sets with the snapshot read from r. On error the
// sets are left unchanged.
func (s *AccessSets) ReadFrom(r io.Reader) (int64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return int64(len(data)), fmt.Errorf("read access sets: %w", err)
	}
	// The bitmaps keep pointing into data, which nothing else holds.
	return int64(len(data)), s.load(data)
}

// UnmarshalBinary replaces the sets with a snapshot made by MarshalBinary or
// WriteTo. It does not retain data. On error the sets are left unchanged.
func (s *AccessSets) UnmarshalBinary(data []byte) error {
	return s.load(bytes.Clone(data))
}

// load replaces the sets with the snapshot in data, which the bitmaps then
// share (copy on write): the caller MUST NOT modify data afterwards.
func (s *AccessSets) load(data []byte) error {
	n, err := decodeSnapshot(data)
	if err != nil {
		return fmt.Errorf("read access sets: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dict, s.principals, s.pr, s.orgs, s.og = n.dict, n.principals, n.pr, n.orgs, n.og
	s.once, s.multi, s.orgOnce, s.orgMulti = n.once, n.multi, n.orgOnce, n.orgMulti
	s.pairs, s.applied = n.pairs, n.applied
	s.pendMu.Lock()
	s.pending = nil
	s.pendMu.Unlock()
	return nil
}

func decodeSnapshot(data []byte) (*AccessSets, error) {
	if len(data) < len(snapshotMagic)+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, ErrBadSnapshot
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	d := decoder{b: body[len(snapshotMagic):]}
	n := NewAccessSets()
	n.applied = d.uvarint()
	n.pairs = d.uvarint()
	total := d.count(len(d.b))
	n.dict.ids = make(map[string]uint32, total)
	nchunks := d.count(maxChunks)
	lens := make([]int, 0, chunkSize)
	for ci := 0; ci < nchunks && d.err == nil; ci++ {
		c := chunk{region: d.str()}
		m := d.count(chunkSize)
		lens = lens[:0]
		sum := 0
		for j := 0; j < m && d.err == nil; j++ {
			l := d.count(len(d.b))
			lens = append(lens, l)
			sum += l
		}
		blob := string(d.take(sum))
		c.ids = make([]string, 0, len(lens))
		for j, l := range lens {
			if d.err != nil {
				break
			}
			id := blob[:l]
			blob = blob[l:]
			n.dict.ids[id] = uint32(ci)<<16 | uint32(j)
			c.ids = append(c.ids, id)
		}
		if n.dict.count += len(c.ids); len(n.dict.ids) != n.dict.count {
			d.fail("customer numbered twice")
		}
		n.dict.chunks = append(n.dict.chunks, c)
		if len(c.ids) < chunkSize {
			n.dict.open[c.region] = ci
		}
	}
	norgs := d.count(len(d.b))
	for i := 0; i < norgs && d.err == nil; i++ {
		o := &orgSet{id: d.str(), reads: d.bitmap()}
		if _, dup := n.orgs[o.id]; dup {
			d.fail("org listed twice")
		}
		n.orgs[o.id] = len(n.og)
		n.og = append(n.og, o)
	}
	nprin := d.count(len(d.b))
	for i := 0; i < nprin && d.err == nil; i++ {
		p := &principalSet{id: d.str(), org: d.str()}
		p.moved = d.byte() == 1
		p.reads = d.bitmap()
		if _, dup := n.principals[p.id]; dup {
			d.fail("principal listed twice")
		}
		if _, ok := n.orgs[p.org]; !ok {
			d.fail("principal of an unknown org")
		}
		n.principals[p.id] = len(n.pr)
		n.pr = append(n.pr, p)
	}
	n.once, n.multi, n.orgOnce, n.orgMulti = d.bitmap(), d.bitmap(), d.bitmap(), d.bitmap()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing data")
	}
	if d.err == nil && n.dict.count != total {
		d.fail("customer count mismatch")
	}
	if d.err != nil {
		return nil, d.err
	}
	return n, nil
}

// encoder writes the snapshot's primitives, keeping the first error.
type encoder struct {
	w   *bufio.Writer
	err error
	buf []byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) uvarint(v uint64) {
	e.buf = binary.AppendUvarint(e.buf[:0], v)
	e.raw(e.buf)
}

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *encoder) bitmap(b *roaring.Bitmap) {
	e.uvarint(b.GetSerializedSizeInBytes())
	if e.err == nil {
		_, e.err = b.WriteTo(e.w)
	}
}

// decoder reads the snapshot's primitives, keeping the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadSnapshot, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that may not exceed limit.
func (d *decoder) count(limit int) int {
	v := d.uvarint()
	if v > uint64(limit) {
		d.fail("count out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) byte() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) str() string {
	return string(d.take(d.count(len(d.b))))
}

func (d *decoder) bitmap() *roaring.Bitmap {
	b := roaring.New()
	raw := d.take(d.count(len(d.b)))
	if d.err != nil {
		return b
	}
	// The bitmap shares raw, copying containers only when modified.
	if _, err := b.FromBuffer(raw); err != nil {
		d.fail("bad bitmap: " + err.Error())
		return roaring.New()
	}
	return b
}

// countWriter counts bytes and keeps the running CRC of what reached it
// through crcWriter.
type countWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type crcWriter struct{ crc *uint32 }

func (c crcWriter) Write(p []byte) (int, error) {
	*c.crc = crc32.Update(*c.crc, crcTable, p)
	return len(p), nil
}
