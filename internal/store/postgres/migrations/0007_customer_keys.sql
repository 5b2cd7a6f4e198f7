-- Each customer record's own data key, wrapped by the vault
-- (store.Customer.Key), kept apart from the record: erasing this one row
-- makes every other copy of the record's ciphertexts (dead tuples of
-- customers, older versions) unreadable. Records written before record
-- keys have no row here. The table is small, so VACUUM of it after an
-- erasure is cheap.
CREATE TABLE customer_keys (
	customer TEXT PRIMARY KEY,
	wrapped BYTEA NOT NULL
);
