-- Back to one bucket per (workspace, runtime, agent, provider, model, hour) without cost:
-- buckets that differed only by project are summed again.
-- apply_batch as the functions/ file defines it now takes this migration's columns; the
-- next up applies every function file again.
DROP FUNCTION IF EXISTS usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[],
    uuid[], text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], timestamptz[],
    uuid[], uuid[], uuid[], uuid[], uuid[], uuid[], bigint[], boolean[], boolean[], uuid[], uuid[],
    uuid[], uuid[], bigint[]);
DROP FUNCTION IF EXISTS usage.put_prices(uuid, uuid, jsonb);
DROP FUNCTION IF EXISTS usage.enqueue_issue_buckets(uuid[]);
DROP FUNCTION IF EXISTS usage.row_cost(bigint, bigint, bigint, bigint, bigint, bigint, bigint,
                                       bigint, bigint);
DROP FUNCTION IF EXISTS usage.price_segments(uuid[], text[], text[]);
DROP FUNCTION IF EXISTS usage.model_key(text);
ALTER TABLE usage.task_attribution DROP COLUMN usage_missing, DROP COLUMN completed_at;
ALTER TABLE usage.hourly_outbox
    DROP COLUMN project_id, DROP COLUMN cost_usd_ticks, DROP COLUMN uncosted_input_tokens,
    DROP COLUMN uncosted_output_tokens, DROP COLUMN uncosted_cache_read_tokens,
    DROP COLUMN uncosted_cache_write_tokens, DROP COLUMN estimated_cost_usd_ticks,
    DROP COLUMN unpriced_tokens;
DELETE FROM usage.rollup_quarantine WHERE project_id IS NOT NULL;
ALTER TABLE usage.rollup_quarantine
    DROP CONSTRAINT rollup_quarantine_key, DROP COLUMN project_id, DROP COLUMN cost_usd_ticks,
    DROP COLUMN estimated_cost_usd_ticks, ADD PRIMARY KEY
        (workspace_id, runtime_id, agent_id, provider, model, bucket_hour);
DELETE FROM usage.task_usage_dirty WHERE project_id IS NOT NULL;
ALTER TABLE usage.task_usage_dirty
    DROP CONSTRAINT task_usage_dirty_key, DROP COLUMN project_id, ADD PRIMARY KEY
        (workspace_id, runtime_id, agent_id, provider, model, bucket_hour);
CREATE TEMP TABLE mc_hourly_down ON COMMIT DROP AS
SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour,
       sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
       sum(cache_read_tokens)::bigint AS cache_read_tokens,
       sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(task_count)::integer AS task_count
  FROM usage.task_usage_hourly GROUP BY 1, 2, 3, 4, 5, 6 HAVING count(*) > 1;
DELETE FROM usage.task_usage_hourly h USING mc_hourly_down d
 WHERE (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model, h.bucket_hour)
     = (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.bucket_hour);
INSERT INTO usage.task_usage_hourly
       (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
        output_tokens, cache_read_tokens, cache_write_tokens, task_count)
SELECT * FROM mc_hourly_down;
ALTER TABLE usage.task_usage_hourly
    DROP CONSTRAINT task_usage_hourly_key, DROP COLUMN project_id, DROP COLUMN cost_usd_ticks,
    DROP COLUMN uncosted_input_tokens, DROP COLUMN uncosted_output_tokens,
    DROP COLUMN uncosted_cache_read_tokens, DROP COLUMN uncosted_cache_write_tokens,
    DROP COLUMN estimated_cost_usd_ticks, DROP COLUMN unpriced_tokens, ADD PRIMARY KEY
        (workspace_id, runtime_id, agent_id, provider, model, bucket_hour);
DROP TABLE usage.issue_projects;
DROP TABLE usage.model_prices;
