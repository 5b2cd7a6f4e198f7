package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func testConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1", CodeHash: []byte("code"),
		CreatedAt: base, ExpiresAt: base.Add(5 * time.Minute)}
	if err := s.CreateConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateConsent(duplicate)", s.CreateConsent(ctx, c), store.ErrExists)
	got, err := s.Consent(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Customer != c.Customer || got.Principal != c.Principal || !bytes.Equal(got.CodeHash, c.CodeHash) ||
		!got.CreatedAt.Equal(c.CreatedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) || got.Attempts != 0 ||
		!got.ConfirmedAt.IsZero() || !got.GrantUntil.IsZero() {
		t.Errorf("Consent = %+v, want %+v", got, c)
	}
	for want := 1; want <= 3; want++ {
		n, err := s.ConsentFailed(ctx, c.ID)
		if err != nil || n != want {
			t.Errorf("ConsentFailed = %d, %v; want %d", n, err, want)
		}
	}
	at, until := base.Add(time.Minute), base.Add(time.Minute+30*time.Minute)
	if err := s.ConfirmConsent(ctx, c.ID, at, until); err != nil {
		t.Fatalf("ConfirmConsent: %v", err)
	}
	wantErr(t, "ConfirmConsent again", s.ConfirmConsent(ctx, c.ID, at.Add(time.Second), until.Add(time.Hour)), store.ErrConflict)
	got, err = s.Consent(ctx, c.ID)
	if err != nil || got.Attempts != 3 || !got.ConfirmedAt.Equal(at) || !got.GrantUntil.Equal(until) {
		t.Errorf("Consent after confirmation = %+v, %v; want 3 attempts, confirmed %v until %v", got, err, at, until)
	}
	_, err = s.Consent(ctx, "k-missing")
	wantErr(t, "Consent(missing)", err, store.ErrNotFound)
	_, err = s.ConsentFailed(ctx, "k-missing")
	wantErr(t, "ConsentFailed(missing)", err, store.ErrNotFound)
	wantErr(t, "ConfirmConsent(missing)", s.ConfirmConsent(ctx, "k-missing", at, until), store.ErrNotFound)
}

// createRaceConsent stores the consent the races below are run on: k-1,
// for c-1 by emp-1, code "code", open for a minute from base.
func createRaceConsent(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.CreateConsent(t.Context(), store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1",
		CodeHash: []byte("code"), CreatedAt: base, ExpiresAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
}

func testConsentFailedConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRaceConsent(t, s)
	const n = 16
	counts := make([]int, n)
	errs := make([]error, n)
	parallel(n, func(i int) { counts[i], errs[i] = s.ConsentFailed(ctx, "k-1") })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("ConsentFailed counts = %v, want each of 1..%d once", counts, n)
		}
	}
	if c, err := s.Consent(ctx, "k-1"); err != nil || c.Attempts != n {
		t.Errorf("Attempts = %d, %v; want %d", c.Attempts, err, n)
	}
}

func testConfirmConsentConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRaceConsent(t, s)
	const n = 8
	errs := make([]error, n)
	parallel(n, func(i int) {
		at := base.Add(time.Duration(i+1) * time.Second)
		errs[i] = s.ConfirmConsent(ctx, "k-1", at, at.Add(time.Hour))
	})
	winner := oneWinner(t, "ConfirmConsent", errs)
	at := base.Add(time.Duration(winner+1) * time.Second)
	if c, err := s.Consent(ctx, "k-1"); err != nil || !c.ConfirmedAt.Equal(at) || !c.GrantUntil.Equal(at.Add(time.Hour)) {
		t.Errorf("Consent = %+v, %v; want the winner's times (%v)", c, err, at)
	}
}

// testReserveAttempt walks a consent through its attempts: each reserve
// counts one, a locked, confirmed or expired consent reserves nothing and
// comes back as stored, so the caller can tell why.
func testReserveAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base.Add(time.Minute)
	for _, c := range []store.Consent{
		{ID: "k-1", Customer: "c-1", Principal: "emp-1", CodeHash: []byte("code"), CreatedAt: base, ExpiresAt: base.Add(5 * time.Minute)},
		{ID: "k-2", Customer: "c-1", Principal: "emp-1", CodeHash: []byte("code"), CreatedAt: base, ExpiresAt: base.Add(5 * time.Minute)},
		{ID: "k-3", Customer: "c-1", Principal: "emp-1", CodeHash: []byte("code"), CreatedAt: base, ExpiresAt: now},
	} {
		if err := s.CreateConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for want := 1; want <= 3; want++ {
		c, ok, err := s.ReserveAttempt(ctx, "k-1", 3, now)
		if err != nil || !ok || c.Attempts != want || c.ID != "k-1" || !bytes.Equal(c.CodeHash, []byte("code")) {
			t.Fatalf("ReserveAttempt %d = %+v, %v, %v; want ok with %d attempts", want, c, ok, err, want)
		}
	}
	c, ok, err := s.ReserveAttempt(ctx, "k-1", 3, now)
	if err != nil || ok || c.Attempts != 3 {
		t.Errorf("ReserveAttempt(locked) = %+v, %v, %v; want not ok with 3 attempts", c, ok, err)
	}
	// A wider limit lets the same consent go on.
	if c, ok, err := s.ReserveAttempt(ctx, "k-1", 5, now); err != nil || !ok || c.Attempts != 4 {
		t.Errorf("ReserveAttempt(max 5) = %+v, %v, %v; want ok with 4 attempts", c, ok, err)
	}

	if err := s.ConfirmConsent(ctx, "k-2", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, ok, err = s.ReserveAttempt(ctx, "k-2", 5, now)
	if err != nil || ok || c.ConfirmedAt.IsZero() || c.Attempts != 0 {
		t.Errorf("ReserveAttempt(confirmed) = %+v, %v, %v; want not ok, confirmed, no attempt counted", c, ok, err)
	}
	// Expired: ExpiresAt is not after now.
	c, ok, err = s.ReserveAttempt(ctx, "k-3", 5, now)
	if err != nil || ok || !c.ExpiresAt.Equal(now) || c.Attempts != 0 {
		t.Errorf("ReserveAttempt(expired) = %+v, %v, %v; want not ok, no attempt counted", c, ok, err)
	}
	if _, ok, err := s.ReserveAttempt(ctx, "k-3", 5, now.Add(-time.Nanosecond)); err != nil || !ok {
		t.Errorf("ReserveAttempt(just before expiry) = %v, %v; want ok", ok, err)
	}
	_, ok, err = s.ReserveAttempt(ctx, "k-missing", 5, now)
	if ok {
		t.Error("ReserveAttempt(missing) ok")
	}
	wantErr(t, "ReserveAttempt(missing)", err, store.ErrNotFound)
}

// testReserveAttemptConcurrent races 60 reservations at a limit of five:
// exactly five may win, or a guesser could try more codes than allowed by
// sending them at once.
func testReserveAttemptConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRaceConsent(t, s)
	const n, max = 60, 5
	oks := make([]bool, n)
	errs := make([]error, n)
	attempts := make([]int, n)
	parallel(n, func(i int) {
		var c store.Consent
		c, oks[i], errs[i] = s.ReserveAttempt(ctx, "k-1", max, base)
		attempts[i] = c.Attempts
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var won []int
	for i, ok := range oks {
		if ok {
			won = append(won, attempts[i])
		} else if attempts[i] != max {
			t.Errorf("a refused reservation saw %d attempts, want %d", attempts[i], max)
		}
	}
	slices.Sort(won)
	if !slices.Equal(won, []int{1, 2, 3, 4, 5}) {
		t.Errorf("winning reservations saw attempts %v, want [1 2 3 4 5]", won)
	}
	if c, err := s.Consent(ctx, "k-1"); err != nil || c.Attempts != max {
		t.Errorf("Attempts = %d, %v; want %d", c.Attempts, err, max)
	}
}
