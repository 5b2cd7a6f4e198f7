package store

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Campaign runs for leadership of job among the gateways sharing ld until
// ctx ends, trying again every two seconds while another gateway leads.
// The returned function reports whether this gateway leads now; it leads
// until ctx ends (then it releases the lead) or the lease is lost (a
// database restart or failover), when it campaigns again.
func Campaign(ctx context.Context, ld Leader, job string, logger *slog.Logger) (leading func() bool) {
	var lead atomic.Bool
	go func() {
		for {
			release, lost, ok, err := ld.TryLead(ctx, job)
			if err != nil && ctx.Err() == nil {
				logger.Warn("leader election failed", "job", job, "err", err)
			}
			if ok {
				lead.Store(true)
				logger.Info("this gateway leads", "job", job)
				select {
				case <-ctx.Done():
					release()
					return
				case <-lost:
					lead.Store(false)
					release()
					logger.Warn("lost the lead (database connection lost); campaigning again", "job", job)
				}
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
