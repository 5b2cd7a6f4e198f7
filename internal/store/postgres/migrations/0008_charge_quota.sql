-- custos_charge_quota checks and records one read against a principal's
-- distinct-customer quota in one statement, so a guarded read pays one
-- round trip for it. The advisory lock on the principal orders concurrent
-- charges from every gateway; each statement after it takes a new snapshot
-- (READ COMMITTED, a volatile function), so it sees every charge committed
-- before the lock was granted. The quota rows need not wait for the disk:
-- every answered read is in the audit log, which commits synchronously, and
-- Open recounts the day from it.
CREATE FUNCTION custos_charge_quota(lock_key integer, p text, hw text, dw text, c text,
	per_hour integer, per_day integer, prune_hour text, prune_day text,
	OUT allowed boolean, OUT in_hour boolean, OUT in_day boolean, OUT hour_count bigint, OUT day_count bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM pg_advisory_xact_lock(lock_key, hashtext(p));
	SELECT EXISTS (SELECT 1 FROM quota WHERE principal = p AND win = hw AND customer = c),
		EXISTS (SELECT 1 FROM quota WHERE principal = p AND win = dw AND customer = c),
		(SELECT count(*) FROM quota WHERE principal = p AND win = hw),
		(SELECT count(*) FROM quota WHERE principal = p AND win = dw)
		INTO in_hour, in_day, hour_count, day_count;
	allowed := NOT ((NOT in_hour AND per_hour > 0 AND hour_count >= per_hour)
		OR (NOT in_day AND per_day > 0 AND day_count >= per_day));
	IF NOT allowed THEN
		RETURN;
	END IF;
	IF NOT in_hour THEN
		INSERT INTO quota (principal, win, customer) VALUES (p, hw, c);
		hour_count := hour_count + 1;
		IF hour_count = 1 THEN
			-- The principal's first charge this hour: drop its windows that
			-- ended long ago, so the table stays bounded.
			DELETE FROM quota WHERE principal = p
				AND ((win >= 'h:' AND win < prune_hour) OR (win >= 'd:' AND win < prune_day));
		END IF;
	END IF;
	IF NOT in_day THEN
		INSERT INTO quota (principal, win, customer) VALUES (p, dw, c);
		day_count := day_count + 1;
	END IF;
END
$$;
