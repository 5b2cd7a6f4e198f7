package store

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Campaign runs for leadership of job among the gateways sharing ld until
// ctx ends, trying again every two seconds while another gateway leads.
// The returned function reports whether this gateway leads now; once it
// does, it leads until ctx ends (then it releases the lead).
func Campaign(ctx context.Context, ld Leader, job string, logger *slog.Logger) (leading func() bool) {
	var lead atomic.Bool
	go func() {
		for {
			release, ok, err := ld.TryLead(ctx, job)
			if err != nil && ctx.Err() == nil {
				logger.Warn("leader election failed", "job", job, "err", err)
			}
			if ok {
				lead.Store(true)
				logger.Info("this gateway leads", "job", job)
				<-ctx.Done()
				release()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	return lead.Load
}
