package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

func openVault(t testing.TB) (*Vault, *sqlite.Store, Key) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk := NewKey()
	v, err := Open(context.Background(), st, mk)
	if err != nil {
		t.Fatal(err)
	}
	return v, st, mk
}

// legacy opens a field sealed by Vault.Seal, as a record without a record
// key is read.
func legacy(t *testing.T, v *Vault, id, field string, sealed []byte) (string, error) {
	t.Helper()
	r, err := v.Record(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Unseal(field, sealed)
}

// TestSealBindsRecordAndField checks the data-key format of records written
// before record keys: still opened, and bound to its record and field.
func TestSealBindsRecordAndField(t *testing.T) {
	v, _, _ := openVault(t)
	sealed := v.Seal("c-1", "phone", "+8613800138000")
	if bytes.Contains(sealed, []byte("13800138000")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := legacy(t, v, "c-1", "phone", sealed)
	if err != nil || got != "+8613800138000" {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	if got, err := v.Unseal(store.Customer{ID: "c-1", Phone: sealed}, "phone"); err != nil || got != "+8613800138000" {
		t.Fatalf("Vault.Unseal of a record without a key = %q, %v", got, err)
	}
	for _, c := range []struct{ id, field string }{{"c-2", "phone"}, {"c-1", "account"}} {
		if _, err := legacy(t, v, c.id, c.field, sealed); !errors.Is(err, ErrDecrypt) {
			t.Errorf("moved to %s/%s: err %v, want ErrDecrypt", c.id, c.field, err)
		}
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := legacy(t, v, "c-1", "phone", sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("tampered: %v", err)
	}
	if a, b := v.Seal("c-1", "name", "x"), v.Seal("c-1", "name", "x"); bytes.Equal(a, b) {
		t.Error("two seals of the same value are equal: nonce reuse")
	}
}

// sealRecord seals one customer as the importer does: under a record key of
// its own.
func sealRecord(v *Vault, id, name, phone string) store.Customer {
	s := v.NewSealer()
	r, key := s.NewRecord(id)
	return store.Customer{ID: id, Name: s.Seal(r, "name", name), Phone: s.Seal(r, "phone", phone), Key: key}
}

// TestRecordKeys checks envelope encryption: a record's fields open only
// under its own key, its wrapped key only for its own id, and neither the
// key nor the fields show the data key's work (a data-key open fails).
func TestRecordKeys(t *testing.T) {
	v, _, _ := openVault(t)
	a := sealRecord(v, "c-1", "Li Wei", "+8613800138000")
	b := sealRecord(v, "c-2", "Wang Fang", "+8613900139000")
	if got, err := v.Unseal(a, "phone"); err != nil || got != "+8613800138000" {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	if len(a.Key) != wrappedKeySize || bytes.Equal(a.Key, b.Key) {
		t.Fatalf("wrapped keys %x, %x", a.Key, b.Key)
	}
	t.Run("wrapped key moved to another customer", func(t *testing.T) {
		if _, err := v.Record("c-2", a.Key); !errors.Is(err, ErrDecrypt) {
			t.Errorf("c-1's key unwrapped for c-2: %v", err)
		}
		moved := a
		moved.ID = "c-2"
		if _, err := v.Unseal(moved, "phone"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("c-1's record opened as c-2: %v", err)
		}
	})
	t.Run("field sealed under another customer's key", func(t *testing.T) {
		swapped := b
		swapped.Phone = a.Phone
		if _, err := v.Unseal(swapped, "phone"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("c-1's phone opened under c-2's key: %v", err)
		}
		rb, err := v.Record("c-1", a.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rb.Unseal("name", b.Name); !errors.Is(err, ErrDecrypt) {
			t.Errorf("c-2's name opened under c-1's key: %v", err)
		}
	})
	t.Run("record key field under the data key", func(t *testing.T) {
		if _, err := legacy(t, v, "c-1", "phone", a.Phone); !errors.Is(err, ErrDecrypt) {
			t.Errorf("a record-key field opened with the data key: %v", err)
		}
	})
	t.Run("key erased", func(t *testing.T) {
		gone := a
		gone.Key = nil
		if _, err := v.Unseal(gone, "phone"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("fields opened without their key: %v", err)
		}
	})
	t.Run("tampered key", func(t *testing.T) {
		k := bytes.Clone(a.Key)
		k[20] ^= 1
		if _, err := v.Record("c-1", k); !errors.Is(err, ErrDecrypt) {
			t.Errorf("tampered key: %v", err)
		}
		if _, err := v.Record("c-1", k[:30]); !errors.Is(err, ErrDecrypt) {
			t.Errorf("short key: %v", err)
		}
	})
	t.Run("zero record", func(t *testing.T) {
		if _, err := (Record{}).Unseal("phone", a.Phone); !errors.Is(err, ErrDecrypt) {
			t.Errorf("zero Record: %v", err)
		}
	})
}

func TestReopenWithWrongMasterKey(t *testing.T) {
	v, st, mk := openVault(t)
	sealed := v.Seal("c-1", "name", "Li Wei")
	rec := sealRecord(v, "c-2", "Wang Fang", "")
	if _, err := Open(context.Background(), st, NewKey()); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("wrong master key: %v", err)
	}
	v2, err := Open(context.Background(), st, mk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := legacy(t, v2, "c-1", "name", sealed); err != nil || got != "Li Wei" {
		t.Fatalf("reopened vault: %q %v", got, err)
	}
	if got, err := v2.Unseal(rec, "name"); err != nil || got != "Wang Fang" {
		t.Fatalf("reopened vault, record key: %q %v", got, err)
	}
	// Rotation re-wraps the same keys under a new master key.
	nk := NewKey()
	if err := Rewrap(context.Background(), st, mk, nk); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), st, mk); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("old master key still works after rotation: %v", err)
	}
	v3, err := Open(context.Background(), st, nk)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := legacy(t, v3, "c-1", "name", sealed); got != "Li Wei" {
		t.Errorf("after rotation: %q", got)
	}
	if got, _ := v3.Unseal(rec, "name"); got != "Wang Fang" {
		t.Errorf("record key after rotation: %q", got)
	}
}

func TestBlindIndexAndTokens(t *testing.T) {
	v, _, _ := openVault(t)
	a := v.BlindIndex(IndexPhone, "+8613800138000")
	if !bytes.Equal(a, v.BlindIndex(IndexPhone, "+8613800138000")) {
		t.Error("blind index not deterministic")
	}
	if bytes.Equal(a, v.BlindIndex(IndexAccount, "+8613800138000")) {
		t.Error("blind index not separated by kind")
	}
	if v.BlindIndex(IndexName, "") != nil {
		t.Error("empty value indexed")
	}
	other, _, _ := openVault(t)
	if bytes.Equal(a, other.BlindIndex(IndexPhone, "+8613800138000")) {
		t.Error("blind index is the same in two deployments: not keyed")
	}
	if len(a) != store.IndexSize {
		t.Errorf("blind index of %d bytes, want %d", len(a), store.IndexSize)
	}
	// The first 8 bytes of the HMAC: what stores converted from the whole
	// HMACs they kept before is what the vault computes now.
	m := hmac.New(sha256.New, v.index[:])
	m.Write([]byte("phone\x00+8613800138000"))
	if full := m.Sum(nil); !bytes.Equal(a, full[:store.IndexSize]) {
		t.Errorf("blind index %x is not the start of the HMAC %x", a, full)
	}
	h := v.TokenHash("tok-1234567890abcdef")
	if !v.TokenMatches("tok-1234567890abcdef", h) || v.TokenMatches("tok-1234567890abcdeg", h) {
		t.Error("TokenMatches")
	}
}

func TestKeyRedacts(t *testing.T) {
	k := NewKey()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), buf.String()} {
		if !strings.Contains(s, "redacted") || strings.Contains(s, fmt.Sprint([32]byte(k))) {
			t.Errorf("key printed: %s", s)
		}
	}
}

func TestMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateMasterKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	k2, err := LoadOrCreateMasterKey(dir, nil)
	if err != nil || k1 != k2 {
		t.Fatal("key not stable across loads")
	}
	os.Chmod(filepath.Join(dir, MasterKeyFile), 0o644)
	if _, err := LoadOrCreateMasterKey(dir, nil); err == nil {
		t.Error("world-readable key file accepted")
	}
	env := func(string) string { return "not base64!" }
	if _, err := LoadOrCreateMasterKey(t.TempDir(), env); err == nil {
		t.Error("bad CUSTOS_MASTER_KEY accepted")
	}
}

func TestNormalizeAndMask(t *testing.T) {
	for in, want := range map[string]string{
		"+86 138-0013-8000": "+8613800138000", "8613800138000": "+8613800138000", "13800138000": "+8613800138000",
		"0086 13800138000": "+8613800138000", "(0755) 1234 5678": "+8675512345678", "+1 415 555 0100": "+14155550100",
	} {
		if got, err := NormalizePhone(in); err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "+86138*", "12", "+0123456789"} {
		if _, err := NormalizePhone(bad); err == nil {
			t.Errorf("NormalizePhone(%q) accepted", bad)
		}
	}
	if got := MaskPhone("+8613800138000"); got != "+86•••••••8000" {
		t.Errorf("MaskPhone = %q", got)
	}
	if got := MaskAccount("liwei@example.com"); got != "l•••@example.com" {
		t.Errorf("MaskAccount = %q", got)
	}
	if NormalizeName("  Li   WEI ") != "li wei" {
		t.Error("NormalizeName")
	}
}

// TestSealerMatchesVault: a Sealer's blind indexes are the Vault's, its
// seals open with the Vault, and no two share a nonce.
func TestSealerMatchesVault(t *testing.T) {
	v, _, _ := openVault(t)
	s := v.NewSealer()
	seen := map[string]bool{}
	once := func(what string, b []byte) {
		if seen[string(b)] {
			t.Fatalf("%s reused", what)
		}
		seen[string(b)] = true
	}
	for i := range 600 { // more than one batch of random bytes
		val := fmt.Sprintf("+86138%08d", i)
		if got, want := s.BlindIndex(IndexPhone, val), v.BlindIndex(IndexPhone, val); !bytes.Equal(got, want) {
			t.Fatalf("BlindIndex(%q) = %x, want %x", val, got, want)
		}
		id := fmt.Sprintf("c-%d", i)
		r, key := s.NewRecord(id)
		sealed := s.Seal(r, "phone", val)
		if got, err := v.Unseal(store.Customer{ID: id, Phone: sealed, Key: key}, "phone"); err != nil || got != val {
			t.Fatalf("Unseal(Sealer.Seal(%q)) = %q, %v", val, got, err)
		}
		if _, err := v.Unseal(store.Customer{ID: "c-x", Phone: sealed, Key: key}, "phone"); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("a Sealer seal moved to another record opened: %v", err)
		}
		once("nonce", sealed[:12])
		once("nonce", key[:12])
	}
	r, _ := s.NewRecord("c-1")
	if s.Seal(r, "name", "") != nil || s.BlindIndex(IndexName, "") != nil {
		t.Error("empty values should seal and index to nil")
	}
}

// BenchmarkSealRecord is the vault's part of importing one customer: a
// record key drawn and wrapped, and three fields sealed.
func BenchmarkSealRecord(b *testing.B) {
	v, _, _ := openVault(b)
	s := v.NewSealer()
	b.ReportAllocs()
	for b.Loop() {
		r, _ := s.NewRecord("c-0001234567")
		s.Seal(r, "name", "Li Wei")
		s.Seal(r, "phone", "+8613800138000")
		s.Seal(r, "account", "li.wei1234@example.com")
	}
}

// BenchmarkSealLegacy is the same three fields sealed with the data key,
// as before record keys, for comparison.
func BenchmarkSealLegacy(b *testing.B) {
	v, _, _ := openVault(b)
	for b.Loop() {
		v.Seal("c-0001234567", "name", "Li Wei")
		v.Seal("c-0001234567", "phone", "+8613800138000")
		v.Seal("c-0001234567", "account", "li.wei1234@example.com")
	}
}

// candidates is a store that answers every blind index lookup with the
// same customers: as if their indexes collided.
type candidates []store.Customer

func (c candidates) CustomersByIndex(context.Context, string, []byte) ([]store.Customer, error) {
	return c, nil
}

// TestFindCustomer: a blind index is a candidate, not an identifier. Of
// the customers sharing it, FindCustomer returns only the one whose opened
// value is the one looked for, so a collision never yields someone else.
func TestFindCustomer(t *testing.T) {
	ctx := t.Context()
	v, _, _ := openVault(t)
	s := v.NewSealer()
	seal := func(id, name, phone, account string) store.Customer {
		r, key := s.NewRecord(id)
		return store.Customer{ID: id, Key: key, Name: s.Seal(r, "name", name), Phone: s.Seal(r, "phone", phone),
			Account: s.Seal(r, "account", account)}
	}
	a := seal("c-1", "Li Wei", "+8613800000001", "a@example.com")
	b := seal("c-2", "Wang Fang", "+8613800000002", "b@example.com")
	damaged := seal("c-0", "Zhao Min", "+8613800000002", "b@example.com")
	damaged.Key = b.Key // another record's key: does not open
	st := candidates{damaged, a, b}
	for _, tc := range []struct {
		kind, value, want string
	}{
		{IndexPhone, "+8613800000002", "c-2"},
		{IndexPhone, "+8613800000001", "c-1"},
		{IndexPhone, "+8613800000003", ""},
		{IndexAccount, "b@example.com", "c-2"},
		{IndexAccount, "c@example.com", ""},
		{IndexName, "wang fang", "c-2"},
		{IndexPhone, "", ""},
	} {
		c, err := v.FindCustomer(ctx, st, tc.kind, tc.value)
		if tc.want == "" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindCustomer(%s, %q) = %s, %v; want ErrNotFound", tc.kind, tc.value, c.ID, err)
			}
			continue
		}
		if err != nil || c.ID != tc.want {
			t.Errorf("FindCustomer(%s, %q) = %s, %v; want %s", tc.kind, tc.value, c.ID, err, tc.want)
		}
	}
	if _, err := v.FindCustomer(ctx, st, "region", "GD"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindCustomer of an unknown kind: %v", err)
	}
}
