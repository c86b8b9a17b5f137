DROP FUNCTION usage.prune_processed_events(interval, integer);
-- apply_batch as the functions/ file defines it now (with u_cost) or before 0009.
DROP FUNCTION IF EXISTS usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[],
    uuid[], text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], timestamptz[],
    uuid[], uuid[], uuid[], uuid[], uuid[], uuid[], bigint[], boolean[]);
DROP FUNCTION IF EXISTS usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[],
    uuid[], text[], text[], bigint[], bigint[], bigint[], bigint[], timestamptz[], uuid[], uuid[],
    uuid[], uuid[], uuid[], uuid[], bigint[], boolean[]);
DROP FUNCTION usage.enqueue_task_buckets(uuid[], uuid[], uuid[], uuid[]);
DROP TABLE usage.consumer_offsets;
DROP TABLE usage.processed_events;
DROP TABLE usage.task_usage_dirty;
DROP TABLE usage.task_attribution;
DROP TABLE usage.task_usage;
