-- The delta log loses its transaction ids; the next up applies every function file again (the
-- reads then price every unfolded change on every read, as before 0027). The functions that
-- read the column, and the price catalogue's revision, go with it.
DROP TRIGGER IF EXISTS task_usage_delta_xid ON usage.task_usage_delta;
DROP FUNCTION IF EXISTS usage.task_usage_delta_xid();
DROP FUNCTION IF EXISTS usage.usage_fresh_parts(uuid, timestamptz, text, xid8);
DROP FUNCTION IF EXISTS usage.usage_delta_parts(uuid, uuid, timestamptz, timestamptz[], text, xid8,
                                                xid8);
DROP FUNCTION IF EXISTS usage.bump_price_revision() CASCADE;
DROP TABLE usage.price_revision;
ALTER TABLE usage.task_usage_delta DROP COLUMN logged_xid;
