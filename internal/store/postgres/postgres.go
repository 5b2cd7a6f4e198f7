// Package postgres is the store for many gateways on one PostgreSQL
// database, through pgx (pgxpool). Every gateway opens its own Store on the
// same database and they behave as one:
//
//   - ChargeQuota serialises each principal's charges with a
//     transaction-scoped advisory lock on the principal, so quotas are never
//     overspent, however many gateways charge at once. Windows that ended
//     QuotaRetention ago are pruned as charges go, so the table stays small.
//   - AppendAudit takes its indexes from a one-row counter updated in the
//     same statement that inserts the records: the row lock orders appenders
//     across processes and a failed append rolls its indexes back, so the
//     log's indexes are always exactly 0..n-1. An appender gets its indexes
//     only after the previous one has committed, so commits become visible
//     in index order: a reader that sees index i sees every index below it,
//     and AuditSize never counts a record that AuditRange cannot return.
//     Appends from all gateways share one commit stream (one WAL flush
//     each); callers batch records (package auditlog group-commits).
//   - PrincipalsVersion is bumped in the transaction that changes a
//     principal, so every gateway sees the change as soon as it commits.
//   - ReserveAttempt, Hit, ChangeStatus, AssignTicket and CloseTicket each
//     decide in one UPDATE (or INSERT ... ON CONFLICT DO UPDATE) whose
//     WHERE clause is the check: concurrent callers on any gateway queue on
//     the row's lock and each re-checks after the one before it, so a code
//     gets at most max attempts, a window at most max hits, and a status
//     change from a stale read fails.
//   - Approve decides under a transaction-scoped advisory lock on the
//     action's key, so one pending approval completes at most one action.
//   - SetMetaOnce inserts only if absent, then reads what is stored, so
//     gateways starting together agree on one value.
//
// Open applies the embedded, versioned schema migrations
// (migrations/NNNN_name.sql, recorded in schema_migrations) under an
// advisory lock, so gateways starting at once migrate exactly once.
//
// Every acknowledged write is committed (PostgreSQL's default
// synchronous_commit=on MUST NOT be turned off for this database, or an
// acknowledged audit index could be lost in a crash).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/prune"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use, and any number of Stores (in any number of processes) may
// share one database.
type Store struct {
	row.Shared // alerts, checkpoints, cases, incidents, on the pool
	pool       *dbPool
	// pruneRates and pruneSessions pace the deletes of old rate-limit
	// windows and expired sessions (per process; any gateway may prune).
	pruneRates, pruneSessions prune.Every
	// cache keeps customer and ticket rows, while StartRowCache's
	// listener runs (off until then).
	cache         *row.Cache
	connConfig    *pgx.ConnConfig
	listening     sync.Once
	stopListening func()
	// charged spares the round trip of a charge this gateway already made.
	charged charged
}

var _ store.Store = (*Store)(nil)

// quotaLock is the first key of the two-key advisory locks ChargeQuota
// takes; the second is the hash of the principal ("cusq" in ASCII).
const quotaLock int32 = 0x63757371

// importChunk is how many rows one multi-row INSERT carries during Import.
const importChunk = 5000

// Open connects to the database at url (a postgres:// URL or key=value
// string, as pgx accepts, including pool settings such as pool_max_conns),
// applies any pending schema migrations and returns the store. The caller
// MUST Close it. Errors never repeat the URL, which may hold a password.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			if inner := errors.Unwrap(pe); inner != nil {
				return nil, fmt.Errorf("open postgres: cannot parse the database URL: %w", inner)
			}
		}
		return nil, errors.New("open postgres: cannot parse the database URL (expected postgres://user@host:port/db)")
	}
	if err := migrate(ctx, cfg.ConnConfig.Copy()); err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: &dbPool{Pool: pool}, cache: row.NewCache(false), connConfig: cfg.ConnConfig.Copy()}
	s.Shared = row.Shared{R: pgTx{s.pool}, W: pgTx{s.pool}, InTx: func(ctx context.Context, fn func(row.Tx) error) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
	}}
	if err := s.recountQuota(ctx, time.Now()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// recountQuota counts into the quota table every customer read in an
// allowed read or search since the start of the current UTC day, from the
// audit log (idempotent: several gateways may do it at once).
func (s *Store) recountQuota(ctx context.Context, now time.Time) error {
	_, _, _, dEnd := store.QuotaWindows(now)
	rows, err := s.pool.Query(ctx, `SELECT event FROM audit WHERE time >= $1`, dEnd.AddDate(0, 0, -1).UnixNano())
	if err != nil {
		return fmt.Errorf("recount quota: %w", err)
	}
	var ps, ws, cs []string
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return fmt.Errorf("recount quota: %w", err)
		}
		ev, err := event.Parse(b)
		if err != nil || !store.QuotaCharged(ev) {
			continue
		}
		hw, dw, _, _ := store.QuotaWindows(ev.Time)
		ps, ws, cs = append(ps, ev.Actor, ev.Actor), append(ws, hw, dw), append(cs, ev.Customer, ev.Customer)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("recount quota: %w", err)
	}
	if len(ps) == 0 {
		return nil
	}
	// In (principal, win) order, as the charge inserts (migration 0010):
	// gateways recounting at once, or charging meanwhile, take the quota
	// counters' locks in one order.
	_, err = s.pool.Exec(ctx, `INSERT INTO quota (principal, win, customer)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS r (p, w, c) ORDER BY p, w, c
		ON CONFLICT DO NOTHING`, ps, ws, cs)
	if err != nil {
		return fmt.Errorf("recount quota: %w", err)
	}
	return nil
}

// Close closes the connection pool, waiting for connections in use to be
// released.
func (s *Store) Close() error {
	s.listening.Do(func() {}) // no listener starts after this
	if s.stopListening != nil {
		s.stopListening()
	}
	s.pool.Close()
	return nil
}

// index converts a log index to the BIGINT it is stored as, saturating:
// indexes past math.MaxInt64 cannot exist.
func index(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// notFound maps "no rows" to store.ErrNotFound.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

// nonEmpty returns b, or nil (SQL NULL) if it is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// lastByID returns items with only the last of each id kept, in order of
// first appearance. Import replaces rows with the same id, and a multi-row
// upsert may touch each row only once.
func lastByID[T any](items []T, id func(T) string) []T {
	pos := make(map[string]int, len(items))
	var out []T
	for _, it := range items {
		if i, ok := pos[id(it)]; ok {
			out[i] = it
			continue
		}
		pos[id(it)] = len(out)
		out = append(out, it)
	}
	return out
}

// chunks calls fn on consecutive slices of items of at most n.
func chunks[T any](items []T, n int, fn func([]T) error) error {
	for len(items) > 0 {
		k := min(n, len(items))
		if err := fn(items[:k]); err != nil {
			return err
		}
		items = items[k:]
	}
	return nil
}

const upsertCustomers = `INSERT INTO customers
	(id, region, site, name, phone, account, phone_idx, account_idx, name_idx, canary, scope)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[],
		$7::bigint[], $8::bigint[], $9::bigint[], $10::boolean[], $11::text[])
	ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, site = EXCLUDED.site,
		name = EXCLUDED.name, phone = EXCLUDED.phone, account = EXCLUDED.account,
		phone_idx = EXCLUDED.phone_idx, account_idx = EXCLUDED.account_idx, name_idx = EXCLUDED.name_idx,
		canary = EXCLUDED.canary, scope = EXCLUDED.scope`

// putKeys stores the record keys of cs in tx, and deletes the stored key of
// each that has none (a record sealed with the data key).
func putKeys(ctx context.Context, tx pgx.Tx, cs []store.Customer) error {
	var ids, none []string
	var keys [][]byte
	for _, c := range cs {
		if c.Key == nil {
			none = append(none, c.ID)
		} else {
			ids, keys = append(ids, c.ID), append(keys, c.Key)
		}
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO customer_keys (customer, wrapped) SELECT * FROM unnest($1::text[], $2::bytea[])
			ON CONFLICT (customer) DO UPDATE SET wrapped = EXCLUDED.wrapped`, ids, keys); err != nil {
			return fmt.Errorf("record keys: %w", err)
		}
	}
	if len(none) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM customer_keys WHERE customer = ANY($1::text[])`, none); err != nil {
			return fmt.Errorf("record keys: %w", err)
		}
	}
	return nil
}

// upsertPrincipals keeps a stored token when the new row has none, and an
// existing principal's status (only ChangeStatus changes it).
const upsertPrincipals = `INSERT INTO principals
	(id, name, org, org_kind, role, site, region, token_hash, status, notice, status_source, status_by, status_reason)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::bytea[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::text[])
	ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, org = EXCLUDED.org, org_kind = EXCLUDED.org_kind,
		role = EXCLUDED.role, site = EXCLUDED.site, region = EXCLUDED.region,
		token_hash = COALESCE(EXCLUDED.token_hash, principals.token_hash),
		notice = EXCLUDED.notice`

const upsertTickets = `INSERT INTO tickets (` + row.TicketCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
		$7::text[], $8::bigint[], $9::boolean[])
	ON CONFLICT (id) DO UPDATE SET customer = EXCLUDED.customer, site = EXCLUDED.site,
		opened_by = EXCLUDED.opened_by, opened_at = EXCLUDED.opened_at, closed_at = EXCLUDED.closed_at,
		assignee = EXCLUDED.assignee, expires_at = EXCLUDED.expires_at, crm = EXCLUDED.crm`

// Import stores the batch in one transaction with multi-row upserts.
func (s *Store) Import(ctx context.Context, b store.Batch) error {
	defer s.cache.Drop()
	customers := lastByID(b.Customers, func(c store.Customer) string { return c.ID })
	principals := lastByID(b.Principals, func(p store.Principal) string { return p.ID })
	tickets := lastByID(b.Tickets, func(t store.Ticket) string { return t.ID })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return importTx(ctx, tx, customers, principals, tickets) })
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// importTx stores customers, principals and tickets (each id once) in tx.
func importTx(ctx context.Context, tx pgx.Tx, customers []store.Customer, principals []store.Principal, tickets []store.Ticket) error {
	{
		err := chunks(customers, importChunk, func(cs []store.Customer) error {
			var (
				ids, regions, sites, scopes = make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs))
				names, phones, accounts     [][]byte
				pidx, aidx, nidx            []*int64
				canary                      = make([]bool, len(cs))
			)
			for i, c := range cs {
				ids[i], regions[i], sites[i], scopes[i], canary[i] = c.ID, c.Region, c.Site, c.Scope, c.Canary
				names, phones, accounts = append(names, c.Name), append(phones, c.Phone), append(accounts, c.Account)
				pidx = append(pidx, indexPtr(c.PhoneIndex))
				aidx = append(aidx, indexPtr(c.AccountIndex))
				nidx = append(nidx, indexPtr(c.NameIndex))
			}
			if _, err := tx.Exec(ctx, upsertCustomers, ids, regions, sites, names, phones, accounts, pidx, aidx, nidx, canary, scopes); err != nil {
				return fmt.Errorf("customers: %w", err)
			}
			return putKeys(ctx, tx, cs)
		})
		if err != nil {
			return err
		}
		err = chunks(principals, importChunk, func(ps []store.Principal) error {
			cols := make([][]string, 11)
			for i := range cols {
				cols[i] = make([]string, len(ps))
			}
			toks := make([][]byte, len(ps))
			notice := make([]int64, len(ps))
			for i, p := range ps {
				cols[0][i], cols[1][i], cols[2][i], cols[3][i] = p.ID, p.Name, p.Org, p.OrgKind
				cols[4][i], cols[5][i], cols[6][i], cols[7][i] = p.Role, p.Site, p.Region, store.NormStatus(p.Status)
				cols[8][i], cols[9][i], cols[10][i] = p.StatusSource, p.StatusBy, p.StatusReason
				toks[i], notice[i] = nonEmpty(p.TokenHash), row.Nanos(p.Notice)
			}
			_, err := tx.Exec(ctx, upsertPrincipals, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], toks, cols[7], notice,
				cols[8], cols[9], cols[10])
			if isUnique(err) {
				return fmt.Errorf("principals: a token is already in use: %w", store.ErrExists)
			}
			if err != nil {
				return fmt.Errorf("principals: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(principals) > 0 {
			if _, err := tx.Exec(ctx, row.BumpPrincipals); err != nil {
				return err
			}
		}
		return chunks(tickets, importChunk, func(ts []store.Ticket) error {
			cols := make([][]string, 5)
			for i := range cols {
				cols[i] = make([]string, len(ts))
			}
			opened, closed, expires := make([]int64, len(ts)), make([]int64, len(ts)), make([]int64, len(ts))
			crm := make([]bool, len(ts))
			for i, t := range ts {
				cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i] = t.ID, t.Customer, t.Site, t.OpenedBy, t.Assignee
				opened[i], closed[i], expires[i], crm[i] = row.Nanos(t.OpenedAt), row.Nanos(t.ClosedAt), row.Nanos(t.ExpiresAt), t.CRM
			}
			if _, err := tx.Exec(ctx, upsertTickets, cols[0], cols[1], cols[2], cols[3], opened, closed, cols[4], expires, crm); err != nil {
				return fmt.Errorf("tickets: %w", err)
			}
			return nil
		})
	}
}

// Customer returns the customer with id.
func (s *Store) Customer(ctx context.Context, id string) (store.Customer, error) {
	return s.cache.Customer(id, func() (store.Customer, error) {
		return row.One(s.pool.QueryRow(ctx, row.SelectCustomers+`WHERE c.id = $1`, id), row.Customer)
	})
}

// CustomerByPhone returns the customer with the phone blind index.
func (s *Store) CustomerByPhone(ctx context.Context, index []byte) (store.Customer, error) {
	return row.One(s.pool.QueryRow(ctx, row.SelectCustomers+`WHERE phone_idx = $1 ORDER BY id LIMIT 1`, store.IndexKey(index)), row.Customer)
}

// CustomerByAccount returns the customer with the account blind index.
func (s *Store) CustomerByAccount(ctx context.Context, index []byte) (store.Customer, error) {
	return row.One(s.pool.QueryRow(ctx, row.SelectCustomers+`WHERE account_idx = $1 ORDER BY id LIMIT 1`, store.IndexKey(index)), row.Customer)
}

// CustomerIDsByName returns the ids of customers with the name blind index.
func (s *Store) CustomerIDsByName(ctx context.Context, index []byte) ([]string, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id FROM customers WHERE name_idx = $1 ORDER BY id`, store.IndexKey(index))
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("customers by name: %w", err)
	}
	return ids, nil
}

// CustomerCount returns the number of customers.
func (s *Store) CustomerCount(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}

// Principal returns the principal with id.
func (s *Store) Principal(ctx context.Context, id string) (store.Principal, error) {
	return row.One(s.pool.QueryRow(ctx, `SELECT `+row.PrincipalCols+` FROM principals WHERE id = $1`, id), row.Principal)
}

// PrincipalByToken returns the principal whose token hashes to tokenHash.
func (s *Store) PrincipalByToken(ctx context.Context, tokenHash []byte) (store.Principal, error) {
	return row.One(s.pool.QueryRow(ctx, `SELECT `+row.PrincipalCols+` FROM principals WHERE token_hash = $1`, nonEmpty(tokenHash)), row.Principal)
}

// Principals returns every principal, ordered by id.
func (s *Store) Principals(ctx context.Context) ([]store.Principal, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+row.PrincipalCols+` FROM principals ORDER BY id`)
	ps, err := collect(rows, row.Principal)
	if err != nil {
		return nil, fmt.Errorf("principals: %w", err)
	}
	return ps, nil
}

// PutPrincipal creates or replaces p; a p without TokenHash keeps the
// stored token. It returns store.ErrExists if another principal has the
// token.
func (s *Store) PutPrincipal(ctx context.Context, p store.Principal) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// An existing principal keeps its status: only ChangeStatus changes it.
		_, err := tx.Exec(ctx, `INSERT INTO principals (`+row.PrincipalCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, org = EXCLUDED.org, org_kind = EXCLUDED.org_kind,
			role = EXCLUDED.role, site = EXCLUDED.site, region = EXCLUDED.region,
			token_hash = COALESCE(EXCLUDED.token_hash, principals.token_hash),
			notice = EXCLUDED.notice`,
			p.ID, p.Name, p.Org, p.OrgKind, p.Role, p.Site, p.Region, nonEmpty(p.TokenHash), store.NormStatus(p.Status), row.Nanos(p.Notice),
			p.StatusSource, p.StatusBy, p.StatusReason)
		if isUnique(err) {
			return fmt.Errorf("put principal: token already in use: %w", store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("put principal: %w", err)
		}
		_, err = tx.Exec(ctx, row.BumpPrincipals)
		return err
	})
}

// SetPrincipalStatus sets the principal's status (store.ErrNotFound if
// there is no such principal).
func (s *Store) SetPrincipalStatus(ctx context.Context, id, status string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE principals SET status = $2 WHERE id = $1`, id, status)
		if err != nil {
			return fmt.Errorf("set principal status: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, row.BumpPrincipals)
		return err
	})
}

// PrincipalsVersion returns the principals' change counter (0 before any
// change).
func (s *Store) PrincipalsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT v FROM versions WHERE name = 'principals'`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// CreateTicket stores a new ticket (store.ErrExists if the id is taken).
func (s *Store) CreateTicket(ctx context.Context, t store.Ticket) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tickets (`+row.TicketCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		t.ID, t.Customer, t.Site, t.OpenedBy, row.Nanos(t.OpenedAt), row.Nanos(t.ClosedAt), t.Assignee, row.Nanos(t.ExpiresAt), t.CRM)
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}

// Ticket returns the ticket with id.
func (s *Store) Ticket(ctx context.Context, id string) (store.Ticket, error) {
	return s.cache.Ticket(id, func() (store.Ticket, error) {
		return row.One(s.pool.QueryRow(ctx, `SELECT `+row.TicketCols+` FROM tickets WHERE id = $1`, id), row.Ticket)
	})
}

// CustomerTicket reads customer id and ticket tid in one round trip (a
// guarded read under a ticket needs both).
func (s *Store) CustomerTicket(ctx context.Context, id, tid string) store.CustomerTicket {
	return s.cache.CustomerTicket(id, tid, func() store.CustomerTicket {
		b := &pgx.Batch{}
		b.Queue(row.SelectCustomers+`WHERE c.id = $1`, id)
		b.Queue(`SELECT `+row.TicketCols+` FROM tickets WHERE id = $1`, tid)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		var ct store.CustomerTicket
		ct.Customer, ct.CustomerErr = row.One(br.QueryRow(), row.Customer)
		ct.Ticket, ct.TicketErr = row.One(br.QueryRow(), row.Ticket)
		return ct
	})
}

// TicketsByCustomer returns the customer's tickets, oldest first.
func (s *Store) TicketsByCustomer(ctx context.Context, customer string) ([]store.Ticket, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+row.TicketCols+` FROM tickets WHERE customer = $1 ORDER BY opened_at, id`, customer)
	ts, err := collect(rows, row.Ticket)
	if err != nil {
		return nil, fmt.Errorf("tickets by customer: %w", err)
	}
	return ts, nil
}

// CreateConsent stores a new consent (store.ErrExists if the id is taken).
func (s *Store) CreateConsent(ctx context.Context, c store.Consent) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO consents
		(id, customer, principal, code_hash, created_at, expires_at, attempts, confirmed_at, grant_until)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, c.ID, c.Customer, c.Principal, c.CodeHash, row.Nanos(c.CreatedAt),
		row.Nanos(c.ExpiresAt), c.Attempts, row.Nanos(c.ConfirmedAt), row.Nanos(c.GrantUntil))
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}

// Consent returns the consent with id.
func (s *Store) Consent(ctx context.Context, id string) (store.Consent, error) {
	return row.One(s.pool.QueryRow(ctx, `SELECT `+row.ConsentCols+` FROM consents WHERE id = $1`, id), row.Consent)
}

// ConsentFailed counts one wrong code and returns the count, atomically.
func (s *Store) ConsentFailed(ctx context.Context, id string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `UPDATE consents SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts`, id).Scan(&n)
	return n, row.NotFound(err)
}

// ConfirmConsent confirms the consent once (store.ErrConflict if it
// already was).
func (s *Store) ConfirmConsent(ctx context.Context, id string, at, grantUntil time.Time) error {
	if err := row.ConfirmConsent(ctx, pgTx{s.pool}, id, at, grantUntil); err != nil {
		return fmt.Errorf("confirm consent: %w", err)
	}
	return nil
}

// CreateBreakGlass stores a new request (store.ErrExists if the id is taken).
func (s *Store) CreateBreakGlass(ctx context.Context, b store.BreakGlass) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO breakglass (id, principal, customer, reason, created_at) VALUES ($1,$2,$3,$4,$5)`,
		b.ID, b.Principal, b.Customer, b.Reason, row.Nanos(b.CreatedAt))
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}

// BreakGlass returns the request with id.
func (s *Store) BreakGlass(ctx context.Context, id string) (store.BreakGlass, error) {
	b, err := row.BreakGlass(s.pool.QueryRow(ctx, `SELECT `+row.BreakGlassCols+` FROM breakglass WHERE id = $1`, id))
	if err != nil {
		return store.BreakGlass{}, row.NotFound(err)
	}
	return b, nil
}

// ApproveBreakGlass approves the request once (store.ErrConflict if it
// already was).
func (s *Store) ApproveBreakGlass(ctx context.Context, id, approver string, at, expires time.Time) error {
	if err := row.ApproveBreakGlass(ctx, pgTx{s.pool}, id, approver, at, expires); err != nil {
		return fmt.Errorf("approve break-glass: %w", err)
	}
	return nil
}

// QuotaRetention is how long quota windows are kept after they end: a
// principal's first charge in an hour deletes its hour windows that ended
// at least this long before and its day windows older than the day before
// yesterday. QuotaUsage for older times reads zero.
const QuotaRetention = 2 * time.Hour

// pruneBefore returns the window keys below which ChargeQuota deletes.
func pruneBefore(at time.Time) (hour, day string) {
	_, _, hEnd, dEnd := store.QuotaWindows(at)
	h, _, _, _ := store.QuotaWindows(hEnd.Add(-time.Hour - QuotaRetention))
	_, d, _, _ := store.QuotaWindows(dEnd.AddDate(0, 0, -3))
	return h, d
}

// ChargeQuota checks and records a read in one statement
// (custos_charge_quota, migration 0008) that holds an advisory lock on the
// principal, so concurrent charges for one principal (from any gateway) are
// applied one after another and never overspend: one round trip.
func (s *Store) ChargeQuota(ctx context.Context, principal, customer string, at time.Time, l store.QuotaLimits) (store.QuotaResult, error) {
	hw, dw, hEnd, dEnd := store.QuotaWindows(at)
	if hour, day, ok := s.charged.free(hw, dw, principal, customer); ok {
		return store.QuotaResult{Allowed: true, HourCount: hour, DayCount: day}, nil
	}
	oldHour, oldDay := pruneBefore(at)
	var res store.QuotaResult
	var inHour, inDay bool
	var hc, dc int64
	err := s.pool.QueryRow(ctx, `SELECT * FROM custos_charge_quota($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		quotaLock, principal, hw, dw, customer, l.PerHour, l.PerDay, oldHour, oldDay).
		Scan(&res.Allowed, &inHour, &inDay, &hc, &dc)
	if err != nil {
		return store.QuotaResult{}, fmt.Errorf("charge quota: %w", err)
	}
	res.HourCount, res.DayCount = int(hc), int(dc)
	switch {
	case res.Allowed:
		s.charged.add(hw, dw, principal, customer, res.HourCount, res.DayCount)
	case !inHour && l.PerHour > 0 && res.HourCount >= l.PerHour:
		res.RetryAfter = hEnd.Sub(at)
	default:
		res.RetryAfter = dEnd.Sub(at)
	}
	return res, nil
}

// QuotaUsage returns the distinct customers counted in at's hour and day.
func (s *Store) QuotaUsage(ctx context.Context, principal string, at time.Time) (hour, day int, err error) {
	hw, dw, _, _ := store.QuotaWindows(at)
	err = s.pool.QueryRow(ctx, `SELECT
		COALESCE((SELECT n FROM quota_counts WHERE principal = $1 AND win = $2), 0),
		COALESCE((SELECT n FROM quota_counts WHERE principal = $1 AND win = $3), 0)`, principal, hw, dw).Scan(&hour, &day)
	if err != nil {
		return 0, 0, fmt.Errorf("quota usage: %w", err)
	}
	return hour, day, nil
}

// appendAudit reserves len(recs) indexes on the one-row counter and
// inserts the records at them in a single statement (so a single implicit
// transaction): the counter's row lock orders concurrent appenders, even
// across gateways, and a failure rolls the reservation back.
const appendAudit = `WITH head AS (
	UPDATE audit_head SET size = size + $1::bigint RETURNING size - $1::bigint AS first
), ins AS (
	INSERT INTO audit (idx, time, actor, customer, event, salt)
	SELECT head.first + r.ord - 1, r.time, r.actor, r.customer, r.event, r.salt
	FROM head, unnest($2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::bytea[])
		WITH ORDINALITY AS r (time, actor, customer, event, salt, ord)
)
SELECT first FROM head`

// AppendAudit appends recs at consecutive indexes and returns the first,
// once committed.
func (s *Store) AppendAudit(ctx context.Context, recs []store.AuditRecord) (uint64, error) {
	if len(recs) == 0 {
		return s.AuditSize(ctx)
	}
	times := make([]int64, len(recs))
	actors, customers := make([]string, len(recs)), make([]string, len(recs))
	events, salts := make([][]byte, len(recs)), make([][]byte, len(recs))
	for i, r := range recs {
		times[i], actors[i], customers[i] = row.Nanos(r.Time), r.Actor, r.Customer
		// NOT NULL columns: an empty value is stored as empty, not NULL.
		events[i], salts[i] = orEmpty(r.Event), orEmpty(r.Salt)
	}
	var first int64
	if err := s.pool.QueryRow(ctx, appendAudit, int64(len(recs)), times, actors, customers, events, salts).Scan(&first); err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return uint64(first), nil
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AuditSize returns the number of records appended.
func (s *Store) AuditSize(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT size FROM audit_head`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit size: %w", err)
	}
	return uint64(n), nil
}

func (s *Store) auditQuery(ctx context.Context, q string, args ...any) ([]store.AuditRecord, error) {
	rows, _ := s.pool.Query(ctx, q, args...)
	recs, err := collect(rows, row.Audit)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return recs, nil
}

// collect scans every row with scan (one of package row's scanners).
func collect[T any](rows pgx.Rows, scan func(row.Scanner) (T, error)) ([]T, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// AuditRange returns the records with from <= Index < to, in order.
func (s *Store) AuditRange(ctx context.Context, from, to uint64) ([]store.AuditRecord, error) {
	return s.auditQuery(ctx, `SELECT `+row.AuditCols+` FROM audit WHERE idx >= $1 AND idx < $2 ORDER BY idx`, index(from), index(to))
}

// AuditByCustomer returns the customer's records, in order.
func (s *Store) AuditByCustomer(ctx context.Context, customer string) ([]store.AuditRecord, error) {
	return s.auditQuery(ctx, auditBy("customer"), customer, 0)
}

// AuditByActor returns the actor's records with Index >= from, in order.
func (s *Store) AuditByActor(ctx context.Context, actor string, from uint64) ([]store.AuditRecord, error) {
	return s.auditQuery(ctx, auditBy("actor"), actor, index(from))
}

// auditBy is the query for the records from index $2 on whose column col
// ("customer" or "actor") is $1. The audit table has no index on them
// (migration 0011): the records up to where the search index ends are
// found through it, and those past it — the moment the indexers trail the
// log by — by a scan of the log's tail, in the same snapshot, so the answer
// is complete. The search index has no gaps below its end: each indexer
// writes the records it follows, in order, from the end it found.
func auditBy(col string) string {
	return `WITH e AS (SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM audit_search)
		SELECT ` + row.AuditCols + ` FROM audit
			WHERE idx IN (SELECT s.idx FROM audit_search s, e WHERE s.` + col + ` = $1 AND s.idx >= $2 AND s.idx < e.n)
		UNION ALL
		SELECT ` + row.AuditCols + ` FROM audit, e WHERE audit.idx >= GREATEST($2, e.n) AND audit.` + col + ` = $1
		ORDER BY idx`
}

// AddCheckpoint keeps a checkpoint; checkpoints are never deleted.
func (s *Store) AddCheckpoint(ctx context.Context, c store.Checkpoint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO checkpoints (size, note, time) VALUES ($1, $2, $3)`,
		index(c.Size), orEmpty(c.Note), row.Nanos(c.Time))
	if err != nil {
		return fmt.Errorf("add checkpoint: %w", err)
	}
	return nil
}

// Meta returns a named value (store.ErrNotFound if unset).
func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if err != nil {
		return nil, row.NotFound(err)
	}
	return v, nil
}

// SetMetaOnce stores value under key unless one is stored, and returns the
// value stored now. The insert and the read are separate statements: an
// insert that conflicts with a concurrent one waits for it to commit, and
// the read that follows (with a fresh snapshot) sees the winner.
func (s *Store) SetMetaOnce(ctx context.Context, key string, value []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		key, orEmpty(value)); err != nil {
		return nil, fmt.Errorf("set meta once: %w", err)
	}
	v, err := s.Meta(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("set meta once: %w", err)
	}
	return v, nil
}

// SetMeta stores value under key, replacing any.
func (s *Store) SetMeta(ctx context.Context, key string, value []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, orEmpty(value))
	if err != nil {
		return fmt.Errorf("set meta: %w", err)
	}
	return nil
}

// LookupCustomers resolves many keys in one query: kind is "id", "phone" or
// "account", keys are ids or blind indexes. ids[i] is the customer for
// keys[i] ("" if none; the smallest id when several share a key),
// canary[i] whether it is a canary and shared[i] whether several customers
// share the key. Leak tracing uses it.
func (s *Store) LookupCustomers(ctx context.Context, kind string, keys [][]byte) (ids []string, canary, shared []bool, err error) {
	res := store.NewLookup(kind, keys)
	var q string
	var arg any
	switch kind {
	case "id":
		q = `SELECT id, canary FROM customers WHERE id = ANY($1)`
		strs := make([]string, len(keys))
		for i, k := range keys {
			strs[i] = string(k)
		}
		arg = strs
	case "phone":
		q, arg = `SELECT phone_idx, id, canary FROM customers WHERE phone_idx = ANY($1)`, indexInts(keys)
	case "account":
		q, arg = `SELECT account_idx, id, canary FROM customers WHERE account_idx = ANY($1)`, indexInts(keys)
	default:
		return nil, nil, nil, fmt.Errorf("lookup customers: unknown kind %q", kind)
	}
	rows, err := s.pool.Query(ctx, q, arg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var id string
		var c bool
		if kind == "id" {
			err = rows.Scan(&id, &c)
		} else {
			err = rows.Scan(&k, &id, &c)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
		}
		if kind == "id" {
			res.Found([]byte(id), id, c)
		} else {
			res.FoundIndex(k, id, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
	}
	if err := s.lookupFormer(ctx, kind, keys, res); err != nil {
		return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
	}
	return res.IDs, res.Canary, res.Shared, nil
}
