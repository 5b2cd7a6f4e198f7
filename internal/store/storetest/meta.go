package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/custos-dev/custos/internal/store"
)

func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Meta(ctx, "log.key")
	wantErr(t, "Meta(unset)", err, store.ErrNotFound)
	v, err := s.SetMetaOnce(ctx, "log.key", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Errorf("SetMetaOnce(first) = %q, %v; want first", v, err)
	}
	v, err = s.SetMetaOnce(ctx, "log.key", []byte("second"))
	if err != nil || string(v) != "first" {
		t.Errorf("SetMetaOnce(second) = %q, %v; want the first value", v, err)
	}
	if v, err := s.Meta(ctx, "log.key"); err != nil || string(v) != "first" {
		t.Errorf("Meta = %q, %v; want first", v, err)
	}
	if err := s.SetMeta(ctx, "log.key", []byte("third")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, "log.key"); err != nil || string(v) != "third" {
		t.Errorf("Meta after SetMeta = %q, %v; want third", v, err)
	}
	if err := s.SetMeta(ctx, "other", []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, "other"); err != nil || !bytes.Equal(v, []byte{0, 1, 2, 255}) {
		t.Errorf("Meta(other) = %v, %v; want binary value back", v, err)
	}
}

func testMetaOnceConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	got := make([][]byte, n)
	errs := make([]error, n)
	parallel(n, func(i int) { got[i], errs[i] = s.SetMetaOnce(ctx, "k", []byte(fmt.Sprintf("v%d", i))) })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("SetMetaOnce returned different values: %q", got)
		}
	}
	if v, err := s.Meta(ctx, "k"); err != nil || !bytes.Equal(v, got[0]) {
		t.Errorf("Meta = %q, %v; want %q", v, err, got[0])
	}
}
