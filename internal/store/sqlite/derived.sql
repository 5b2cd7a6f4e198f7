-- The derived database: what is rebuilt from the audit log, in a file of
-- its own so that its writes never share the store's one writer with the
-- audit log's group commits. Lost or stale, it is rebuilt: the search
-- index by its consumer of the audit feed, the quota counts by Open.
-- audit_search holds what audit search filters on, one row per audit record.
CREATE TABLE IF NOT EXISTS audit_search (
	idx INTEGER PRIMARY KEY, time INTEGER NOT NULL,
	actor TEXT NOT NULL, customer TEXT NOT NULL, org TEXT NOT NULL, site TEXT NOT NULL,
	action TEXT NOT NULL, decision TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_search_actor ON audit_search (actor, idx);
CREATE INDEX IF NOT EXISTS audit_search_customer ON audit_search (customer, idx);
CREATE INDEX IF NOT EXISTS audit_search_org ON audit_search (org, idx);
CREATE INDEX IF NOT EXISTS audit_search_site ON audit_search (site, idx);
CREATE INDEX IF NOT EXISTS audit_search_action ON audit_search (action, idx);
-- quota holds the customers each principal has been charged for in each
-- quota window (see store.QuotaWindows).
CREATE TABLE IF NOT EXISTS quota (
	principal TEXT NOT NULL, win TEXT NOT NULL, customer TEXT NOT NULL,
	PRIMARY KEY (principal, win, customer)
) WITHOUT ROWID;
