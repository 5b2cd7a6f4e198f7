// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the server at CUSTOS_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
// Without a reachable server a test is skipped, except under CI=true, where
// that is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminURL is the server the tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("CUSTOS_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database for one test, drops it when the
// test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable (CUSTOS_TEST_POSTGRES=%q): %v", os.Getenv("CUSTOS_TEST_POSTGRES"), err)
		}
		t.Skipf("PostgreSQL is not reachable, skipping (set CUSTOS_TEST_POSTGRES): %v", err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	rand.Read(b[:])
	name := "custos_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return AdminURL() + " dbname=" + name // key=value form
	}
	u.Path = "/" + name
	return u.String()
}
