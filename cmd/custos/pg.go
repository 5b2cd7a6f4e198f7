package main

import (
	"context"
	"errors"

	"github.com/custos-dev/custos/internal/store"
)

func openPostgres(ctx context.Context, url string) (store.Store, error) {
	return nil, errors.New("PostgreSQL support is not built yet")
}
