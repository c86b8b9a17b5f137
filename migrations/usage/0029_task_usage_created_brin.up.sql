-- One btree entry fewer per usage row (issue 16, point 1): task_usage's created_at index
-- becomes a BRIN index. created_at is a row's first reported_at, so rows arrive close to its
-- order and the heap's recent pages hold the recent hours: a block range summary (min and max
-- created_at of 32 pages) finds an hour's rows as the btree did, for the readers that take
-- whole hours (the window recompute's hour_rows, usage.usage_raw_rows's workspace hours and
-- its ?source=raw range), while an insert costs a lookup of its range's summary (nothing
-- while the range is not summarized yet) instead of a btree descent to a key anywhere in the
-- last hour. autosummarize asks autovacuum to summarize each range once it is full; a range
-- not summarized yet is always read, so a read never misses a row. The busy runtime's read
-- keeps task_usage_runtime_created_idx (runtime_id, created_at).
DROP INDEX IF EXISTS usage.task_usage_created_at_idx;
CREATE INDEX IF NOT EXISTS task_usage_created_at_brin ON usage.task_usage
 USING brin (created_at) WITH (pages_per_range = 32, autosummarize = on);
