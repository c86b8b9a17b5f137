-- Keeps task_usage_daily equal to task_usage_hourly: after each statement that writes the
-- hourly table, what it changed (its transition tables: the rows as they were and as they are)
-- is added to the running sums of the days it touched, one upsert per day, without reading the
-- hourly table. A day whose sums that cannot be trusted (its row stores no sums because they
-- exceed a bigint, or would after the change) is recomputed from its hours instead
-- (usage.sync_task_usage_daily). Statement-level, so a rollup tick that changes a thousand
-- buckets writes each touched day once, and whatever writes the hourly table, the level
-- follows. Writers take turns on lock 4247 (the rollup's recomputations already hold it).
-- Postgres allows transition tables on a trigger of one event only, hence one trigger per
-- event; a TRUNCATE empties the level too. This file creates them (a trigger needs its
-- function, and function files are applied after the numbered migrations), and fills the days
-- the level lacks: all of them the first time, none after.
CREATE OR REPLACE FUNCTION usage.task_usage_hourly_to_daily()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    w uuid[];
    r uuid[];
    a uuid[];
    p text[];
    m text[];
    pj uuid[];
    dy date[];
BEGIN
    PERFORM pg_advisory_xact_lock(4247);
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE usage.task_usage_daily;
        RETURN NULL;
    END IF;
    -- One query for the three events; only the rows it reads differ. The transition tables
    -- can be read by EXECUTE alone: a static query naming old_rows would not compile in the
    -- INSERT trigger, which has none.
    EXECUTE replace($q$
    WITH ch AS (
        $source
    ), hd AS (
        -- Per (key, UTC day, hour): new minus old, numeric so a sum past a bigint is seen.
        -- Hours whose change is nil (a rewrite with equal values) are left out.
        SELECT dense_rank() OVER (ORDER BY workspace_id, runtime_id, agent_id, provider, model,
                                           project_id, day) AS id, g.*
          FROM (SELECT workspace_id, runtime_id, agent_id, provider, model, project_id,
                       (bucket_hour AT TIME ZONE 'UTC')::date AS day,
                       extract(hour FROM bucket_hour AT TIME ZONE 'UTC')::int AS j,
                       bool_or(sign < 0) AS had_old,
                       sum(sign * input_tokens::numeric) AS d1,
                       sum(sign * output_tokens::numeric) AS d2,
                       sum(sign * cache_read_tokens::numeric) AS d3,
                       sum(sign * cache_write_tokens::numeric) AS d4,
                       sum(sign * task_count::numeric) AS d5,
                       sum(sign * cost_usd_ticks::numeric) AS d6,
                       sum(sign * uncosted_input_tokens::numeric) AS d7,
                       sum(sign * uncosted_output_tokens::numeric) AS d8,
                       sum(sign * uncosted_cache_read_tokens::numeric) AS d9,
                       sum(sign * uncosted_cache_write_tokens::numeric) AS d10,
                       sum(sign * estimated_cost_usd_ticks::numeric) AS d11,
                       sum(sign * unpriced_tokens::numeric) AS d12
                  FROM ch GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) g
         WHERE (d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12)
            <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ), od AS (
        -- Each touched day with its stored sums (probed by its key: OFFSET 0 keeps it a
        -- probe whatever the planner guesses of the transition table). A day without a row
        -- had no hours, so it starts from zeros; if the statement removed hours from it, or
        -- its row has no sums, the sums cannot be trusted (usable false).
        SELECT k.*, o.present IS NOT NULL AS present,
               (o.present IS NULL AND NOT k.had_old) OR o.cum IS NOT NULL AS usable,
               coalesce(o.cum, array_fill(0::bigint, ARRAY[25, 12])) AS base
          FROM (SELECT DISTINCT ON (id) id, workspace_id, runtime_id, agent_id, provider,
                       model, project_id, day,
                       bool_or(had_old) OVER (PARTITION BY id) AS had_old
                  FROM hd ORDER BY id) k
          LEFT JOIN LATERAL (
               SELECT true AS present, d.cum FROM usage.task_usage_daily d
                WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
                    = (k.workspace_id, k.runtime_id, k.agent_id, k.provider, k.model, k.day)
                  AND d.project_id IS NOT DISTINCT FROM k.project_id
               OFFSET 0) o ON true
    ), seg AS (
        -- From each changed hour j to the next one (nj), the day's sums move by the changes of
        -- hours 0..j. In the INSERT trigger, an inserted hour the stored day already counts
        -- is not added again: an inserted bucket had no row before its statement, so the day
        -- can count it only when this statement's UPDATE trigger (INSERT ... ON CONFLICT DO
        -- UPDATE fires it first) recomputed the day from the hourly table, new rows included.
        SELECT hd.id, hd.j, lead(hd.j, 1, 24) OVER w AS nj,
               sum(hd.d1 * g.k) OVER w AS s1, sum(hd.d2 * g.k) OVER w AS s2,
               sum(hd.d3 * g.k) OVER w AS s3, sum(hd.d4 * g.k) OVER w AS s4,
               sum(hd.d5 * g.k) OVER w AS s5, sum(hd.d6 * g.k) OVER w AS s6,
               sum(hd.d7 * g.k) OVER w AS s7, sum(hd.d8 * g.k) OVER w AS s8,
               sum(hd.d9 * g.k) OVER w AS s9, sum(hd.d10 * g.k) OVER w AS s10,
               sum(hd.d11 * g.k) OVER w AS s11, sum(hd.d12 * g.k) OVER w AS s12
          FROM hd
          JOIN od USING (id)
         CROSS JOIN LATERAL (
               SELECT CASE WHEN $1 AND od.base[hd.j + 2][5] <> od.base[hd.j + 1][5] THEN 0
                           ELSE 1 END AS k) g
         WHERE od.usable
        WINDOW w AS (PARTITION BY hd.id ORDER BY hd.j)
    ), sums AS (
        -- Row r of the sums (the hours before hour r - 1), from the first changed one on.
        SELECT s.id, x.r, od.base[x.r][1] + s.s1 AS c1, od.base[x.r][2] + s.s2 AS c2,
               od.base[x.r][3] + s.s3 AS c3, od.base[x.r][4] + s.s4 AS c4,
               od.base[x.r][5] + s.s5 AS c5, od.base[x.r][6] + s.s6 AS c6,
               od.base[x.r][7] + s.s7 AS c7, od.base[x.r][8] + s.s8 AS c8,
               od.base[x.r][9] + s.s9 AS c9, od.base[x.r][10] + s.s10 AS c10,
               od.base[x.r][11] + s.s11 AS c11, od.base[x.r][12] + s.s12 AS c12
          FROM seg s
          JOIN od USING (id)
         CROSS JOIN generate_series(s.j + 2, s.nj + 1) AS x(r)
    ), res AS (
        SELECT od.*, c.tasks, c.fits,
               CASE WHEN c.fits THEN od.base[1:c.r0 - 1] || c.tail::bigint[] END AS cum
          FROM od
          JOIN (SELECT id, min(r) AS r0, max(c5) FILTER (WHERE r = 25) AS tasks,
                       bool_and(greatest(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12)
                                    <= 9223372036854775807
                                AND least(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12)
                                    >= -9223372036854775808) AS fits,
                       array_agg(ARRAY[c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12]
                                 ORDER BY r) AS tail
                  FROM sums GROUP BY id) c USING (id)
    ), upserted AS (
        INSERT INTO usage.task_usage_daily AS d
               (workspace_id, runtime_id, agent_id, provider, model, project_id, day, cum)
        SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day, cum
          FROM res WHERE fits AND tasks > 0
        ON CONFLICT ON CONSTRAINT task_usage_daily_key DO UPDATE SET cum = EXCLUDED.cum
    ), removed AS (
        -- Empty as the recompute defines it: no task left in the day.
        DELETE FROM usage.task_usage_daily d
         USING res
         WHERE res.present AND res.fits AND res.tasks = 0
           AND (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
             = (res.workspace_id, res.runtime_id, res.agent_id, res.provider, res.model, res.day)
           AND d.project_id IS NOT DISTINCT FROM res.project_id
    )
    -- The days to recompute from their hours.
    SELECT array_agg(workspace_id), array_agg(runtime_id), array_agg(agent_id),
           array_agg(provider), array_agg(model), array_agg(project_id), array_agg(day)
      FROM (SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day
              FROM od WHERE NOT usable
            UNION ALL
            SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day
              FROM res WHERE NOT fits OR tasks < 0) f
    $q$, '$source', CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
        ELSE 'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1, o.* FROM old_rows o'
    END)
    INTO w, r, a, p, m, pj, dy
    USING TG_OP = 'INSERT';
    IF dy IS NOT NULL THEN
        PERFORM usage.sync_task_usage_daily(w, r, a, p, m, pj, dy);
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION usage.task_usage_hourly_to_daily() IS
    'Trigger on task_usage_hourly (after each statement): adds what the statement changed to the task_usage_daily days it touched (recomputing a day whose sums exceed a bigint); empties the level on TRUNCATE.';
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_ins AFTER INSERT ON usage.task_usage_hourly
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_upd AFTER UPDATE ON usage.task_usage_hourly
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_del AFTER DELETE ON usage.task_usage_hourly
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
CREATE OR REPLACE TRIGGER task_usage_hourly_to_daily_trunc AFTER TRUNCATE
    ON usage.task_usage_hourly
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_hourly_to_daily();
-- The days that have buckets and no daily row: every day when the table was just created.
SELECT usage.sync_task_usage_daily(array_agg(workspace_id), array_agg(runtime_id),
                                   array_agg(agent_id), array_agg(provider), array_agg(model),
                                   array_agg(project_id), array_agg(day))
  FROM (SELECT DISTINCT h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model,
               h.project_id, (h.bucket_hour AT TIME ZONE 'UTC')::date AS day
          FROM usage.task_usage_hourly h
         WHERE NOT EXISTS (
               SELECT 1 FROM usage.task_usage_daily d
                WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
                    = (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model,
                       (h.bucket_hour AT TIME ZONE 'UTC')::date)
                  AND d.project_id IS NOT DISTINCT FROM h.project_id)) k;
