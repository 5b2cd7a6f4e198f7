-- Quota recount on start reads the current day's audit records by time.
CREATE INDEX audit_time ON audit (time);
