-- custos embedded store schema. Applied on every Open: every statement is
-- idempotent. Columns added after the first release are also listed in
-- addedColumns (sqlite.go), which adds them to older databases.
-- Times are Unix nanoseconds (UTC).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS versions (name TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
	id TEXT PRIMARY KEY,
	region TEXT NOT NULL,
	site TEXT NOT NULL,
	name BLOB, phone BLOB, account BLOB,
	-- Blind indexes: 64-bit integers (store.IndexKey). Databases made before
	-- them declare these columns BLOB; Open converts their values
	-- (upgrade.go), and the declared type does not matter to SQLite.
	phone_idx INTEGER, account_idx INTEGER, name_idx INTEGER,
	canary INTEGER NOT NULL DEFAULT 0,
	scope TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS customers_phone ON customers (phone_idx);
CREATE INDEX IF NOT EXISTS customers_account ON customers (account_idx);
CREATE INDEX IF NOT EXISTS customers_name ON customers (name_idx);
-- customer_keys holds each record's own data key, wrapped by the vault
-- (store.Customer.Key), apart from the record: erasing this one row makes
-- every other copy of the record's ciphertexts unreadable. Records written
-- before record keys have no row here.
CREATE TABLE IF NOT EXISTS customer_keys (
	customer TEXT PRIMARY KEY,
	wrapped BLOB NOT NULL
) WITHOUT ROWID;
-- customer_former keeps the blind indexes of phone numbers and accounts a
-- customer no longer has (replaced by an import or the CRM), so leak tracing
-- still resolves a leak of the old values (see bulk.go).
CREATE TABLE IF NOT EXISTS customer_former (
	kind TEXT NOT NULL, idx INTEGER NOT NULL, customer TEXT NOT NULL,
	replaced_at INTEGER NOT NULL,
	PRIMARY KEY (kind, idx, customer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS principals (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL, org TEXT NOT NULL, org_kind TEXT NOT NULL,
	role TEXT NOT NULL, site TEXT NOT NULL, region TEXT NOT NULL,
	token_hash BLOB UNIQUE,
	status TEXT NOT NULL DEFAULT 'active',
	notice INTEGER NOT NULL DEFAULT 0,
	status_source TEXT NOT NULL DEFAULT '',
	status_by TEXT NOT NULL DEFAULT '',
	status_reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tickets (
	id TEXT PRIMARY KEY,
	customer TEXT NOT NULL, site TEXT NOT NULL, opened_by TEXT NOT NULL,
	opened_at INTEGER NOT NULL, closed_at INTEGER NOT NULL DEFAULT 0,
	assignee TEXT NOT NULL DEFAULT '',
	expires_at INTEGER NOT NULL DEFAULT 0,
	crm INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets (customer);
CREATE INDEX IF NOT EXISTS tickets_opener ON tickets (opened_by, opened_at);
CREATE TABLE IF NOT EXISTS consents (
	id TEXT PRIMARY KEY,
	customer TEXT NOT NULL, principal TEXT NOT NULL, code_hash BLOB NOT NULL,
	created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	confirmed_at INTEGER NOT NULL DEFAULT 0, grant_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS breakglass (
	id TEXT PRIMARY KEY,
	principal TEXT NOT NULL, customer TEXT NOT NULL, reason TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	approved_by TEXT NOT NULL DEFAULT '', approved_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0
);
-- quota lives in the derived database (derived.sql), beside the search index.
DROP TABLE IF EXISTS quota;
CREATE TABLE IF NOT EXISTS audit (
	idx INTEGER PRIMARY KEY,
	time INTEGER NOT NULL, actor TEXT NOT NULL, customer TEXT NOT NULL,
	event BLOB NOT NULL, salt BLOB NOT NULL
);
-- The hot table has no secondary index: each group commit writes the
-- pages at the log's end and no more. Lookups by customer and actor go
-- through audit_search (derived.sql), which a consumer of the audit feed keeps.
DROP INDEX IF EXISTS audit_customer;
DROP INDEX IF EXISTS audit_actor;
CREATE TABLE IF NOT EXISTS checkpoints (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	size INTEGER NOT NULL, note BLOB NOT NULL, time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	actor TEXT NOT NULL, time INTEGER NOT NULL, score REAL NOT NULL,
	reasons TEXT NOT NULL, records INTEGER NOT NULL, kind TEXT NOT NULL,
	action TEXT NOT NULL DEFAULT '', detail BLOB
);
-- ratelimit holds one fixed-window counter per key and window (Hit).
CREATE TABLE IF NOT EXISTS ratelimit (
	key TEXT NOT NULL, start INTEGER NOT NULL, ends INTEGER NOT NULL,
	n INTEGER NOT NULL,
	PRIMARY KEY (key, start, ends)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ratelimit_ends ON ratelimit (ends);
-- approvals holds the pending first approval of two-person actions.
CREATE TABLE IF NOT EXISTS approvals (
	key TEXT PRIMARY KEY, by TEXT NOT NULL, at INTEGER NOT NULL
);
-- sessions holds dashboard sessions by the hash of their id.
CREATE TABLE IF NOT EXISTS sessions (
	id_hash BLOB PRIMARY KEY, principal TEXT NOT NULL, expires INTEGER NOT NULL
);
-- audit_search, the audit search index, lives in the derived database
-- (derived.sql): its writes never wait for, or hold up, this one's.
DROP TABLE IF EXISTS audit_search;
-- cases are investigations opened from alerts; case_notes their notes
-- (free text: never in the audit log).
CREATE TABLE IF NOT EXISTS cases (
	id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL UNIQUE,
	person TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL DEFAULT '', window_from INTEGER NOT NULL,
	created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS case_notes (
	case_id INTEGER NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
	author TEXT NOT NULL, text TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
);
-- incidents are data incidents from leaked lists; incident_customers the
-- affected customers and whether each was told (notified_at, 0 = not yet).
CREATE TABLE IF NOT EXISTS incidents (
	id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, found_at INTEGER NOT NULL,
	fields TEXT NOT NULL, notice TEXT NOT NULL, leak_hash BLOB NOT NULL UNIQUE,
	created_by TEXT NOT NULL, created_at INTEGER NOT NULL, report BLOB
);
CREATE TABLE IF NOT EXISTS incident_customers (
	incident_id INTEGER NOT NULL, customer TEXT NOT NULL, notified_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (incident_id, customer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS incident_customers_customer ON incident_customers (customer);
CREATE INDEX IF NOT EXISTS incident_customers_pending ON incident_customers (notified_at, incident_id);
-- erasure_requests are customers' own requests to be erased.
CREATE TABLE IF NOT EXISTS erasure_requests (
	customer TEXT PRIMARY KEY, at INTEGER NOT NULL
);
-- erasures are tombstones of erased customers (no personal data).
CREATE TABLE IF NOT EXISTS erasures (
	customer TEXT PRIMARY KEY, at INTEGER NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL
);
