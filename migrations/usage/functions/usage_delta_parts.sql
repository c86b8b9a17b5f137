-- What the rollup's next fold adds to a runtime's buckets from p_since on, outside the hours
-- in p_hours (those a read takes whole from task_usage): the runtime's changes of task_usage
-- logged and not folded yet (usage.task_usage_delta, found by the runtime their row carries,
-- migration 0026), attributed by one task_attribution primary-key probe each and priced at the
-- rates in force at their created_at, exactly as usage.rollup_fold_deltas attributes, prices
-- and sums them, one row per bucket (dated in p_tz). The buckets plus these rows are what the
-- buckets will hold after the fold, i.e. task_usage's rows of those hours: a runtime's read
-- adds them instead of re-reading whole hours past the watermark, so a busy runtime's read
-- costs its changes since the last fold, not every row of its recent hours. A change logged
-- under another runtime (or none) is not here: a task's logged changes carry the runtime its
-- rows carry (the writers of task_usage.runtime_id move them), and the hours of rows whose
-- runtime is not known are in p_hours (usage.usage_runtime_fresh_hours). p_project, when
-- given, keeps one project's.
-- Two statements: the runtime's logged changes, collected by the log's runtime index (planned
-- per call: a small query, and the log's size moves all the time), then attributed, priced and
-- summed with one generic plan per connection (the pricing query takes about 5 ms to plan:
-- planned per read, it cost more than it runs). A runtime with no change costs one probe.
-- p_after and p_boundary (migration 0027): with p_after given, only the changes logged by a
-- transaction from p_after on (usage.task_usage_delta.logged_xid), each marked settled when
-- logged below p_boundary, the snapshot's oldest running transaction (no change can appear
-- below it any more: the gateway keeps their sums and asks next time from p_boundary on,
-- usage.usage_fresh_parts); the rows are then also grouped by that mark. With p_after NULL,
-- every change, none settled: usage_delta_rows.
-- A NULL p_runtime (no change carries it) runs the pricing statement over no change: what the
-- gateway runs on each new pooled connection (gw_usage_warm), so that its generic plan, about
-- 10 ms to make in a new session, is made before a read needs it.
CREATE OR REPLACE FUNCTION usage.usage_delta_parts(p_runtime uuid, p_project uuid,
                                                   p_since timestamptz, p_hours timestamptz[],
                                                   p_tz text, p_after xid8, p_boundary xid8)
RETURNS TABLE (settled boolean, date date, bucket_hour timestamptz, workspace_id uuid,
               runtime_id uuid, agent_id uuid, project_id uuid, provider text, model text,
               input_tokens bigint, output_tokens bigint, cache_read_tokens bigint,
               cache_write_tokens bigint, task_count bigint, cost_usd_ticks bigint,
               uncosted_input_tokens bigint, uncosted_output_tokens bigint,
               uncosted_cache_read_tokens bigint, uncosted_cache_write_tokens bigint,
               estimated_cost_usd_ticks bigint, unpriced_tokens bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    logged usage.task_usage_delta[];
    caller_mode text := current_setting('plan_cache_mode');
BEGIN
    SELECT array_agg(d) INTO logged
      FROM usage.task_usage_delta d
     WHERE d.runtime_id = p_runtime AND d.created_at >= p_since - interval '1 hour'
       AND (p_after IS NULL OR d.logged_xid >= p_after);
    IF logged IS NULL AND p_runtime IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
    RETURN QUERY
    WITH attributed AS MATERIALIZED (
        SELECT CASE WHEN p_after IS NULL THEN false ELSE x.logged_xid < p_boundary END
                   AS settled,
               a.workspace_id, a.runtime_id, a.agent_id, a.project_id, x.provider, x.model,
               x.created_at, x.bucket_hour, x.sign, x.input_tokens, x.output_tokens,
               x.cache_read_tokens, x.cache_write_tokens, x.cost_usd_ticks,
               x.old_input_tokens, x.old_output_tokens, x.old_cache_read_tokens,
               x.old_cache_write_tokens, x.old_cost_usd_ticks
          FROM (SELECT d.*, date_trunc('hour', d.created_at, 'UTC') AS bucket_hour
                  FROM unnest(coalesce(logged, '{}')) d) x
         CROSS JOIN LATERAL (
               SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id
                 FROM usage.task_attribution a
                 LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
                WHERE a.task_id = x.task_id AND a.deleted_at IS NULL
               OFFSET 0) a
         WHERE a.runtime_id = p_runtime
           AND x.bucket_hour >= p_since
           AND NOT (x.bucket_hour = ANY (coalesce(p_hours, '{}')))
           AND (p_project IS NULL OR a.project_id = p_project)
    ), seg AS MATERIALIZED (
        -- Once (MATERIALIZED): the generic plan guesses one logged row and put the price
        -- lookup inside the loop over them, once per row (18 ms a read at 1M rows).
        SELECT s.*
          FROM (SELECT array_agg(workspace_id) AS w, array_agg(provider) AS p,
                       array_agg(model) AS m
                  FROM (SELECT DISTINCT workspace_id, provider, model FROM attributed) d) k
         CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s
    )
    -- As the fold sums them: a row logged in place (sign 0) adds its parts minus those of its
    -- old values (priced at the same rates) and no task; the others add (+1) or take out (-1)
    -- their parts and one task.
    SELECT x.settled, (x.bucket_hour AT TIME ZONE p_tz)::date, x.bucket_hour, x.workspace_id,
           x.runtime_id, x.agent_id, x.project_id, x.provider, x.model,
           sum(w.w * x.input_tokens - coalesce(x.old_input_tokens, 0))::bigint,
           sum(w.w * x.output_tokens - coalesce(x.old_output_tokens, 0))::bigint,
           sum(w.w * x.cache_read_tokens - coalesce(x.old_cache_read_tokens, 0))::bigint,
           sum(w.w * x.cache_write_tokens - coalesce(x.old_cache_write_tokens, 0))::bigint,
           sum(x.sign)::bigint,
           sum(w.w * c.cost_usd_ticks - coalesce(o.cost_usd_ticks, 0))::bigint,
           sum(w.w * c.uncosted_input_tokens - coalesce(o.uncosted_input_tokens, 0))::bigint,
           sum(w.w * c.uncosted_output_tokens - coalesce(o.uncosted_output_tokens, 0))::bigint,
           sum(w.w * c.uncosted_cache_read_tokens
               - coalesce(o.uncosted_cache_read_tokens, 0))::bigint,
           sum(w.w * c.uncosted_cache_write_tokens
               - coalesce(o.uncosted_cache_write_tokens, 0))::bigint,
           sum(w.w * c.estimated_cost_usd_ticks - coalesce(o.estimated_cost_usd_ticks, 0))::bigint,
           sum(w.w * c.unpriced_tokens - coalesce(o.unpriced_tokens, 0))::bigint
      FROM attributed x
      LEFT JOIN seg s
        ON s.workspace_id = x.workspace_id AND s.provider = x.provider AND s.model = x.model
       AND x.created_at >= s.valid_from AND (s.valid_until IS NULL OR x.created_at < s.valid_until)
     CROSS JOIN LATERAL (SELECT CASE WHEN x.sign = 0 THEN 1 ELSE x.sign END AS w) w
     CROSS JOIN LATERAL usage.row_cost(x.input_tokens, x.output_tokens, x.cache_read_tokens,
                                       x.cache_write_tokens, x.cost_usd_ticks,
                                       s.input_ticks_per_mtok, s.output_ticks_per_mtok,
                                       s.cache_read_ticks_per_mtok,
                                       s.cache_write_ticks_per_mtok) c
     CROSS JOIN LATERAL usage.row_cost(x.old_input_tokens, x.old_output_tokens,
                                       x.old_cache_read_tokens, x.old_cache_write_tokens,
                                       x.old_cost_usd_ticks, s.input_ticks_per_mtok,
                                       s.output_ticks_per_mtok, s.cache_read_ticks_per_mtok,
                                       s.cache_write_ticks_per_mtok) o
     GROUP BY x.settled, x.bucket_hour, x.workspace_id, x.runtime_id, x.agent_id,
              x.project_id, x.provider, x.model;
    PERFORM set_config('plan_cache_mode', caller_mode, true);
END
$$;
COMMENT ON FUNCTION usage.usage_delta_parts(uuid, uuid, timestamptz, timestamptz[], text, xid8,
                                             xid8) IS
    'usage_delta_rows'' rows, of the changes logged by transactions from p_after on (all: NULL), each marked settled when logged below p_boundary (no transaction below it can still commit).';
GRANT EXECUTE ON FUNCTION usage.usage_delta_parts(uuid, uuid, timestamptz, timestamptz[], text,
                                                  xid8, xid8)
    TO multica_gateway;
