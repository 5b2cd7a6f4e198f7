-- Blind indexes become 64-bit integers: the first 8 bytes of the HMAC the
-- column held, read big-endian as a signed bigint (store.IndexKey), which
-- is what the vault computes now. Every stored customer and former index
-- stays resolvable. The lookup indexes are rebuilt with the table.

ALTER TABLE customers
	ALTER COLUMN phone_idx TYPE BIGINT
		USING ('x' || rpad(encode(substring(phone_idx FROM 1 FOR 8), 'hex'), 16, '0'))::bit(64)::bigint,
	ALTER COLUMN account_idx TYPE BIGINT
		USING ('x' || rpad(encode(substring(account_idx FROM 1 FOR 8), 'hex'), 16, '0'))::bit(64)::bigint,
	ALTER COLUMN name_idx TYPE BIGINT
		USING ('x' || rpad(encode(substring(name_idx FROM 1 FOR 8), 'hex'), 16, '0'))::bit(64)::bigint;

-- Two former indexes of one customer that share their first 8 bytes
-- become one (the earliest kept).
CREATE TABLE customer_former_int (
	kind TEXT NOT NULL,
	idx BIGINT NOT NULL,
	customer TEXT NOT NULL,
	replaced_at BIGINT NOT NULL,
	PRIMARY KEY (kind, idx, customer)
);
INSERT INTO customer_former_int (kind, idx, customer, replaced_at)
	SELECT kind, ('x' || rpad(encode(substring(idx FROM 1 FOR 8), 'hex'), 16, '0'))::bit(64)::bigint, customer, replaced_at
	FROM customer_former ORDER BY replaced_at
	ON CONFLICT DO NOTHING;
DROP TABLE customer_former;
ALTER TABLE customer_former_int RENAME TO customer_former;
ALTER INDEX customer_former_int_pkey RENAME TO customer_former_pkey;
