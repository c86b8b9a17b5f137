-- What a runtime's daily read adds to the rollup's rows of its window (usage.usage_rollup_window,
-- kept by the gateway): the rollup's pending changes for the runtime. For the hours it takes
-- whole (usage.usage_runtime_fresh_hours: queued buckets, rows of unknown runtime), the
-- rollup's buckets of those hours with a negative sign (to take out) and task_usage's rows of
-- those hours (to add); for the others, the runtime's changes logged and not folded yet
-- (usage.usage_delta_rows: what the next fold adds to its buckets), dated in p_tz; nothing when
-- there are none. Exactly the rows by which usage.usage_rows differs from
-- usage.usage_rollup_window (the same watermark, hours and queries), so that the gateway's sum
-- is usage.usage_rows' answer. usage.usage_fresh_parts over every change, which does it (the
-- gateway calls that directly, to price only the changes it has not seen); its last row, of
-- marks alone, left out. One SELECT, so that Postgres inlines it.
CREATE OR REPLACE FUNCTION usage.usage_fresh_rows(p_runtime uuid, p_since timestamptz, p_tz text)
RETURNS SETOF usage.usage_row
LANGUAGE sql STABLE AS $$
    SELECT f.date, f.bucket_hour, f.workspace_id, f.runtime_id, f.agent_id, f.project_id,
           f.provider, f.model, f.input_tokens, f.output_tokens, f.cache_read_tokens,
           f.cache_write_tokens, f.task_count, f.cost_usd_ticks, f.uncosted_input_tokens,
           f.uncosted_output_tokens, f.uncosted_cache_read_tokens, f.uncosted_cache_write_tokens,
           f.estimated_cost_usd_ticks, f.unpriced_tokens
      FROM usage.usage_fresh_parts(p_runtime, p_since, p_tz, NULL) f
     WHERE f.settled IS NOT NULL
$$;
COMMENT ON FUNCTION usage.usage_fresh_rows(uuid, timestamptz, text) IS
    'A runtime''s changes the rollup has not folded, by date in p_tz: its logged changes (usage_delta_rows), and for the hours it takes whole its buckets negated and task_usage''s rows; what a daily read adds to the kept rollup rows.';
GRANT EXECUTE ON FUNCTION usage.usage_fresh_rows(uuid, timestamptz, text) TO multica_gateway;
