-- What the rollup's next fold adds to a runtime's buckets from p_since on, outside the hours
-- in p_hours (those a read takes whole from task_usage), one row per bucket dated in p_tz:
-- usage.usage_delta_parts over every logged change (its p_after NULL), which says how. What
-- the SQL reads add to the rollup's buckets (usage.usage_rows, usage.usage_fresh_rows). One
-- SELECT, so that Postgres inlines it.
CREATE OR REPLACE FUNCTION usage.usage_delta_rows(p_runtime uuid, p_project uuid,
                                                  p_since timestamptz, p_hours timestamptz[],
                                                  p_tz text)
RETURNS SETOF usage.usage_row
LANGUAGE sql STABLE AS $$
    SELECT d.date, d.bucket_hour, d.workspace_id, d.runtime_id, d.agent_id, d.project_id,
           d.provider, d.model, d.input_tokens, d.output_tokens, d.cache_read_tokens,
           d.cache_write_tokens, d.task_count, d.cost_usd_ticks, d.uncosted_input_tokens,
           d.uncosted_output_tokens, d.uncosted_cache_read_tokens, d.uncosted_cache_write_tokens,
           d.estimated_cost_usd_ticks, d.unpriced_tokens
      FROM usage.usage_delta_parts(p_runtime, p_project, p_since, p_hours, p_tz, NULL, NULL) d
$$;
COMMENT ON FUNCTION usage.usage_delta_rows(uuid, uuid, timestamptz, timestamptz[], text) IS
    'A runtime''s changes of task_usage the rollup has not folded, from p_since on outside p_hours, attributed, priced and summed per bucket as rollup_fold_deltas does, dated in p_tz: what its read adds to the buckets.';
GRANT EXECUTE ON FUNCTION usage.usage_delta_rows(uuid, uuid, timestamptz, timestamptz[], text)
    TO multica_gateway;
