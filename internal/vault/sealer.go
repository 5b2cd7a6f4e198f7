package vault

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"

	"github.com/custos-dev/custos/internal/store"
)

// Sealer seals records and computes blind indexes exactly as its Vault
// does, faster when it does many: it keeps its HMAC state and draws keys
// and nonces from crypto/rand in bulk. A Sealer MUST NOT be used by more
// than one goroutine at a time; bulk imports give each worker its own.
type Sealer struct {
	v   *Vault
	mac hash.Hash
	buf []byte // random bytes drawn at once (sealerRandBatch)
	rnd []byte // the unused tail of buf; each byte is used once, then cleared
	ad  []byte
}

// sealerRandBatch is how many random bytes a Sealer draws at once: enough
// for about a hundred records (a key and four nonces each).
const sealerRandBatch = 8192

// NewSealer returns a Sealer for v.
func (v *Vault) NewSealer() *Sealer {
	return &Sealer{v: v, mac: hmac.New(sha256.New, v.index[:])}
}

// random returns n fresh random bytes, valid until the next call. The
// caller MUST clear them once used.
func (s *Sealer) random(n int) []byte {
	if len(s.rnd) < n {
		if s.buf == nil {
			s.buf = make([]byte, sealerRandBatch)
		}
		if _, err := rand.Read(s.buf); err != nil {
			panic("vault: internal error: crypto/rand: " + err.Error())
		}
		s.rnd = s.buf
	}
	b := s.rnd[:n:n]
	s.rnd = s.rnd[n:]
	return b
}

// NewRecord draws a fresh record key for record id. It returns the Record
// that seals the record's fields (Seal), and the key wrapped by the data
// key and bound to id, as the store keeps it (store.Customer.Key).
func (s *Sealer) NewRecord(id string) (Record, []byte) {
	var k Key
	raw := s.random(len(k))
	copy(k[:], raw)
	clear(raw)
	data := s.v.data
	ns := data.NonceSize()
	nonce := s.random(ns)
	wrapped := make([]byte, ns, wrappedKeySize)
	copy(wrapped, nonce)
	clear(nonce)
	s.ad = keyAD(s.ad[:0], id)
	wrapped = data.Seal(wrapped, wrapped[:ns], k[:], s.ad)
	r := Record{id: id, aead: NewGCM(k)}
	clear(k[:])
	return r, wrapped
}

// Seal seals one field of r's record (a Record from NewRecord) under its
// key, binding the record id and field name as Vault.Seal does.
func (s *Sealer) Seal(r Record, field, plain string) []byte {
	if plain == "" {
		return nil
	}
	aead := r.aead
	ns := aead.NonceSize()
	nonce := s.random(ns)
	out := make([]byte, ns, ns+len(plain)+aead.Overhead())
	copy(out, nonce)
	clear(nonce) // a nonce is used once
	s.ad = append(append(append(s.ad[:0], "custos field v1\x00"...), field...), 0)
	s.ad = append(s.ad, r.id...)
	return aead.Seal(out, out[:ns], []byte(plain), s.ad)
}

// BlindIndex is Vault.BlindIndex.
func (s *Sealer) BlindIndex(kind, normalized string) []byte {
	if normalized == "" {
		return nil
	}
	s.mac.Reset()
	s.mac.Write([]byte(kind))
	s.mac.Write([]byte{0})
	s.mac.Write([]byte(normalized))
	var sum [sha256.Size]byte
	return append(make([]byte, 0, store.IndexSize), s.mac.Sum(sum[:0])[:store.IndexSize]...)
}
