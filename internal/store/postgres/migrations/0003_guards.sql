-- Tickets that belong to someone, status changes that say who and why,
-- shared rate limits, two-person approvals and dashboard sessions.

ALTER TABLE principals
	ADD COLUMN status_source TEXT NOT NULL DEFAULT '',
	ADD COLUMN status_by TEXT NOT NULL DEFAULT '',
	ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';

-- assignee '' means the opener holds the ticket; expires_at 0 means never
-- (tickets from before they expired).
ALTER TABLE tickets
	ADD COLUMN assignee TEXT NOT NULL DEFAULT '',
	ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN crm BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tickets_opener ON tickets (opened_by, opened_at);

-- ratelimit holds one fixed-window counter per key and window (Hit):
-- INSERT ... ON CONFLICT DO UPDATE ... WHERE n < max is the whole decision.
CREATE TABLE ratelimit (
	key TEXT NOT NULL, start BIGINT NOT NULL, ends BIGINT NOT NULL,
	n INTEGER NOT NULL,
	PRIMARY KEY (key, start, ends)
);
CREATE INDEX ratelimit_ends ON ratelimit (ends);

-- approvals holds the pending first approval of two-person actions.
CREATE TABLE approvals (
	key TEXT PRIMARY KEY, by TEXT NOT NULL, at BIGINT NOT NULL
);

-- sessions holds dashboard sessions by the hash of their id.
CREATE TABLE sessions (
	id_hash BYTEA PRIMARY KEY, principal TEXT NOT NULL, expires BIGINT NOT NULL
);
