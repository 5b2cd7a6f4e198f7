package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// testLog is a real custos log served over HTTP.
type testLog struct {
	t   *testing.T
	dir string
	log *auditlog.Log
	srv *httptest.Server
}

// newTestLog opens a log in a fresh dir; with key set, it signs with that
// key file (a forger holding the log's key).
func newTestLog(t *testing.T, key []byte) *testLog {
	t.Helper()
	dir := t.TempDir()
	if key != nil {
		if err := os.WriteFile(filepath.Join(dir, auditlog.KeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{t: t, dir: dir, log: l, srv: httptest.NewServer(l.Handler())}
	t.Cleanup(func() {
		tl.srv.Close()
		l.Close(context.Background())
		st.Close()
	})
	return tl
}

// grow appends n events tagged with who (so that two logs differ) and
// waits for a checkpoint covering them.
func (tl *testLog) grow(who string, n int) {
	tl.t.Helper()
	var last uint64
	for i := 0; i < n; i++ {
		idx, err := tl.log.Append(context.Background(), event.Event{
			Time: time.Date(2026, 3, 2, 9, 0, i, 0, time.UTC), Actor: fmt.Sprintf("%s-%d", who, i),
			Action: event.ActionRead, Customer: "c-1", Decision: event.Allow,
		})
		if err != nil {
			tl.t.Fatal(err)
		}
		last = idx
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if size, ok := tl.published(); ok && size > last {
			return
		}
		if time.Now().After(deadline) {
			tl.t.Fatalf("no checkpoint covers %d entries", last+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// published returns the size of the checkpoint served at /log/checkpoint.
func (tl *testLog) published() (uint64, bool) {
	resp, err := http.Get(tl.srv.URL + "/log/checkpoint")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	lines := strings.Split(string(b), "\n")
	if resp.StatusCode != 200 || len(lines) < 2 {
		return 0, false
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	return n, err == nil
}

func (tl *testLog) keyFile() []byte {
	b, err := os.ReadFile(filepath.Join(tl.dir, auditlog.KeyFile))
	if err != nil {
		tl.t.Fatal(err)
	}
	return b
}

// TestMonitorCatchesForkAndRollback follows a real log, then is pointed
// at forged copies signed with the same key: one that grew from a
// different history, one with another tree at the size already seen, and
// one smaller than what was seen. Each is named; a wrong key is refused;
// the state survives a restart and keeps following the honest log.
func TestMonitorCatchesForkAndRollback(t *testing.T) {
	ctx := context.Background()
	honest := newTestLog(t, nil)
	honest.grow("a", 10)
	key := honest.log.VerifierKey()
	state := filepath.Join(t.TempDir(), "monitor.json")
	check := func(url, k string) (Report, error) {
		t.Helper()
		m, err := New(Options{URL: url, Key: k, StateFile: state})
		if err != nil {
			t.Fatal(err)
		}
		return m.Check(ctx)
	}
	if rep, err := check(honest.srv.URL, key); err != nil || !rep.New || rep.Size != 10 {
		t.Fatalf("first check: %+v, %v", rep, err)
	}
	honest.grow("a2", 5)
	if rep, err := check(honest.srv.URL+"/log/", key); err != nil || rep.Proven != 1 || rep.Size != 15 {
		t.Fatalf("after growth: %+v, %v", rep, err)
	}
	if rep, err := check(honest.srv.URL, ""); err != nil || rep.New {
		t.Fatalf("unchanged, key from the state: %+v, %v", rep, err)
	}

	tests := []struct {
		name string
		grow int
		want error
	}{
		{"grew from another history", 20, ErrFork},
		{"another tree at a size seen", 15, ErrFork},
		{"smaller than seen", 4, ErrRollback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forged := newTestLog(t, honest.keyFile())
			forged.grow("b", tc.grow)
			if forged.log.VerifierKey() != key {
				t.Fatal("forged log has another key")
			}
			_, err := check(forged.srv.URL, key)
			var p *Problem
			if !errors.Is(err, tc.want) || !errors.As(err, &p) || p.Seen == nil {
				t.Fatalf("got %v, want a %v problem naming the checkpoint seen", err, tc.want)
			}
			t.Logf("%v", err)
		})
	}
	other := newTestLog(t, nil)
	other.grow("c", 3)
	for _, k := range []string{"", other.log.VerifierKey()} {
		if _, err := check(other.srv.URL, k); !errors.Is(err, ErrSignature) {
			t.Errorf("log under another key (key flag %q): %v, want %v", k, err, ErrSignature)
		}
	}
	// The honest log still checks out against the saved state.
	honest.grow("a3", 2)
	if rep, err := check(honest.srv.URL, key); err != nil || rep.Proven != 2 {
		t.Errorf("honest log after the forgeries: %+v, %v", rep, err)
	}
}
