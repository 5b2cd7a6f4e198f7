// Package storetest is the conformance suite every store.Store
// implementation must pass. An implementation's tests call Run with a
// function that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "custos.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Each subtest checks one part of the contract written in the doc comments
// of package store, including the parts that only show under concurrency:
// quotas that must not be overspent, audit indexes that must stay
// consecutive, and values that several gateways must agree on.
//
// Beyond the interface's comments the suite also pins down behaviour both
// backends share and callers rely on: a principal stored with an empty
// Status reads back as StatusActive, a PutPrincipal or Import without a
// TokenHash keeps the token already stored, a nil blind index matches
// nothing, times round-trip to the nanosecond, and alerts are ordered by
// Time (newest first).
package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// Run runs the conformance suite as subtests of t. open MUST return a new,
// empty store on every call and arrange (with t.Cleanup) for it to be
// closed when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ImportRoundTrip", testImportRoundTrip},
		{"ImportReplaces", testImportReplaces},
		{"ImportAllOrNothing", testImportAllOrNothing},
		{"CustomerLookups", testCustomerLookups},
		{"CustomerNotFound", testCustomerNotFound},
		{"LookupCustomers", testLookupCustomers},
		{"CustomersByIndex", testCustomersByIndex},
		{"PrincipalPutAndGet", testPrincipalPutAndGet},
		{"PrincipalTokenUnique", testPrincipalTokenUnique},
		{"PrincipalKeepsToken", testPrincipalKeepsToken},
		{"PrincipalStatus", testPrincipalStatus},
		{"PrincipalsVersion", testPrincipalsVersion},
		{"ChangeStatus", testChangeStatus},
		{"ChangeStatusConcurrent", testChangeStatusConcurrent},
		{"PutPrincipalKeepsStatus", testPutPrincipalKeepsStatus},
		{"Tickets", testTickets},
		{"TicketAssignClose", testTicketAssignClose},
		{"TicketCloseConcurrent", testTicketCloseConcurrent},
		{"TicketsOpenedSince", testTicketsOpenedSince},
		{"Consents", testConsents},
		{"ConsentFailedConcurrent", testConsentFailedConcurrent},
		{"ConfirmConsentConcurrent", testConfirmConsentConcurrent},
		{"ReserveAttempt", testReserveAttempt},
		{"ReserveAttemptConcurrent", testReserveAttemptConcurrent},
		{"BreakGlass", testBreakGlass},
		{"BreakGlassApproveConcurrent", testBreakGlassApproveConcurrent},
		{"QuotaHourLimit", testQuotaHourLimit},
		{"QuotaDayLimit", testQuotaDayLimit},
		{"QuotaWindows", testQuotaWindows},
		{"QuotaPerPrincipal", testQuotaPerPrincipal},
		{"QuotaUnlimited", testQuotaUnlimited},
		{"QuotaConcurrent", testQuotaConcurrent},
		{"QuotaConcurrentSameCustomer", testQuotaConcurrentSameCustomer},
		{"AuditAppendAndRead", testAuditAppendAndRead},
		{"AuditSearch", testAuditSearch},
		{"Cases", testCases},
		{"Incidents", testIncidents},
		{"EraseCustomer", testEraseCustomer},
		{"KeepTombstone", testKeepTombstone},
		{"AuditConcurrent", testAuditConcurrent},
		{"Checkpoints", testCheckpoints},
		{"Alerts", testAlerts},
		{"Meta", testMeta},
		{"MetaOnceConcurrent", testMetaOnceConcurrent},
		{"RateLimit", testRateLimit},
		{"RateLimitConcurrent", testRateLimitConcurrent},
		{"Approve", testApprove},
		{"ApproveConcurrent", testApproveConcurrent},
		{"Sessions", testSessions},
		{"SampleCustomers", testSampleCustomers},
		{"LoadFresh", testLoadFresh},
		{"LoadReplaces", testLoadReplaces},
		{"LoadAllOrNothing", testLoadAllOrNothing},
		{"LoadSkipsErased", testLoadSkipsErased},
		{"PutCustomer", testPutCustomer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a fixed instant with nanoseconds, 09:14:05 UTC, so that every
// store has to keep full time precision.
var base = time.Date(2026, 3, 2, 9, 14, 5, 123456789, time.UTC)

// customer returns customer i; two in three have a record key, the third
// is sealed with the data key (written before record keys).
func customer(i int) store.Customer {
	var key []byte
	if i%3 != 0 {
		key = []byte(fmt.Sprintf("wrapped-key-%d", i))
	}
	return store.Customer{
		Key:          key,
		ID:           fmt.Sprintf("c-%07d", i),
		Region:       "GD",
		Site:         fmt.Sprintf("store-%04d", i%7),
		Name:         []byte(fmt.Sprintf("sealed-name-%d", i)),
		Phone:        []byte(fmt.Sprintf("sealed-phone-%d", i)),
		Account:      []byte(fmt.Sprintf("sealed-account-%d", i)),
		PhoneIndex:   ix(fmt.Sprintf("pidx-%d", i)),
		AccountIndex: ix(fmt.Sprintf("aidx-%d", i)),
		NameIndex:    ix(fmt.Sprintf("nidx-%d", i)),
	}
}

func principal(id string, token []byte) store.Principal {
	return store.Principal{
		ID:        id,
		Name:      "name of " + id,
		Org:       "dist-017",
		OrgKind:   "partner",
		Role:      "store_clerk",
		Site:      "store-0931",
		Region:    "GD",
		TokenHash: token,
		Status:    store.StatusActive,
	}
}

func mustImport(t *testing.T, s store.Store, b store.Batch) {
	t.Helper()
	if err := s.Import(t.Context(), b); err != nil {
		t.Fatalf("Import: %v", err)
	}
}

func equalCustomer(a, b store.Customer) bool {
	return a.ID == b.ID && a.Region == b.Region && a.Site == b.Site &&
		bytes.Equal(a.Name, b.Name) && bytes.Equal(a.Phone, b.Phone) && bytes.Equal(a.Account, b.Account) &&
		bytes.Equal(a.PhoneIndex, b.PhoneIndex) && bytes.Equal(a.AccountIndex, b.AccountIndex) &&
		bytes.Equal(a.NameIndex, b.NameIndex) && a.Canary == b.Canary && a.Scope == b.Scope &&
		bytes.Equal(a.Key, b.Key)
}

func equalPrincipal(a, b store.Principal) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Org == b.Org && a.OrgKind == b.OrgKind &&
		a.Role == b.Role && a.Site == b.Site && a.Region == b.Region &&
		bytes.Equal(a.TokenHash, b.TokenHash) && a.Status == b.Status && a.Notice.Equal(b.Notice) &&
		a.StatusSource == b.StatusSource && a.StatusBy == b.StatusBy && a.StatusReason == b.StatusReason
}

func equalTicket(a, b store.Ticket) bool {
	return a.ID == b.ID && a.Customer == b.Customer && a.Site == b.Site && a.OpenedBy == b.OpenedBy &&
		a.OpenedAt.Equal(b.OpenedAt) && a.ClosedAt.Equal(b.ClosedAt) &&
		a.Assignee == b.Assignee && a.ExpiresAt.Equal(b.ExpiresAt) && a.CRM == b.CRM
}

func equalAudit(a, b store.AuditRecord) bool {
	return a.Index == b.Index && a.Time.Equal(b.Time) && a.Actor == b.Actor && a.Customer == b.Customer &&
		bytes.Equal(a.Event, b.Event) && bytes.Equal(a.Salt, b.Salt)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// parallel runs fn(i) for i in [0, n) on n goroutines started together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// oneWinner checks errs of n calls that raced for one change: exactly one
// succeeded and every other failed with store.ErrConflict. It returns the
// winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s succeeded twice (%d and %d)", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s %d: err = %v, want ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no %s succeeded", what)
	}
	return winner
}

// count returns how many of bs are true.
func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// ix returns a blind index for a test: store.IndexSize bytes derived from
// s, as vault.Vault.BlindIndex returns them.
func ix(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:store.IndexSize]
}
