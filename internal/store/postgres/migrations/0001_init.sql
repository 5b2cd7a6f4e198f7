-- custos schema, version 1. Times are Unix nanoseconds (UTC) in BIGINT, so
-- they round-trip exactly; zero means unset.

CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

-- versions holds change counters (name 'principals': PrincipalsVersion).
CREATE TABLE versions (
	name TEXT PRIMARY KEY,
	v BIGINT NOT NULL
);

CREATE TABLE customers (
	id TEXT PRIMARY KEY,
	region TEXT NOT NULL,
	site TEXT NOT NULL,
	name BYTEA, phone BYTEA, account BYTEA,
	phone_idx BYTEA, account_idx BYTEA, name_idx BYTEA,
	canary BOOLEAN NOT NULL DEFAULT FALSE,
	scope TEXT NOT NULL DEFAULT ''
);
CREATE INDEX customers_phone ON customers (phone_idx);
CREATE INDEX customers_account ON customers (account_idx);
CREATE INDEX customers_name ON customers (name_idx);

CREATE TABLE principals (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL, org TEXT NOT NULL, org_kind TEXT NOT NULL,
	role TEXT NOT NULL, site TEXT NOT NULL, region TEXT NOT NULL,
	token_hash BYTEA UNIQUE,
	status TEXT NOT NULL DEFAULT 'active',
	notice BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE tickets (
	id TEXT PRIMARY KEY,
	customer TEXT NOT NULL, site TEXT NOT NULL, opened_by TEXT NOT NULL,
	opened_at BIGINT NOT NULL, closed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tickets_customer ON tickets (customer, opened_at);

CREATE TABLE consents (
	id TEXT PRIMARY KEY,
	customer TEXT NOT NULL, principal TEXT NOT NULL, code_hash BYTEA NOT NULL,
	created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	confirmed_at BIGINT NOT NULL DEFAULT 0, grant_until BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE breakglass (
	id TEXT PRIMARY KEY,
	principal TEXT NOT NULL, customer TEXT NOT NULL, reason TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	approved_by TEXT NOT NULL DEFAULT '', approved_at BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL DEFAULT 0
);

-- quota holds one row per principal, window ("h:2026030209", "d:20260302")
-- and distinct customer. ChargeQuota serialises each principal's charges
-- with a transaction-scoped advisory lock.
CREATE TABLE quota (
	principal TEXT NOT NULL, win TEXT NOT NULL, customer TEXT NOT NULL,
	PRIMARY KEY (principal, win, customer)
);

-- audit_head is the audit log's size: one row, updated in the same
-- statement that inserts the records, so its row lock serialises appenders
-- across every gateway and a rolled-back append leaves no gap (a sequence
-- would).
CREATE TABLE audit_head (
	one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
	size BIGINT NOT NULL
);
INSERT INTO audit_head (one, size) VALUES (TRUE, 0);

CREATE TABLE audit (
	idx BIGINT PRIMARY KEY,
	time BIGINT NOT NULL, actor TEXT NOT NULL, customer TEXT NOT NULL,
	event BYTEA NOT NULL, salt BYTEA NOT NULL
);
CREATE INDEX audit_customer ON audit (customer, idx);
CREATE INDEX audit_actor ON audit (actor, idx);

CREATE TABLE checkpoints (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	size BIGINT NOT NULL, note BYTEA NOT NULL, time BIGINT NOT NULL
);

CREATE TABLE alerts (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	actor TEXT NOT NULL, time BIGINT NOT NULL, score DOUBLE PRECISION NOT NULL,
	reasons TEXT NOT NULL, records INTEGER NOT NULL, kind TEXT NOT NULL,
	action TEXT NOT NULL DEFAULT '', detail BYTEA
);
CREATE INDEX alerts_time ON alerts (time DESC, id DESC);
