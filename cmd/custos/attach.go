package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/api"
	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
	"github.com/custos-dev/custos/internal/watch"
	"github.com/custos-dev/custos/web"
)

// attach wires the optional parts (detectors, trace, dashboard) into the app.
func (a *app) attach(ctx context.Context, env *Env, reg *prometheus.Registry, v *vault.Vault, alerts *alertSink) error {
	a.api.OpenAPI = api.Spec
	if err := a.attachEnterprise(ctx); err != nil {
		return err
	}
	a.api.Web = web.Handler(web.Options{VerifierKey: a.log.VerifierKey(), Origin: a.log.Origin()})
	if err := a.attachDetectors(ctx, reg); err != nil {
		return err
	}
	a.attachTrace(ctx, v)
	return nil
}

// attachDetectors starts the online detectors on the audit log.
func (a *app) attachDetectors(ctx context.Context, reg *prometheus.Registry) error {
	dc := detect.DefaultConfig()
	dc.StepUpScore = max(a.cfg.Detect.StepUpScore, dc.AlertScore)
	dc.SuspendScore = max(a.cfg.Detect.SuspendScore, dc.StepUpScore)
	if err := dc.Validate(); err != nil {
		return err
	}
	r := &watch.Runner{Store: a.store, Feed: a.log, Engine: detect.New(dc), Logger: a.logger, Registerer: reg}
	if !a.cfg.Detect.Disabled {
		r.Contain = a.gw.Contain
	}
	if ld, ok := a.store.(store.Leader); ok {
		var leading atomic.Bool
		r.Lead = leading.Load
		go func() {
			for {
				release, ok, err := ld.TryLead(ctx, "detectors")
				if err != nil && ctx.Err() == nil {
					a.logger.Warn("detectors: leader election failed", "err", err)
				}
				if ok {
					leading.Store(true)
					a.logger.Info("detectors: this gateway leads alerting and containment")
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
	}
	a.watch = r
	a.api.Risk = r
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			a.logger.Error("detectors stopped", "err", err)
		}
	}()
	a.closers = append(a.closers, func() { a.cancel(); <-done })
	return nil
}
