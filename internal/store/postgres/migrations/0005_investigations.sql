-- Audit search and cases (investigations).

-- audit_search holds what audit search filters on, one row per audit
-- record, written by a consumer of the audit feed (not the hot append).
CREATE TABLE audit_search (
	idx BIGINT PRIMARY KEY, time BIGINT NOT NULL,
	actor TEXT NOT NULL, customer TEXT NOT NULL, org TEXT NOT NULL, site TEXT NOT NULL,
	action TEXT NOT NULL, decision TEXT NOT NULL
);
CREATE INDEX audit_search_actor ON audit_search (actor, idx);
CREATE INDEX audit_search_customer ON audit_search (customer, idx);
CREATE INDEX audit_search_org ON audit_search (org, idx);
CREATE INDEX audit_search_site ON audit_search (site, idx);
CREATE INDEX audit_search_action ON audit_search (action, idx);

-- cases are investigations opened from alerts; case_notes their notes
-- (free text: never in the audit log).
CREATE TABLE cases (
	id BIGSERIAL PRIMARY KEY, alert_id BIGINT NOT NULL UNIQUE,
	person TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL DEFAULT '', window_from BIGINT NOT NULL,
	created_by TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
);
CREATE TABLE case_notes (
	case_id BIGINT NOT NULL, seq INTEGER NOT NULL, time BIGINT NOT NULL,
	author TEXT NOT NULL, text TEXT NOT NULL,
	PRIMARY KEY (case_id, seq)
);
