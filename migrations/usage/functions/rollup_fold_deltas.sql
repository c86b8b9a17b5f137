-- Folds the logged changes of task_usage (usage.task_usage_delta) into their hourly buckets:
-- each logged row is attributed (one task_attribution primary-key probe) and priced at the
-- rates in force at its created_at, exactly as the window recompute prices a row, and its
-- parts are added (+1) or subtracted (-1), or for an update in place (0) the new values' parts
-- added and the old values' subtracted. The cost is what changed, not what the changed
-- hours hold: the scattered worst case of issue 16 re-read every row of each dirty hour.
-- One statement takes (deletes) the logged rows and writes the buckets, so a change
-- committed meanwhile stays logged for the next run. It holds lock 4247, as the window
-- recompute does: the two never interleave, and a recompute deletes the logged changes of the
-- buckets it replaces (they are in the rows it read), so nothing is counted twice.
-- A logged row whose task has no live attribution adds to no bucket (the attribution that
-- arrives or goes queues the buckets it touches). A logged row is attributed as its task is
-- attributed now: a task that moves queues the buckets of its rows under the old and the new
-- attribution, so both are recomputed. The one change that escapes this is a row deleted
-- without its buckets queued, whose task then moves before the next run: the ingester never
-- does that (it queues a task's buckets before deleting its rows), and by hand it takes the
-- same enqueue, or a repair (the backfill) afterwards. A bucket the sum cannot be trusted for
-- (quarantined, a sum past a bigint, a count or sum below zero after a bucket was edited by
-- hand) is not folded but queued with the oldest time, so the recompute of this same run
-- replaces it from the raw rows.
-- Returns the number of buckets changed (rows written to the outbox).
CREATE OR REPLACE FUNCTION usage.rollup_fold_deltas()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp SET jit = off AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4247);
    PERFORM usage.rollup_out_open();
    WITH taken AS MATERIALIZED (
        DELETE FROM usage.task_usage_delta RETURNING *
    ), attributed AS MATERIALIZED (
        SELECT a.workspace_id, a.runtime_id, a.agent_id, a.project_id, x.provider, x.model,
               x.created_at, x.sign, x.input_tokens, x.output_tokens, x.cache_read_tokens,
               x.cache_write_tokens, x.cost_usd_ticks, x.old_input_tokens, x.old_output_tokens,
               x.old_cache_read_tokens, x.old_cache_write_tokens, x.old_cost_usd_ticks
          FROM taken x
          CROSS JOIN LATERAL (
                SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id
                  FROM usage.task_attribution a
                  LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
                 WHERE a.task_id = x.task_id AND a.deleted_at IS NULL
                OFFSET 0) a
    ), seg AS (
        SELECT s.*
          FROM (SELECT array_agg(workspace_id) AS w, array_agg(provider) AS p,
                       array_agg(model) AS m
                  FROM (SELECT DISTINCT workspace_id, provider, model FROM attributed) d) k
          CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s
    ), sums AS (
        -- A row logged in place (sign 0) adds its parts (w = 1) minus those of its old values
        -- (o, priced at the same rates; all NULL, so 0, for the other rows), and no task.
        SELECT x.workspace_id, x.runtime_id, x.agent_id, x.provider, x.model,
               date_trunc('hour', x.created_at, 'UTC') AS bucket_hour, x.project_id,
               sum(w.w * x.input_tokens - coalesce(x.old_input_tokens, 0)) AS input_tokens,
               sum(w.w * x.output_tokens - coalesce(x.old_output_tokens, 0)) AS output_tokens,
               sum(w.w * x.cache_read_tokens - coalesce(x.old_cache_read_tokens, 0))
                   AS cache_read_tokens,
               sum(w.w * x.cache_write_tokens - coalesce(x.old_cache_write_tokens, 0))
                   AS cache_write_tokens,
               sum(x.sign)::integer AS task_count,
               sum(w.w * c.cost_usd_ticks - coalesce(o.cost_usd_ticks, 0)) AS cost_usd_ticks,
               sum(w.w * c.uncosted_input_tokens - coalesce(o.uncosted_input_tokens, 0))
                   AS uncosted_input_tokens,
               sum(w.w * c.uncosted_output_tokens - coalesce(o.uncosted_output_tokens, 0))
                   AS uncosted_output_tokens,
               sum(w.w * c.uncosted_cache_read_tokens - coalesce(o.uncosted_cache_read_tokens, 0))
                   AS uncosted_cache_read_tokens,
               sum(w.w * c.uncosted_cache_write_tokens
                   - coalesce(o.uncosted_cache_write_tokens, 0)) AS uncosted_cache_write_tokens,
               sum(w.w * c.estimated_cost_usd_ticks - coalesce(o.estimated_cost_usd_ticks, 0))
                   AS estimated_cost_usd_ticks,
               sum(w.w * c.unpriced_tokens - coalesce(o.unpriced_tokens, 0)) AS unpriced_tokens
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
         GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), merged AS MATERIALIZED (
        -- The bucket as stored plus the change, in numeric until checked.
        SELECT s.workspace_id, s.runtime_id, s.agent_id, s.provider, s.model, s.bucket_hour,
               s.project_id, h.task_count IS NOT NULL AS existed,
               coalesce(h.input_tokens, 0) + s.input_tokens AS input_tokens,
               coalesce(h.output_tokens, 0) + s.output_tokens AS output_tokens,
               coalesce(h.cache_read_tokens, 0) + s.cache_read_tokens AS cache_read_tokens,
               coalesce(h.cache_write_tokens, 0) + s.cache_write_tokens AS cache_write_tokens,
               coalesce(h.task_count, 0) + s.task_count AS task_count,
               coalesce(h.cost_usd_ticks, 0) + s.cost_usd_ticks AS cost_usd_ticks,
               coalesce(h.uncosted_input_tokens, 0) + s.uncosted_input_tokens AS uncosted_input_tokens,
               coalesce(h.uncosted_output_tokens, 0) + s.uncosted_output_tokens AS uncosted_output_tokens,
               coalesce(h.uncosted_cache_read_tokens, 0) + s.uncosted_cache_read_tokens
                   AS uncosted_cache_read_tokens,
               coalesce(h.uncosted_cache_write_tokens, 0) + s.uncosted_cache_write_tokens
                   AS uncosted_cache_write_tokens,
               coalesce(h.estimated_cost_usd_ticks, 0) + s.estimated_cost_usd_ticks
                   AS estimated_cost_usd_ticks,
               coalesce(h.unpriced_tokens, 0) + s.unpriced_tokens AS unpriced_tokens,
               EXISTS (SELECT 1 FROM usage.rollup_quarantine q
                        WHERE (q.workspace_id, q.runtime_id, q.agent_id, q.provider, q.model,
                               q.bucket_hour)
                            = (s.workspace_id, s.runtime_id, s.agent_id, s.provider, s.model,
                               s.bucket_hour)
                          AND q.project_id IS NOT DISTINCT FROM s.project_id) AS quarantined
          FROM sums s
          -- One probe of the bucket's key per changed bucket, whatever the planner guesses
          -- (a hash join would read the whole hourly table).
          LEFT JOIN LATERAL (
                SELECT h.* FROM usage.task_usage_hourly h
                 WHERE (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model,
                        h.bucket_hour)
                     = (s.workspace_id, s.runtime_id, s.agent_id, s.provider, s.model,
                        s.bucket_hour)
                   AND h.project_id IS NOT DISTINCT FROM s.project_id
                OFFSET 0) h ON true
    ), checked AS MATERIALIZED (
        SELECT m.*,
               NOT m.quarantined AND m.task_count >= 0
               AND least(m.input_tokens, m.output_tokens, m.cache_read_tokens,
                         m.cache_write_tokens, m.cost_usd_ticks, m.uncosted_input_tokens,
                         m.uncosted_output_tokens, m.uncosted_cache_read_tokens,
                         m.uncosted_cache_write_tokens, m.estimated_cost_usd_ticks,
                         m.unpriced_tokens) >= 0
               AND greatest(m.input_tokens, m.output_tokens, m.cache_read_tokens,
                            m.cache_write_tokens, m.cost_usd_ticks, m.uncosted_input_tokens,
                            m.uncosted_output_tokens, m.uncosted_cache_read_tokens,
                            m.uncosted_cache_write_tokens, m.estimated_cost_usd_ticks,
                            m.unpriced_tokens) <= 9223372036854775807
               AND (m.task_count > 0 OR greatest(m.input_tokens, m.output_tokens,
                                                  m.cache_read_tokens, m.cache_write_tokens,
                                                  m.cost_usd_ticks) = 0) AS ok
          FROM merged m
    ), requeued AS (
        INSERT INTO usage.task_usage_dirty AS d
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
                enqueued_at)
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
               '-infinity'
          FROM checked WHERE NOT ok
        ON CONFLICT ON CONSTRAINT task_usage_dirty_key
        DO UPDATE SET enqueued_at = '-infinity'
        RETURNING 1
    )
    INSERT INTO mc_rollup_out
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
           input_tokens::bigint, output_tokens::bigint, cache_read_tokens::bigint,
           cache_write_tokens::bigint, task_count, cost_usd_ticks::bigint,
           uncosted_input_tokens::bigint, uncosted_output_tokens::bigint,
           uncosted_cache_read_tokens::bigint, uncosted_cache_write_tokens::bigint,
           estimated_cost_usd_ticks::bigint, unpriced_tokens::bigint
      FROM checked WHERE ok AND (task_count > 0 OR existed);
    RETURN usage.rollup_store_buckets();
END
$$;
COMMENT ON FUNCTION usage.rollup_fold_deltas() IS
    'Folds the logged changes of task_usage into task_usage_hourly (attributed and priced as the recompute does), deletes them, writes the outbox; buckets that cannot be folded are queued for the recompute. Lock 4247. Returns buckets changed.';
REVOKE ALL ON FUNCTION usage.rollup_fold_deltas() FROM PUBLIC;
