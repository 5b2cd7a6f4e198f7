package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/oidc"
	"github.com/custos-dev/custos/internal/scim"
	"github.com/custos-dev/custos/internal/siem"
	"github.com/custos-dev/custos/internal/store"
)

// attachEnterprise mounts the enterprise integrations (issue 12): SCIM
// provisioning at /scim/v2/ and, when [oidc] is configured, staff sign-in
// with OIDC tokens.
func (a *app) attachEnterprise(ctx context.Context) error {
	a.api.Extra = map[string]http.Handler{}
	if a.cfg.OIDC.Issuer != "" {
		auth, err := oidc.New(ctx, a.cfg.OIDC, a.store, oidc.Options{Logger: a.logger,
			Audit: func(ctx context.Context, action, target string) error {
				return a.gw.RecordSystem(ctx, gateway.SourceOIDC, action, target)
			}})
		if err != nil {
			return err
		}
		a.gw.External = auth
		if auth.LoginEnabled() {
			h, err := auth.LoginHandler(a.api.StartSession)
			if err != nil {
				return err
			}
			a.api.Extra["GET "+oidc.LoginPath] = h
			a.api.Extra["GET "+oidc.CallbackPath] = h
		}
	}
	h, err := scim.Handler(scim.Deps{
		Authenticate: a.api.Authenticate,
		Fail:         a.api.Fail,
		Store:        a.store,
		Audit: func(ctx context.Context, ev event.Event) error {
			_, err := a.log.Append(ctx, ev)
			return err
		},
		SetStatus: func(ctx context.Context, by store.Principal, target, status, reason string) error {
			return a.gw.SystemStatus(ctx, gateway.SourceSCIM, by, target, status, reason)
		},
		AllowedRoles: a.cfg.SCIMAllowedRoles,
		Logger:       a.logger,
	})
	if err != nil {
		return fmt.Errorf("scim: %w", err)
	}
	a.api.Extra["/scim/v2/"] = h
	return a.attachSIEM(ctx)
}

// attachSIEM starts the SIEM exporter when [siem] names a sink. It stops
// with the app (before the store closes).
func (a *app) attachSIEM(ctx context.Context) error {
	c := a.cfg.SIEM
	if !c.Enabled() {
		return nil
	}
	sinks, err := c.Sinks()
	if err != nil {
		return err
	}
	x := &siem.Exporter{Store: a.store, Feed: a.log, Sinks: sinks, Logger: a.logger, NoBackfill: c.Backfill != nil && !*c.Backfill}
	if c.Interval != "" {
		x.Interval, _ = time.ParseDuration(c.Interval) // validated with the config
	}
	a.spawn(ctx, func(ctx context.Context) {
		if err := x.Run(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("SIEM export stopped", "err", err)
		}
	})
	return nil
}
