-- A runtime-scoped path to the usage rows the rollup has not reached (issue 16, point 3): a
-- runtime's daily read replaces the hours past the rollup's watermark by task_usage's rows of
-- those hours, and found them through the created_at and updated_at indexes for every
-- runtime, each probed in task_attribution to keep its own (about 18,500 rows for 4 hours at
-- 10M rows, 55-80 ms a read). task_usage now carries its task's runtime: written by the
-- ingester from the attribution in the same transaction (functions/apply_batch.sql), moved
-- with the attribution (functions/task_attribution_usage_runtime.sql), NULL where it is not
-- known (no attribution yet, or rows written by hand). A read takes a runtime's rows and the
-- NULL ones through the two indexes below and still probes the attribution of each (its
-- agent and project, and the truth: a NULL or a runtime_id that is not the attribution's is
-- never trusted alone). So a busy runtime's read costs its own recent rows.
ALTER TABLE usage.task_usage ADD COLUMN runtime_id uuid;
COMMENT ON COLUMN usage.task_usage.runtime_id IS
    'The runtime of the row''s task as task_attribution says (NULL: not known yet). An index key for reads, never trusted alone: a read probes the attribution.';
-- The rows there are take their runtime now; the delta log's trigger (made by the function
-- files, which run after the numbered migrations: absent in a new database) does not see
-- this (nothing a rollup sums changes).
DO $$
DECLARE
    logged boolean := EXISTS (SELECT 1 FROM pg_trigger
                               WHERE tgrelid = 'usage.task_usage'::regclass
                                 AND tgname = 'task_usage_delta_update');
BEGIN
    IF logged THEN
        ALTER TABLE usage.task_usage DISABLE TRIGGER task_usage_delta_update;
    END IF;
    UPDATE usage.task_usage u
       SET runtime_id = a.runtime_id
      FROM usage.task_attribution a
     WHERE a.task_id = u.task_id AND a.deleted_at IS NULL;
    IF logged THEN
        ALTER TABLE usage.task_usage ENABLE TRIGGER task_usage_delta_update;
    END IF;
END
$$;
-- A runtime's rows of an hour (the hours the rollup has not reached) and its rows changed
-- since the watermark (which hours those are).
CREATE INDEX task_usage_runtime_created_idx ON usage.task_usage (runtime_id, created_at);
CREATE INDEX task_usage_runtime_updated_idx ON usage.task_usage (runtime_id, updated_at);
