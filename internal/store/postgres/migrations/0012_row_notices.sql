-- A serving gateway keeps customer and ticket rows in memory (row.Cache).
-- Each change or deletion of one is announced, when its transaction
-- commits, on the channel custos_rows as 'customer:<id>' or 'ticket:<id>',
-- and every gateway forgets that row. Inserts are not announced: no
-- gateway can hold a row that did not exist (a customer without a record
-- key is never kept), so an initial load fires nothing. (Written to run
-- again unchanged, as the upgrade tests replay migrations.)
CREATE OR REPLACE FUNCTION custos_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'customer_keys' THEN
		PERFORM pg_notify('custos_rows', 'customer:' || OLD.customer);
	ELSE
		PERFORM pg_notify('custos_rows', TG_ARGV[0] || ':' || OLD.id);
	END IF;
	RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS customers_announce ON customers;
CREATE TRIGGER customers_announce AFTER UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION custos_row_changed('customer');
DROP TRIGGER IF EXISTS customer_keys_announce ON customer_keys;
CREATE TRIGGER customer_keys_announce AFTER UPDATE OR DELETE ON customer_keys
	FOR EACH ROW EXECUTE FUNCTION custos_row_changed('customer');
DROP TRIGGER IF EXISTS tickets_announce ON tickets;
CREATE TRIGGER tickets_announce AFTER UPDATE OR DELETE ON tickets
	FOR EACH ROW EXECUTE FUNCTION custos_row_changed('ticket');
