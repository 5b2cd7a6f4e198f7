package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/api"
	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/search"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
	"github.com/custos-dev/custos/internal/watch"
	"github.com/custos-dev/custos/web"
)

// attach wires the optional parts (detectors, trace, dashboard) into the app.
func (a *app) attach(ctx context.Context, reg *prometheus.Registry, v *vault.Vault) error {
	a.api.OpenAPI = api.Spec
	if err := a.attachEnterprise(ctx); err != nil {
		return err
	}
	a.api.Web = web.Handler(web.Options{VerifierKey: a.log.VerifierKey(), Origin: a.log.Origin()})
	if err := a.attachDetectors(ctx, reg); err != nil {
		return err
	}
	a.attachTrace(ctx, v)
	a.gw.Prover = a.log
	idx := &search.Indexer{Store: a.store, Feed: a.log, Logger: a.logger}
	a.spawn(ctx, func(ctx context.Context) { idx.Run(ctx) })
	return nil
}

// attachDetectors starts the online detectors on the audit log.
func (a *app) attachDetectors(ctx context.Context, reg *prometheus.Registry) error {
	dc := detect.DefaultConfig()
	dc.StepUpScore = max(a.cfg.Detect.StepUpScore, dc.AlertScore)
	dc.SuspendScore = max(a.cfg.Detect.SuspendScore, dc.StepUpScore)
	var err error
	if dc.SiteZones, err = a.cfg.SiteZones(); err != nil {
		return err
	}
	if err := dc.Validate(); err != nil {
		return err
	}
	r := &watch.Runner{Store: a.store, Feed: a.log, Engine: detect.New(dc), Logger: a.logger, Registerer: reg}
	if !a.cfg.Detect.Disabled {
		r.Contain = a.gw.Contain
	}
	if ld, ok := a.store.(store.Leader); ok {
		lctx, stop := context.WithCancel(ctx) // the lease holds a connection: released before the store closes
		r.Lead, a.closers = store.Campaign(lctx, ld, "detectors", a.logger), append(a.closers, stop)
	}
	a.watch = r
	a.api.Risk = r
	a.spawn(ctx, func(ctx context.Context) {
		if err := r.Run(ctx); err != nil {
			a.logger.Error("detectors stopped", "err", err)
		}
	})
	return nil
}

// spawn runs f until the app closes, which ends the app's background work
// (releasing, say, a leader lease before the store closes) and waits for f.
func (a *app) spawn(ctx context.Context, f func(ctx context.Context)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	a.closers = append(a.closers, func() { a.cancel(); <-done })
}
