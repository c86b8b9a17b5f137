-- The transaction that logged each unfolded change (issue 16, point 3): the gateway keeps a
-- busy runtime's logged changes priced and summed (services/api-gateway/usage_daily_cache.c)
-- and on its next read prices only those it has not seen. "Not seen" must hold under
-- out-of-order commits: a change's position is the id of the transaction that wrote it, and a
-- read's boundary is the oldest transaction still running when its snapshot was taken
-- (pg_snapshot_xmin): every change of a transaction below it has committed (and is in the
-- read) or never will, so no change can appear later below a boundary the gateway has read
-- up to. A change at or above it may still commit later: it is read again until it is below.
-- A row updated (its task moved to another runtime, functions/task_usage_delta_xid.sql) takes
-- the updating transaction's id, so that the runtime it now carries sees it as new.
ALTER TABLE usage.task_usage_delta
    ADD COLUMN logged_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
COMMENT ON COLUMN usage.task_usage_delta.logged_xid IS
    'The transaction that logged the change, or last moved it to another runtime: a read that has priced every change below its snapshot''s oldest running transaction prices only those at or above it next time.';

-- The price catalogue's revision: raised by every statement on usage.model_prices
-- (functions/bump_price_revision.sql), read with the changes the gateway keeps priced. A price
-- change re-prices unfolded changes without touching the rollup's tables (its queued buckets
-- are recomputed later, and a bucket only in the log is queued by nobody), so the kept sums
-- hold for one value of it. Its own row, not rollup_revision's: put_prices queues buckets
-- (task_usage_dirty rows) after its catalogue statements, and the rollup holds
-- rollup_revision's row while it drains the queue, so sharing that row could deadlock them.
CREATE TABLE usage.price_revision (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    revision bigint  NOT NULL
);
COMMENT ON TABLE usage.price_revision IS
    'One row: a counter raised by every statement on usage.model_prices; what the gateway keeps priced is valid for one value.';
COMMENT ON COLUMN usage.price_revision.one IS 'Always true: the table holds one row.';
COMMENT ON COLUMN usage.price_revision.revision IS
    'Raised by each statement on the catalogue, in its transaction, to at least the clock in microseconds.';
INSERT INTO usage.price_revision (revision)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
GRANT SELECT ON usage.price_revision TO multica_gateway;
