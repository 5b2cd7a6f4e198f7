-- The hot audit table keeps no secondary index but its time (appended at
-- its right edge, and what the quota recount reads by): every group commit
-- wrote two more B-trees at random places, in the transaction that every
-- guarded read waits for. Lookups by customer and actor go through
-- audit_search, which each gateway's search indexer keeps, and scan the
-- log's tail past it (see AuditByCustomer). Until the indexer of an
-- upgraded database has caught up, that tail is longer.
DROP INDEX IF EXISTS audit_customer;
DROP INDEX IF EXISTS audit_actor;
