package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/custos-dev/custos/internal/store"
)

// BlobIndexes is the data of a backend's upgrade test from blind indexes
// stored as 32-byte blobs (whole HMACs, before indexes were 64-bit
// integers). The test writes Customers and Former into a database of the
// old schema, opens it with the current code and calls Check.
type BlobIndexes struct {
	// Customers are two customers with the same name index; the second
	// has no account index and a phone index with its top bit set (a
	// negative integer).
	Customers []BlobCustomer
	// Former is a former phone index of the first customer.
	Former []byte
}

// BlobCustomer is a customer's id and blob indexes; a nil index is none.
type BlobCustomer struct {
	ID                   string
	Phone, Account, Name []byte
}

// Blob returns a blind index as stored before indexes were 64-bit
// integers: 32 bytes derived from seed.
func Blob(seed string) []byte {
	h := sha256.Sum256([]byte(seed))
	return h[:]
}

// NewBlobIndexes returns the data of a blob-index upgrade test.
func NewBlobIndexes() BlobIndexes {
	neg := Blob("phone-2")
	neg[0] |= 0x80
	return BlobIndexes{
		Customers: []BlobCustomer{
			{"c-1", Blob("phone-1"), Blob("account-1"), Blob("name")},
			{"c-2", neg, nil, Blob("name")},
		},
		Former: Blob("phone-old"),
	}
}

// BlobUpgraded is what Check needs of the upgraded store.
type BlobUpgraded interface {
	store.Store
	store.Candidates
	store.FormerIndexes
}

// Check checks that s, opened on a database holding b, reads each customer
// back with the first store.IndexSize bytes of its blobs as its indexes,
// and finds each customer by its phone index (whole or cut), both by their
// name index, and the first by its former index.
func (b BlobIndexes) Check(t *testing.T, s BlobUpgraded) {
	t.Helper()
	ctx := t.Context()
	cut := func(x []byte) []byte {
		if x == nil {
			return nil
		}
		return x[:store.IndexSize]
	}
	for _, o := range b.Customers {
		c, err := s.Customer(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.PhoneIndex, cut(o.Phone)) || !bytes.Equal(c.AccountIndex, cut(o.Account)) || !bytes.Equal(c.NameIndex, cut(o.Name)) {
			t.Errorf("%s: indexes %x %x %x; want the first 8 bytes of %x %x %x", o.ID,
				c.PhoneIndex, c.AccountIndex, c.NameIndex, o.Phone, o.Account, o.Name)
		}
		for _, idx := range [][]byte{o.Phone, cut(o.Phone)} {
			if cs, err := s.CustomersByIndex(ctx, store.IndexPhone, idx); err != nil || len(cs) != 1 || cs[0].ID != o.ID {
				t.Errorf("CustomersByIndex(phone, %x) = %v, %v; want %s", idx, cs, err, o.ID)
			}
		}
	}
	if ids, err := s.CustomerIDsByName(ctx, cut(b.Customers[0].Name)); err != nil || len(ids) != len(b.Customers) {
		t.Errorf("CustomerIDsByName = %v, %v; want both", ids, err)
	}
	if ids, err := s.CustomerByFormer(ctx, store.FormerPhone, cut(b.Former)); err != nil || len(ids) != 1 || ids[0] != b.Customers[0].ID {
		t.Errorf("CustomerByFormer = %v, %v; want [%s]", ids, err, b.Customers[0].ID)
	}
}
