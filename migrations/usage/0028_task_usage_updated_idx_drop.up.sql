-- Fewer index entries per usage row (issue 16, point 1): task_usage loses its two updated_at
-- indexes. Every ingested row wrote an entry in each (two of its five btree inserts, about a
-- third of the backend's CPU a row in the fifth round's profile). They answered "which rows
-- changed since the rollup's watermark", and the change log answers that now: every change
-- the rollup has not folded is in usage.task_usage_delta (functions/task_usage_log_delta.sql),
-- and every change it has folded is in task_usage_hourly, both read at one snapshot. The
-- readers (usage.usage_fresh_hours, usage.usage_runtime_fresh_hours) take the hours of the
-- logged changes; the rollup's first run starts its watermark at its own time, not at the
-- oldest updated_at; the window recompute over a range of updated_at (the backfill, a repair)
-- reads the table sequentially.
DROP INDEX IF EXISTS usage.task_usage_updated_at_idx;
DROP INDEX IF EXISTS usage.task_usage_runtime_updated_idx;
-- A runtime's read takes whole the hours of logged changes whose runtime was not known when
-- logged (runtime_id NULL: no attribution yet, or a row written by hand), attributed by their
-- task; it found them through task_usage_runtime_updated_idx's NULL entries, and finds them
-- here now (task_usage_delta_runtime_idx leaves NULL out). Keyed by the logging transaction,
-- so that each entry goes to the right-hand page (one key a batch, deduplicated): keyed by
-- created_at (reported times spread over an hour), it cost the ingest bench's rows (which have
-- no attribution, so every one is here) more than the two indexes dropped above. A read takes
-- every such change and filters by hour: few outside the bench.
CREATE INDEX task_usage_delta_no_runtime_idx ON usage.task_usage_delta (logged_xid)
 WHERE runtime_id IS NULL;
