-- Data incidents, the notices they owe, and erasure tombstones.
CREATE TABLE incidents (
	id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, found_at BIGINT NOT NULL,
	fields TEXT NOT NULL, notice TEXT NOT NULL, leak_hash BYTEA NOT NULL UNIQUE,
	created_by TEXT NOT NULL, created_at BIGINT NOT NULL, report BYTEA
);
CREATE TABLE incident_customers (
	incident_id BIGINT NOT NULL, customer TEXT NOT NULL, notified_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (incident_id, customer)
);
CREATE INDEX incident_customers_customer ON incident_customers (customer);
CREATE INDEX incident_customers_pending ON incident_customers (notified_at, incident_id);
CREATE TABLE erasure_requests (
	customer TEXT PRIMARY KEY, at BIGINT NOT NULL
);
CREATE TABLE erasures (
	customer TEXT PRIMARY KEY, at BIGINT NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL
);
