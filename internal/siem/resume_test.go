package siem

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// cursorFailStore fails the first saves of the exporter's cursors, as a
// store that is briefly unavailable would.
type cursorFailStore struct {
	store.Store
	mu   sync.Mutex
	fail int
}

func (s *cursorFailStore) SetMeta(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	failing := strings.HasPrefix(key, "siem/") && s.fail > 0
	if failing {
		s.fail--
	}
	s.mu.Unlock()
	if failing {
		return store.Unavailable(errors.New("connection refused"))
	}
	return s.Store.SetMeta(ctx, key, value)
}

// TestExporterCursorSaveFails: a batch the sink accepted whose cursor the
// store could not save is not sent again; the save is retried first, and
// export goes on from there, every record and alert delivered once.
func TestExporterCursorSaveFails(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 25 {
		ev := event.Event{Time: time.Now(), Actor: "emp-1", Action: event.ActionRead, Decision: event.Allow}
		if _, err := st.AppendAudit(ctx, []store.AuditRecord{{Time: ev.Time, Actor: ev.Actor, Event: ev.Canonical(), Salt: []byte("s")}}); err != nil {
			t.Fatal(err)
		}
	}
	st.AddAlert(ctx, store.Alert{Actor: "emp-1", Time: time.Now(), Score: 0.9, Kind: "volume"})
	fs := &cursorFailStore{Store: st}
	sink := &flakySink{got: map[string]int{}}
	x := &Exporter{Store: fs, Sinks: []Sink{sink}, Interval: 10 * time.Millisecond, Batch: 10, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	// The cursors exist (the first saves succeed), then saves fail a while.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { x.Run(rctx); close(done) }()
	armed := false
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		sink.mu.Lock()
		n := len(sink.got)
		sink.mu.Unlock()
		if !armed && n > 0 {
			fs.mu.Lock()
			fs.fail = 5
			fs.mu.Unlock()
			armed = true
		}
		if n >= 26 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	<-done
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.got) != 26 {
		t.Fatalf("delivered %d distinct items, want 25 audit + 1 alert", len(sink.got))
	}
	for uid, n := range sink.got {
		if n != 1 {
			t.Errorf("%s delivered %d times", uid, n)
		}
	}
	if b, err := st.Meta(ctx, "siem/test/audit"); err != nil || string(b) != "25" {
		t.Errorf("audit cursor %q, %v; want 25", b, err)
	}
}
