package store

import (
	"context"
	"encoding/binary"
)

// IndexSize is the length of a blind index (vault.Vault.BlindIndex): the
// first 8 bytes of its HMAC. Stores keep it as a 64-bit integer (the bytes
// read big-endian, as a signed integer: IndexKey), so that the lookup
// indexes are small and sort on integers. A 64-bit index can collide: two
// values may share one. Lookups that act on a match MUST check the opened
// value (vault.Vault.FindCustomer); see docs/THREATS.md.
const IndexSize = 8

// IndexKey returns the stored form of blind index b: nil (SQL NULL) when b
// is empty, otherwise its first IndexSize bytes read big-endian as an
// int64. A shorter b is read as if padded with zero bytes, a longer one (a
// whole HMAC) is cut, so every b with the same first 8 bytes has the same
// key.
func IndexKey(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return IndexInt(b)
}

// IndexInt is IndexKey of a non-empty b, as an int64.
func IndexInt(b []byte) int64 {
	var k [IndexSize]byte
	copy(k[:], b)
	return int64(binary.BigEndian.Uint64(k[:]))
}

// IndexBytes is the inverse of IndexKey: the blind index stored as k.
func IndexBytes(k int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, IndexSize), uint64(k))
}

// Blind index kinds, as CustomersByIndex names them (the same words as
// vault.IndexPhone, IndexAccount and IndexName).
const (
	IndexPhone   = "phone"
	IndexAccount = "account"
	IndexName    = "name"
)

// Candidates is implemented by stores that return every customer sharing a
// blind index: with 64-bit indexes, a lookup by index yields candidates
// that the caller tells apart by the opened value (vault.Vault.FindCustomer).
type Candidates interface {
	// CustomersByIndex returns every customer whose blind index of kind
	// (IndexPhone, IndexAccount or IndexName) is index, in id order; none
	// (and no error) if there is none.
	CustomersByIndex(ctx context.Context, kind string, index []byte) ([]Customer, error)
}
