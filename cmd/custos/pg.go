package main

import (
	"context"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/postgres"
)

func openPostgres(ctx context.Context, url string) (store.Store, error) {
	return postgres.Open(ctx, url)
}
