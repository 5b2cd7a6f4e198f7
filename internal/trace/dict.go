package trace

// dict numbers customer ids densely for the bitmaps. Numbers are handed out
// in chunks of 65,536 (one roaring container each), a chunk per region at a
// time, so that customers of one region get neighbouring numbers. Not safe
// for concurrent use: AccessSets guards it.
type dict struct {
	ids    map[string]uint32
	chunks []chunk        // index = number >> 16
	open   map[string]int // region → the chunk it is filling
	count  int            // numbers handed out
}

// chunk is one block of 65,536 numbers.
type chunk struct {
	region string
	ids    []string // by number & 0xffff
}

const (
	chunkSize = 1 << 16
	maxChunks = 1 << 16
)

func newDict() dict {
	return dict{ids: map[string]uint32{}, open: map[string]int{}}
}

// lookup returns id's number, if it has one.
func (d *dict) lookup(id string) (uint32, bool) {
	n, ok := d.ids[id]
	return n, ok
}

// number returns id's number, handing out the next one of region's chunk if
// id has none yet.
func (d *dict) number(id, region string) uint32 {
	if n, ok := d.ids[id]; ok {
		return n
	}
	ci, ok := d.open[region]
	if !ok || len(d.chunks[ci].ids) == chunkSize {
		ci = d.newChunk(region)
	}
	c := &d.chunks[ci]
	n := uint32(ci)<<16 | uint32(len(c.ids))
	c.ids = append(c.ids, id)
	d.ids[id] = n
	d.count++
	return n
}

// newChunk opens a chunk for region. When all 65,536 chunks are taken (more
// regions than fit, or four billion customers), it reuses any chunk with
// room: numbering stays correct, only less local.
func (d *dict) newChunk(region string) int {
	if len(d.chunks) < maxChunks {
		d.chunks = append(d.chunks, chunk{region: region})
		d.open[region] = len(d.chunks) - 1
		return len(d.chunks) - 1
	}
	for i := range d.chunks {
		if len(d.chunks[i].ids) < chunkSize {
			d.open[region] = i
			return i
		}
	}
	panic("trace: internal error: more than 2^32 customers")
}

// id returns the customer id numbered n; n MUST have been handed out.
func (d *dict) id(n uint32) string {
	return d.chunks[n>>16].ids[n&0xffff]
}

// len returns how many ids are numbered.
func (d *dict) len() int { return d.count }
