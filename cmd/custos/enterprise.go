package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/scim"
)

// attachEnterprise mounts the enterprise integrations (issue 12): SCIM
// provisioning at /scim/v2/.
func (a *app) attachEnterprise(ctx context.Context) error {
	h, err := scim.Handler(scim.Deps{
		Authenticate: a.api.Authenticate,
		Fail:         a.api.Fail,
		Store:        a.store,
		Audit: func(ctx context.Context, ev event.Event) error {
			_, err := a.log.Append(ctx, ev)
			return err
		},
		Logger: a.logger,
	})
	if err != nil {
		return fmt.Errorf("scim: %w", err)
	}
	if a.api.Extra == nil {
		a.api.Extra = map[string]http.Handler{}
	}
	a.api.Extra["/scim/v2/"] = h
	return nil
}
