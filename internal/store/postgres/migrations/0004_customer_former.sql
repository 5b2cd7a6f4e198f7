-- customer_former keeps the blind indexes of phone numbers and accounts a
-- customer no longer has (replaced by an import or the CRM), so leak
-- tracing still resolves a leak of the old values.

CREATE TABLE customer_former (
	kind TEXT NOT NULL,
	idx BYTEA NOT NULL,
	customer TEXT NOT NULL,
	replaced_at BIGINT NOT NULL,
	PRIMARY KEY (kind, idx, customer)
);
