package siem

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
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
	st := exportStore(t, 25)
	fs := &cursorFailStore{Store: st}
	sink := &flakySink{got: map[string]int{}}
	// The cursors exist (the first saves succeed), then saves fail a while.
	armed := false
	exportUntil(testExporter(fs, sink), 10*time.Second, func() bool {
		n := sink.delivered()
		if !armed && n > 0 {
			fs.mu.Lock()
			fs.fail = 5
			fs.mu.Unlock()
			armed = true
		}
		return n >= 26
	})
	sink.checkOnce(t, 26)
	if b, err := st.Meta(t.Context(), "siem/test/audit"); err != nil || string(b) != "25" {
		t.Errorf("audit cursor %q, %v; want 25", b, err)
	}
}
