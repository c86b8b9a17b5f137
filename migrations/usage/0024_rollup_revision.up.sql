-- The rollup's revision, for the runtime daily read the gateway keeps in memory (issue 16,
-- point 3; services/api-gateway/usage_daily_cache.c): one counter, raised in the transaction of
-- every statement that changes task_usage_hourly or task_usage_daily
-- (functions/bump_rollup_revision.sql creates the triggers: function files are applied after
-- the numbered migrations). Being a row, a statement reads the revision that goes with the
-- rollup rows of its own snapshot: two snapshots with the same value see the same rollup rows.
-- Started at the clock (microseconds), and raised to at least the clock, so that a table made
-- again, or a database restored to an earlier point, never gives a value a gateway has seen.
CREATE TABLE usage.rollup_revision (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    revision bigint  NOT NULL
);
COMMENT ON TABLE usage.rollup_revision IS
    'One row: a counter raised by every statement that changes task_usage_hourly or task_usage_daily; what the gateway keeps of the rollup is valid for one value.';
COMMENT ON COLUMN usage.rollup_revision.one IS 'Always true: the table holds one row.';
COMMENT ON COLUMN usage.rollup_revision.revision IS
    'Raised by each changing statement, in its transaction, to at least the clock in microseconds.';
INSERT INTO usage.rollup_revision (revision)
VALUES ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
GRANT SELECT ON usage.rollup_revision TO multica_gateway;
