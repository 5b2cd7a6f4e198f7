// Package vault seals customers' personal fields and computes the blind
// indexes that let custos look them up without storing them in the clear.
//
// Keys: a master key lives outside the database (a 0600 key file or the
// CUSTOS_MASTER_KEY environment variable). It wraps, with AES-256-GCM, a key
// set kept in the store: the data key, the index key (HMAC-SHA-256 blind
// indexes) and the token key (HMAC-SHA-256 of API tokens). A copy of the
// database alone therefore reveals no personal data. Open unwraps the set
// once.
//
// Every customer record has its own record key (envelope encryption): a
// random 256-bit key that seals the record's fields with AES-256-GCM, kept
// in the store wrapped by the data key (store.Customer.Key), bound to the
// record's id. Erasing a customer destroys that one wrapped key, and with
// it every copy of the record's ciphertexts wherever they linger. Records
// written before record keys have none: their fields are sealed with the
// data key itself, and still open (Vault.Record with a nil wrapped key).
//
// Keys redact themselves when printed or logged.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/custos-dev/custos/internal/store"
)

// EnvMasterKey is the environment variable that may hold the master key
// (base64 of 32 bytes). When set it takes precedence over the key file.
const EnvMasterKey = "CUSTOS_MASTER_KEY"

// MasterKeyFile is the master key file's name in the data directory.
const MasterKeyFile = "master.key"

const metaKeySet = "vault.keyset.v1"

// ErrWrongMasterKey means the key set in the store cannot be unwrapped with
// the master key given: the wrong key file, or a tampered store.
var ErrWrongMasterKey = errors.New("master key does not unwrap this store's keys (wrong key file or CUSTOS_MASTER_KEY?)")

// ErrDecrypt means a sealed field failed authentication.
var ErrDecrypt = errors.New("sealed field failed authentication")

// Key is a 256-bit secret key. It never prints its bytes.
type Key [32]byte

// String returns a redacted placeholder.
func (Key) String() string { return "[redacted key]" }

// LogValue redacts the key in structured logs.
func (Key) LogValue() slog.Value { return slog.StringValue("[redacted key]") }

// GoString redacts the key in %#v.
func (Key) GoString() string { return "[redacted key]" }

// NewKey returns a fresh random key from crypto/rand.
func NewKey() Key {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		panic("vault: internal error: crypto/rand: " + err.Error())
	}
	return k
}

// LoadOrCreateMasterKey returns the master key: from env (getenv(EnvMasterKey))
// when set, otherwise from dir/master.key, creating that file with mode 0600
// when it does not exist.
func LoadOrCreateMasterKey(dir string, getenv func(string) string) (Key, error) {
	if getenv != nil {
		if v := getenv(EnvMasterKey); v != "" {
			return parseKey(v, EnvMasterKey)
		}
	}
	path := filepath.Join(dir, MasterKeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Key{}, fmt.Errorf("create data dir: %w", err)
		}
		k := NewKey()
		if err := WriteKeyFile(path, k); err != nil {
			return Key{}, err
		}
		return k, nil
	}
	return ReadKeyFile(path)
}

func parseKey(s, where string) (Key, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != 32 {
		return Key{}, fmt.Errorf("master key in %s: want base64 of 32 bytes", where)
	}
	var k Key
	copy(k[:], raw)
	return k, nil
}

// Vault seals and opens fields and computes blind indexes and token hashes.
// It is safe for concurrent use.
type Vault struct {
	data  cipher.AEAD
	index Key
	token Key
	// tokenMACs holds HMAC-SHA256 states keyed with token, for TokenHash
	// (every request hashes its token).
	tokenMACs sync.Pool
}

// newVault returns the vault of key set ks.
func newVault(ks keySet) *Vault {
	v := &Vault{data: NewGCM(ks.data), index: ks.index, token: ks.token}
	v.tokenMACs.New = func() any { return hmac.New(sha256.New, v.token[:]) }
	return v
}

type keySet struct{ data, index, token Key }

// Open unwraps (or, on a new store, creates and wraps) the store's key set
// with the master key.
func Open(ctx context.Context, st store.Store, master Key) (*Vault, error) {
	wrapped, err := st.Meta(ctx, metaKeySet)
	if errors.Is(err, store.ErrNotFound) {
		ks := keySet{NewKey(), NewKey(), NewKey()}
		w, err := wrap(master, ks)
		if err != nil {
			return nil, err
		}
		// Several gateways may start at once: the first key set stored wins.
		wrapped, err = st.SetMetaOnce(ctx, metaKeySet, w)
		if err != nil {
			return nil, fmt.Errorf("store key set: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	ks, err := unwrap(master, wrapped)
	if err != nil {
		return nil, err
	}
	return newVault(ks), nil
}

var wrapAD = []byte("custos vault key set v1")

func wrap(master Key, ks keySet) ([]byte, error) {
	aead := NewGCM(master)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	plain := make([]byte, 0, 96)
	plain = append(plain, ks.data[:]...)
	plain = append(plain, ks.index[:]...)
	plain = append(plain, ks.token[:]...)
	return aead.Seal(nonce, nonce, plain, wrapAD), nil
}

func unwrap(master Key, w []byte) (keySet, error) {
	aead := NewGCM(master)
	if len(w) < aead.NonceSize() {
		return keySet{}, ErrWrongMasterKey
	}
	plain, err := aead.Open(nil, w[:aead.NonceSize()], w[aead.NonceSize():], wrapAD)
	if err != nil || len(plain) != 96 {
		return keySet{}, ErrWrongMasterKey
	}
	var ks keySet
	copy(ks.data[:], plain[0:32])
	copy(ks.index[:], plain[32:64])
	copy(ks.token[:], plain[64:96])
	return ks, nil
}

// Rewrap re-encrypts the store's key set under a new master key (master key
// rotation). Field ciphertexts are unchanged.
func Rewrap(ctx context.Context, st store.Store, oldMaster, newMaster Key) error {
	wrapped, err := st.Meta(ctx, metaKeySet)
	if err != nil {
		return fmt.Errorf("read key set: %w", err)
	}
	ks, err := unwrap(oldMaster, wrapped)
	if err != nil {
		return err
	}
	w, err := wrap(newMaster, ks)
	if err != nil {
		return err
	}
	return st.SetMeta(ctx, metaKeySet, w)
}

// Seal encrypts one field of one record with the data key itself: the
// format of records written before record keys (store.Customer.Key nil),
// kept so that tests and fixtures can build such records. New records are
// sealed under their own key (Sealer.NewRecord). The record id and field
// name are bound as associated data, so a ciphertext cannot be moved to
// another record or field.
func (v *Vault) Seal(recordID, field, plain string) []byte {
	if plain == "" {
		return nil
	}
	nonce := make([]byte, v.data.NonceSize(), v.data.NonceSize()+len(plain)+v.data.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("vault: internal error: crypto/rand: " + err.Error())
	}
	return v.data.Seal(nonce, nonce, []byte(plain), ad(recordID, field))
}

// Record is the key of one customer record, ready to open its fields (or,
// from Sealer.NewRecord, to seal them). The zero Record opens nothing.
type Record struct {
	id   string
	aead cipher.AEAD
}

// Record returns the key of record id from its wrapped key as the store
// keeps it (store.Customer.Key): one unwrap and one cipher set-up, so a
// read that opens several fields calls it once. A nil wrapped key is a
// record written before record keys, sealed with the data key. A wrapped
// key that is not id's (moved from another record, or tampered with) is
// ErrDecrypt.
func (v *Vault) Record(id string, wrapped []byte) (Record, error) {
	if wrapped == nil {
		return Record{id: id, aead: v.data}, nil
	}
	ns := v.data.NonceSize()
	if len(wrapped) != wrappedKeySize {
		return Record{}, ErrDecrypt
	}
	var k Key
	defer clear(k[:])
	if _, err := v.data.Open(k[:0], wrapped[:ns], wrapped[ns:], keyAD(nil, id)); err != nil {
		return Record{}, ErrDecrypt
	}
	return Record{id: id, aead: NewGCM(k)}, nil
}

// wrappedKeySize is the length of a wrapped record key: nonce, key, tag.
const wrappedKeySize = 12 + 32 + 16

// keyAD appends to dst the associated data that binds a wrapped record key
// to its record id.
func keyAD(dst []byte, id string) []byte {
	return append(append(dst, "custos record key v1\x00"...), id...)
}

// NewGCM returns AES-256-GCM under k (standard nonce and tag sizes).
func NewGCM(k Key) cipher.AEAD {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic("vault: internal error: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("vault: internal error: " + err.Error())
	}
	return aead
}

// Unseal decrypts one field of r's record, as sealed for the same record
// and field. An empty sealed value is the empty string.
func (r Record) Unseal(field string, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	if r.aead == nil {
		return "", ErrDecrypt
	}
	ns := r.aead.NonceSize()
	if len(sealed) < ns {
		return "", ErrDecrypt
	}
	plain, err := r.aead.Open(nil, sealed[:ns], sealed[ns:], ad(r.id, field))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

// Field opens field "name", "phone" or "account" of c, r's record.
func (r Record) Field(c store.Customer, field string) (string, error) {
	switch field {
	case "name":
		return r.Unseal(field, c.Name)
	case "phone":
		return r.Unseal(field, c.Phone)
	case "account":
		return r.Unseal(field, c.Account)
	}
	return "", fmt.Errorf("vault: no sealed field %q", field)
}

// Unseal opens one field of customer c: "name", "phone" or "account". To
// open several fields of one record, call Record once and its Field.
func (v *Vault) Unseal(c store.Customer, field string) (string, error) {
	r, err := v.Record(c.ID, c.Key)
	if err != nil {
		return "", err
	}
	return r.Field(c, field)
}

func ad(recordID, field string) []byte {
	return []byte("custos field v1\x00" + field + "\x00" + recordID)
}

// Blind index kinds.
const (
	IndexPhone   = store.IndexPhone
	IndexAccount = store.IndexAccount
	IndexName    = store.IndexName
)

// BlindIndex returns the keyed index of an already normalised value, or nil
// for an empty one: the first store.IndexSize (8) bytes of
// HMAC-SHA-256(index key, kind || 0 || value). Eight bytes are enough to
// find a record among hundreds of millions and few enough that the index
// is a candidate, not an identifier: two values may share one (about
// 3e-4 expected accidental collisions at 100 million customers), so a
// lookup that acts on a match checks the opened value (FindCustomer). See
// docs/THREATS.md.
func (v *Vault) BlindIndex(kind, normalized string) []byte {
	if normalized == "" {
		return nil
	}
	m := hmac.New(sha256.New, v.index[:])
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(normalized))
	return m.Sum(nil)[:store.IndexSize:store.IndexSize]
}

// normalizer returns the normalisation that kind's blind index is of.
func normalizer(kind string) (func(string) string, error) {
	switch kind {
	case IndexPhone:
		return func(s string) string {
			p, err := NormalizePhone(s)
			if err != nil {
				return ""
			}
			return p
		}, nil
	case IndexAccount:
		return NormalizeAccount, nil
	case IndexName:
		return NormalizeName, nil
	}
	return nil, fmt.Errorf("vault: no blind index kind %q", kind)
}

// FindCustomer returns the customer whose phone, account or name (kind
// IndexPhone, IndexAccount or IndexName) is normalized, an already
// normalised value, or store.ErrNotFound. It looks the value up by blind
// index and opens each candidate's field: since a blind index can be
// shared by two values, only a candidate whose opened value is normalized
// matches, so a collision never yields another customer. When several
// match (only names repeat) it returns the smallest id.
func (v *Vault) FindCustomer(ctx context.Context, st store.Candidates, kind, normalized string) (store.Customer, error) {
	norm, err := normalizer(kind)
	if err != nil {
		return store.Customer{}, err
	}
	if normalized == "" {
		return store.Customer{}, store.ErrNotFound
	}
	cands, err := st.CustomersByIndex(ctx, kind, v.BlindIndex(kind, normalized))
	if err != nil {
		return store.Customer{}, err
	}
	for _, c := range cands {
		got, err := v.Unseal(c, kind)
		if errors.Is(err, ErrDecrypt) {
			continue // not this one (or damaged): the others may match
		}
		if err != nil {
			return store.Customer{}, err
		}
		if norm(got) == normalized {
			return c, nil
		}
	}
	return store.Customer{}, store.ErrNotFound
}

// TokenHash returns the keyed hash under which an API token is stored.
func (v *Vault) TokenHash(token string) []byte {
	m := v.tokenMACs.Get().(hash.Hash)
	defer v.tokenMACs.Put(m)
	m.Reset()
	m.Write([]byte("custos token v1\x00"))
	m.Write([]byte(token))
	return m.Sum(make([]byte, 0, sha256.Size))
}

// TokenMatches reports in constant time whether token hashes to stored.
func (v *Vault) TokenMatches(token string, stored []byte) bool {
	return subtle.ConstantTimeCompare(v.TokenHash(token), stored) == 1
}

// SecretHash is a keyed hash for other short secrets (one-time codes),
// bound to a context string such as a consent id.
func (v *Vault) SecretHash(context, secret string) []byte {
	m := hmac.New(sha256.New, v.token[:])
	m.Write([]byte("custos secret v1\x00"))
	m.Write([]byte(context))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// SecretMatches compares in constant time.
func (v *Vault) SecretMatches(context, secret string, stored []byte) bool {
	return subtle.ConstantTimeCompare(v.SecretHash(context, secret), stored) == 1
}
