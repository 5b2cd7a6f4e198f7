package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/custos-dev/custos/internal/store"
)

// Session is a demo whose world is loaded and whose gateway runs: Run
// replays the world's work through Handler (progress on Progress), waits
// until the detectors have seen it all, writes the leaked list into Dir and
// returns the summary (without Addr and Took, which the caller knows).
type Session struct {
	World   *World
	Handler http.Handler
	Clock   *Clock
	Codes   *Codes
	// WaitIdle returns once the detectors have caught up with the log.
	WaitIdle func(ctx context.Context) error
	Store    interface {
		AuditReader
		Alerts(ctx context.Context, limit int) ([]store.Alert, error)
	}
	Dir      string
	Progress io.Writer
}

// Run runs the session.
func (s Session) Run(ctx context.Context) (Summary, error) {
	bar := progressbar.NewOptions(len(s.World.Events), progressbar.OptionSetWriter(s.Progress),
		progressbar.OptionSetDescription("replaying work through the gateway"), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	rp := &Replayer{World: s.World, Handler: s.Handler, Clock: s.Clock, Codes: s.Codes,
		Progress: func(done, total int) { bar.Set(done) }}
	stats, err := rp.Run(ctx)
	bar.Finish()
	s.Clock.Release()
	if err != nil {
		return Summary{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = s.WaitIdle(wctx)
	cancel()
	if err != nil {
		return Summary{}, fmt.Errorf("detectors did not catch up: %w", err)
	}
	leak := filepath.Join(s.Dir, LeakFile)
	b, err := s.World.Leak(ctx, s.Store)
	if err == nil {
		err = os.WriteFile(leak, b, 0o600)
	}
	if err != nil {
		return Summary{}, err
	}
	alerts, err := s.Store.Alerts(ctx, 10000)
	return Summary{World: s.World, Stats: stats, Alerts: alerts, Leak: leak}, err
}
