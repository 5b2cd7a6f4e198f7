-- The charge as in 0010, in fewer statements: the lock with the setting,
-- and the day's and the hour's rows in one INSERT (the day's first, the
-- order in which a recount inserts too).
CREATE OR REPLACE FUNCTION custos_charge_quota(lock_key integer, p text, hw text, dw text, c text,
	per_hour integer, per_day integer, prune_hour text, prune_day text,
	OUT allowed boolean, OUT in_hour boolean, OUT in_day boolean, OUT hour_count bigint, OUT day_count bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(lock_key, hashtext(p));
	SELECT EXISTS (SELECT 1 FROM quota WHERE principal = p AND win = hw AND customer = c),
		EXISTS (SELECT 1 FROM quota WHERE principal = p AND win = dw AND customer = c),
		COALESCE((SELECT n FROM quota_counts WHERE principal = p AND win = hw), 0),
		COALESCE((SELECT n FROM quota_counts WHERE principal = p AND win = dw), 0)
		INTO in_hour, in_day, hour_count, day_count;
	allowed := NOT ((NOT in_hour AND per_hour > 0 AND hour_count >= per_hour)
		OR (NOT in_day AND per_day > 0 AND day_count >= per_day));
	IF NOT allowed OR (in_day AND in_hour) THEN
		RETURN;
	END IF;
	INSERT INTO quota (principal, win, customer)
		SELECT p, v.win, c FROM (VALUES (1, dw, NOT in_day), (2, hw, NOT in_hour)) AS v(ord, win, needed)
		WHERE v.needed ORDER BY v.ord;
	IF NOT in_day THEN
		day_count := day_count + 1;
	END IF;
	IF NOT in_hour THEN
		hour_count := hour_count + 1;
		IF hour_count = 1 THEN
			-- The principal's first charge this hour: drop its windows that
			-- ended long ago, so the table stays bounded.
			DELETE FROM quota WHERE principal = p
				AND ((win >= 'h:' AND win < prune_hour) OR (win >= 'd:' AND win < prune_day));
		END IF;
	END IF;
END
$$;
