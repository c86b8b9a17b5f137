-- Usage rows of task_usage as reads see them, each priced as the rollup prices its buckets
-- (usage.price_segments, usage.row_cost): the rows of a runtime or a workspace (p_runtime or
-- p_workspace; p_project, when given, keeps one project's), with the UTC hour of created_at
-- and its date in p_tz. Either the rows of every hour from p_since on (p_hours NULL: the
-- ?source=raw reads, joined as they always were), or those of the given hours (the hours
-- the rollup has not reached, usage.usage_rollup_rows): collected first and attributed by one
-- primary-key probe each, as the rollup does, so a few recent hours cost their rows only (a
-- runtime's: its own rows of those hours and those whose runtime_id is not known yet, through
-- task_usage_runtime_created_idx, migration 0025).
CREATE OR REPLACE FUNCTION usage.usage_raw_rows(p_runtime uuid, p_workspace uuid, p_project uuid,
                                                p_since timestamptz, p_hours timestamptz[],
                                                p_tz text)
RETURNS SETOF usage.usage_row
LANGUAGE sql STABLE AS $$
    WITH rows AS (
        SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id, u.provider, u.model,
               u.created_at, date_trunc('hour', u.created_at, 'UTC') AS bucket_hour,
               u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens,
               u.cost_usd_ticks
          FROM usage.task_usage u
          JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL
          LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
         WHERE p_hours IS NULL
           AND (p_runtime IS NULL OR a.runtime_id = p_runtime)
           AND (p_workspace IS NULL OR a.workspace_id = p_workspace)
           AND (p_project IS NULL OR ip.project_id = p_project)
           -- The UTC hour of created_at from p_since on, compared as
           -- task_usage_created_hour_idx keys it (migration 0029).
           AND date_trunc('hour', u.created_at AT TIME ZONE 'UTC') >= p_since AT TIME ZONE 'UTC'
        UNION ALL
        -- The given hours' rows (each hour a UTC hour's start): every runtime's for a
        -- workspace, by the UTC hour of created_at (task_usage_created_hour_idx, migration
        -- 0029); a runtime's own and those whose runtime is not known yet (NULL), through
        -- task_usage_runtime_created_idx.
        SELECT a.workspace_id, a.runtime_id, a.agent_id, a.project_id, u.provider, u.model,
               u.created_at, u.h, u.input_tokens, u.output_tokens, u.cache_read_tokens,
               u.cache_write_tokens, u.cost_usd_ticks
          FROM (SELECT h.h, u.*
                  FROM unnest(p_hours) AS h(h)
                  JOIN usage.task_usage u
                    ON date_trunc('hour', u.created_at AT TIME ZONE 'UTC') = h.h AT TIME ZONE 'UTC'
                 WHERE p_runtime IS NULL
                UNION ALL
                -- Per hour (LATERAL, OFFSET 0): one range of the index each, never all of the
                -- runtime's rows joined by hash.
                SELECT h.h, u.*
                  FROM unnest(p_hours) AS h(h)
                 CROSS JOIN LATERAL (
                       SELECT u.* FROM usage.task_usage u
                        WHERE u.runtime_id = p_runtime
                          AND u.created_at >= h.h AND u.created_at < h.h + interval '1 hour'
                       UNION ALL
                       SELECT u.* FROM usage.task_usage u
                        WHERE u.runtime_id IS NULL
                          AND u.created_at >= h.h AND u.created_at < h.h + interval '1 hour'
                       OFFSET 0) u
                 WHERE p_runtime IS NOT NULL) u
         CROSS JOIN LATERAL (
               SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id
                 FROM usage.task_attribution a
                 LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
                WHERE a.task_id = u.task_id AND a.deleted_at IS NULL
               OFFSET 0) a
         WHERE (p_runtime IS NULL OR a.runtime_id = p_runtime)
           AND (p_workspace IS NULL OR a.workspace_id = p_workspace)
           AND (p_project IS NULL OR a.project_id = p_project)
    ), seg AS (
        SELECT s.*
          FROM (SELECT array_agg(workspace_id) AS w, array_agg(provider) AS p,
                       array_agg(model) AS m
                  FROM (SELECT DISTINCT workspace_id, provider, model FROM rows) d) k
         CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s
    )
    SELECT (r.bucket_hour AT TIME ZONE p_tz)::date, r.bucket_hour, r.workspace_id, r.runtime_id,
           r.agent_id, r.project_id, r.provider, r.model, r.input_tokens, r.output_tokens,
           r.cache_read_tokens, r.cache_write_tokens, 1, c.cost_usd_ticks,
           c.uncosted_input_tokens, c.uncosted_output_tokens, c.uncosted_cache_read_tokens,
           c.uncosted_cache_write_tokens, c.estimated_cost_usd_ticks, c.unpriced_tokens
      FROM rows r
      LEFT JOIN seg s
        ON s.workspace_id = r.workspace_id AND s.provider = r.provider AND s.model = r.model
       AND r.created_at >= s.valid_from AND (s.valid_until IS NULL OR r.created_at < s.valid_until)
     CROSS JOIN LATERAL usage.row_cost(r.input_tokens, r.output_tokens, r.cache_read_tokens,
                                       r.cache_write_tokens, r.cost_usd_ticks,
                                       s.input_ticks_per_mtok, s.output_ticks_per_mtok,
                                       s.cache_read_ticks_per_mtok,
                                       s.cache_write_ticks_per_mtok) c
$$;
COMMENT ON FUNCTION usage.usage_raw_rows(uuid, uuid, uuid, timestamptz, timestamptz[], text) IS
    'The priced task_usage rows of a runtime or workspace (and project) from p_since on, or in the given hours, with their UTC hour and its date in p_tz.';
GRANT EXECUTE ON FUNCTION usage.usage_raw_rows(uuid, uuid, uuid, timestamptz, timestamptz[], text)
    TO multica_gateway;
