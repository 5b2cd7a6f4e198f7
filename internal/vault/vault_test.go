package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/store/sqlite"
)

func openVault(t *testing.T) (*Vault, *sqlite.Store, Key) {
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

func TestSealBindsRecordAndField(t *testing.T) {
	v, _, _ := openVault(t)
	sealed := v.Seal("c-1", "phone", "+8613800138000")
	if bytes.Contains(sealed, []byte("13800138000")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := v.Unseal("c-1", "phone", sealed)
	if err != nil || got != "+8613800138000" {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	for _, c := range []struct{ id, field string }{{"c-2", "phone"}, {"c-1", "account"}} {
		if _, err := v.Unseal(c.id, c.field, sealed); !errors.Is(err, ErrDecrypt) {
			t.Errorf("moved to %s/%s: err %v, want ErrDecrypt", c.id, c.field, err)
		}
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := v.Unseal("c-1", "phone", sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("tampered: %v", err)
	}
	if a, b := v.Seal("c-1", "name", "x"), v.Seal("c-1", "name", "x"); bytes.Equal(a, b) {
		t.Error("two seals of the same value are equal: nonce reuse")
	}
}

func TestReopenWithWrongMasterKey(t *testing.T) {
	v, st, mk := openVault(t)
	sealed := v.Seal("c-1", "name", "Li Wei")
	if _, err := Open(context.Background(), st, NewKey()); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("wrong master key: %v", err)
	}
	v2, err := Open(context.Background(), st, mk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v2.Unseal("c-1", "name", sealed); err != nil || got != "Li Wei" {
		t.Fatalf("reopened vault: %q %v", got, err)
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
	if got, _ := v3.Unseal("c-1", "name", sealed); got != "Li Wei" {
		t.Errorf("after rotation: %q", got)
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
	nonces := map[string]bool{}
	for i := range 600 { // more than one batch of nonces
		val := fmt.Sprintf("+86138%08d", i)
		if got, want := s.BlindIndex(IndexPhone, val), v.BlindIndex(IndexPhone, val); !bytes.Equal(got, want) {
			t.Fatalf("BlindIndex(%q) = %x, want %x", val, got, want)
		}
		sealed := s.Seal("c-1", "phone", val)
		if got, err := v.Unseal("c-1", "phone", sealed); err != nil || got != val {
			t.Fatalf("Unseal(Sealer.Seal(%q)) = %q, %v", val, got, err)
		}
		if _, err := v.Unseal("c-2", "phone", sealed); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("a Sealer seal moved to another record opened: %v", err)
		}
		n := string(sealed[:12])
		if nonces[n] {
			t.Fatal("nonce reused")
		}
		nonces[n] = true
	}
	if s.Seal("c-1", "name", "") != nil || s.BlindIndex(IndexName, "") != nil {
		t.Error("empty values should seal and index to nil")
	}
}
