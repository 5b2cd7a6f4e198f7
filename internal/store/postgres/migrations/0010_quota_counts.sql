-- quota_counts keeps how many customers each principal has in each quota
-- window, so that a charge reads two counters instead of counting the
-- window's rows: a clerk's day grows to thousands of customers, and
-- count(*) made each read's charge slower than the last. Triggers keep the
-- counters in step with every insert and delete on quota, whoever makes it
-- (the charge, Open's recount, the pruning of old windows).
CREATE TABLE quota_counts (
	principal TEXT NOT NULL,
	win TEXT NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (principal, win)
);
INSERT INTO quota_counts (principal, win, n)
	SELECT principal, win, count(*) FROM quota GROUP BY principal, win;

CREATE FUNCTION custos_quota_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO quota_counts (principal, win, n) VALUES (NEW.principal, NEW.win, 1)
			ON CONFLICT (principal, win) DO UPDATE SET n = quota_counts.n + 1;
	ELSE
		UPDATE quota_counts SET n = n - 1 WHERE principal = OLD.principal AND win = OLD.win;
		DELETE FROM quota_counts WHERE principal = OLD.principal AND win = OLD.win AND n <= 0;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER quota_counted AFTER INSERT OR DELETE ON quota
	FOR EACH ROW EXECUTE FUNCTION custos_quota_counted();

-- The charge as in 0008, reading the counters. It inserts the day's row
-- before the hour's, the order of (principal, win) in which a recount
-- inserts too ('d:' < 'h:'), so the two never wait on each other's counters.
CREATE OR REPLACE FUNCTION custos_charge_quota(lock_key integer, p text, hw text, dw text, c text,
	per_hour integer, per_day integer, prune_hour text, prune_day text,
	OUT allowed boolean, OUT in_hour boolean, OUT in_day boolean, OUT hour_count bigint, OUT day_count bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM pg_advisory_xact_lock(lock_key, hashtext(p));
	SELECT EXISTS (SELECT 1 FROM quota WHERE principal = p AND win = hw AND customer = c),
		EXISTS (SELECT 1 FROM quota WHERE principal = p AND win = dw AND customer = c),
		COALESCE((SELECT n FROM quota_counts WHERE principal = p AND win = hw), 0),
		COALESCE((SELECT n FROM quota_counts WHERE principal = p AND win = dw), 0)
		INTO in_hour, in_day, hour_count, day_count;
	allowed := NOT ((NOT in_hour AND per_hour > 0 AND hour_count >= per_hour)
		OR (NOT in_day AND per_day > 0 AND day_count >= per_day));
	IF NOT allowed THEN
		RETURN;
	END IF;
	IF NOT in_day THEN
		INSERT INTO quota (principal, win, customer) VALUES (p, dw, c);
		day_count := day_count + 1;
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
END
$$;
