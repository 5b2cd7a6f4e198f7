// Package search keeps the audit search index: a consumer of the audit feed
// that writes each record's search terms (actor, customer, org, site,
// action, decision, time) beside the audit table, so that the hot append
// maintains no secondary index and audit search stays fast on a large log.
package search

import (
	"context"
	"log/slog"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/store"
)

// Store is what the indexer writes to.
type Store interface {
	IndexAudit(ctx context.Context, terms []store.AuditTerms) error
	AuditIndexed(ctx context.Context) (uint64, error)
}

// Indexer follows the audit feed from where the index ends and indexes
// every record. Several gateways on one database may each run one: an
// index row written twice is written once.
type Indexer struct {
	Store  Store
	Feed   auditlog.Feed
	Logger *slog.Logger
	// Interval is the least time between two index writes (default
	// DefaultInterval): search sees an entry at most about this late.
	Interval time.Duration
}

// Run indexes until ctx ends. A store error is logged and retried from the
// index's end, so nothing is skipped.
func (x *Indexer) Run(ctx context.Context) error {
	for {
		err := x.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		x.Logger.Warn("audit search index: retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (x *Indexer) follow(ctx context.Context) error {
	from, err := x.Store.AuditIndexed(ctx)
	if err != nil {
		return err
	}
	c := x.Feed.Follow(ctx, from, auditlog.FollowName("search"), auditlog.FollowBatch(indexBatch))
	defer c.Close()
	for {
		recs, err := c.Next(ctx)
		if err != nil {
			return err
		}
		if err := x.Store.IndexAudit(ctx, Terms(recs)); err != nil {
			return err
		}
		if len(recs) == indexBatch {
			continue // behind: no pause until caught up
		}
		// One index transaction per interval at most: the index is
		// derived, and a transaction per group commit would cost the
		// gateway more than it gains.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(x.interval()):
		}
	}
}

// indexBatch is the most records one index transaction writes.
const indexBatch = 2048

// DefaultInterval is how often the index is written at most (unless it
// is behind).
const DefaultInterval = 250 * time.Millisecond

func (x *Indexer) interval() time.Duration {
	if x.Interval > 0 {
		return x.Interval
	}
	return DefaultInterval
}

// Terms returns the search terms of records from the feed. A record whose
// bytes are not an event is indexed by its store columns alone.
func Terms(recs []auditlog.Record) []store.AuditTerms {
	out := make([]store.AuditTerms, len(recs))
	for i, r := range recs {
		t := store.AuditTerms{Index: r.Index, Time: r.Time, Actor: r.Actor, Customer: r.Customer}
		if ev := r.Event; ev != nil {
			t.Org, t.Site, t.Action, t.Decision = ev.Org, ev.Site, ev.Action, ev.Decision
		}
		out[i] = t
	}
	return out
}
