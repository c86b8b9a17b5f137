-- A cheaper time index per usage row (issue 16, point 1): task_usage's created_at btree is
-- replaced by one on the UTC hour of created_at, the unit every reader of it takes (an hour's
-- rows: the window recompute's hour_rows, usage.usage_raw_rows's workspace hours and its
-- ?source=raw range from an hour on). created_at is a row's first reported_at, spread over the
-- last hour or so at ingest: keyed by created_at, each insert went down to a key anywhere in
-- that hour (a random leaf, split in the middle); keyed by its hour, the rows of one hour are
-- one key (deduplicated), ordered by heap position, so an insert lands at the right-hand end
-- of its hour's entries (two such places a batch at most). The readers compare the same
-- expression, so the index still finds an hour's rows exactly (not a BRIN index: its
-- summaries are read whole at every probe, a cost that grows with the table, and lossy).
-- The busy runtime's read keeps task_usage_runtime_created_idx (runtime_id, created_at).
DROP INDEX IF EXISTS usage.task_usage_created_at_idx;
CREATE INDEX IF NOT EXISTS task_usage_created_hour_idx
    ON usage.task_usage ((date_trunc('hour', created_at AT TIME ZONE 'UTC')));
