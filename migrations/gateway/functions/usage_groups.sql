-- The sums of a usage read, grouped as its shape asks (p_by), over the rows usage.usage_rows
-- gives (the rollup and what it has not reached, or with p_raw task_usage alone):
--   day        date, provider (lower-cased, as Multica's reads), model
--   agent      agent, provider, model
--   hour       hour of the day in p_tz (0-23), model
--   day:agent, day:runtime, day:project, day:model   date, key (the agent, runtime or project
--              id, or provider/model)
-- Columns a shape does not group by are NULL. Sums stay numeric: a JSON number of any size is
-- an answer, where a cast to bigint would turn a large total into an error. total_cost_usd_ticks
-- is what daemons reported plus the catalogue's estimate for the rest. A group without a task
-- (a bucket whose rows went, in the rollup's rows) is no group.
CREATE OR REPLACE FUNCTION gateway.usage_groups(p_runtime uuid, p_workspace uuid, p_project uuid,
                                                p_days integer, p_tz text, p_raw boolean,
                                                p_by text)
RETURNS TABLE (date date, hour integer, agent_id uuid, provider text, model text, key text,
               input_tokens numeric, output_tokens numeric, cache_read_tokens numeric,
               cache_write_tokens numeric, cost_usd_ticks numeric, uncosted_input_tokens numeric,
               uncosted_output_tokens numeric, uncosted_cache_read_tokens numeric,
               uncosted_cache_write_tokens numeric, estimated_cost_usd_ticks numeric,
               total_cost_usd_ticks numeric, unpriced_tokens numeric, task_count numeric)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_by NOT IN ('agent', 'hour') THEN r.date END,
           CASE WHEN p_by = 'hour' THEN extract(hour FROM r.bucket_hour AT TIME ZONE p_tz)::int END,
           CASE WHEN p_by = 'agent' THEN r.agent_id END,
           CASE WHEN p_by IN ('day', 'agent') THEN lower(r.provider) END,
           CASE WHEN p_by IN ('day', 'agent', 'hour') THEN r.model END,
           CASE p_by WHEN 'day:agent' THEN r.agent_id::text WHEN 'day:runtime' THEN r.runtime_id::text
                     WHEN 'day:project' THEN r.project_id::text
                     WHEN 'day:model' THEN r.provider || '/' || r.model END,
           sum(r.input_tokens), sum(r.output_tokens), sum(r.cache_read_tokens),
           sum(r.cache_write_tokens), sum(r.cost_usd_ticks), sum(r.uncosted_input_tokens),
           sum(r.uncosted_output_tokens), sum(r.uncosted_cache_read_tokens),
           sum(r.uncosted_cache_write_tokens), sum(r.estimated_cost_usd_ticks),
           sum(r.cost_usd_ticks::numeric + r.estimated_cost_usd_ticks), sum(r.unpriced_tokens),
           sum(r.task_count)
      FROM usage.usage_rows(p_runtime, p_workspace, p_project, p_days, p_tz, p_raw,
                            p_by = 'hour') r
     GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(r.task_count) > 0
$$;
COMMENT ON FUNCTION gateway.usage_groups(uuid, uuid, uuid, integer, text, boolean, text) IS
    'The sums of a usage read of a runtime or workspace over p_days days in p_tz, grouped by day, agent, hour of the day or day and key (p_by); rollup or (p_raw) task_usage.';
