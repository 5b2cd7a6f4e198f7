package gateway

import (
	"context"
	"log/slog"

	"github.com/custos-dev/custos/internal/store"
)

// StoreAlerts is the usual Alerter: it keeps each alert in the store, where
// the dashboard and the SIEM export find it, and logs its kind and score
// (never a customer).
type StoreAlerts struct {
	Store interface {
		AddAlert(ctx context.Context, a store.Alert) (int64, error)
	}
	Logger *slog.Logger
}

// Raise implements Alerter.
func (s *StoreAlerts) Raise(ctx context.Context, a store.Alert) error {
	if _, err := s.Store.AddAlert(ctx, a); err != nil {
		s.Logger.Error("store alert", "kind", a.Kind, "err", err)
		return err
	}
	s.Logger.Warn("alert", "kind", a.Kind, "actor", a.Actor, "score", a.Score)
	return nil
}
