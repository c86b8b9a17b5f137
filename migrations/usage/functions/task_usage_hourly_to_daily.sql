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
    src text;
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
    src := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
        ELSE 'SELECT 1 AS sign, n.* FROM new_rows n UNION ALL SELECT -1, o.* FROM old_rows o'
    END;
    BEGIN
        EXECUTE replace($q$
    -- The rows the statement changed, read twice rather than copied (a bulk write holds millions).
    WITH ch AS NOT MATERIALIZED (
        SELECT sign, workspace_id, runtime_id, agent_id, provider, model, project_id,
               (bucket_hour AT TIME ZONE 'UTC')::date AS day,
               extract(hour FROM bucket_hour AT TIME ZONE 'UTC')::int AS j,
               input_tokens, output_tokens, cache_read_tokens,
               cache_write_tokens, task_count, cost_usd_ticks,
               uncosted_input_tokens, uncosted_output_tokens, uncosted_cache_read_tokens,
               uncosted_cache_write_tokens, estimated_cost_usd_ticks, unpriced_tokens
          FROM ($source) s
    ), od AS (
        -- Each touched day with its stored sums, probed by its key (OFFSET 0 keeps it a probe
        -- whatever the planner guesses of the transition table). A day without a row (new,
        -- or emptied by a TRUNCATE), or without sums (past a bigint), or with more than three
        -- of its hours changed (n counts old and new rows) is recomputed from its hours
        -- (redo): adding costs a few slices of the sums per changed hour, and a tick's recent
        -- days, their hours just written, are cheaper to reread.
        SELECT g.*, o.cum, o.cum IS NULL OR g.n > 6 AS redo
          FROM (SELECT row_number() OVER () AS id, workspace_id, runtime_id, agent_id, provider,
                       model, project_id, day, count(*) AS n
                  FROM ch GROUP BY 2, 3, 4, 5, 6, 7, 8) g
          LEFT JOIN LATERAL (
               SELECT d.cum FROM usage.task_usage_daily d
                WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
                    = (g.workspace_id, g.runtime_id, g.agent_id, g.provider, g.model, g.day)
                  AND d.project_id IS NOT DISTINCT FROM g.project_id
               OFFSET 0) o ON true
    ), hd AS (
        -- The other days, per hour: new minus old (numeric, so a sum past a bigint is seen).
        -- Hours whose change is nil (a rewrite with equal values) are left out.
        SELECT * FROM (
               SELECT k.id, ch.j,
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
                 FROM ch
                 JOIN (SELECT id, workspace_id, runtime_id, agent_id, provider, model,
                              project_id, day
                         FROM od WHERE NOT redo) k
                   ON (ch.workspace_id, ch.runtime_id, ch.agent_id, ch.provider, ch.model,
                       ch.day)
                    = (k.workspace_id, k.runtime_id, k.agent_id, k.provider, k.model, k.day)
                  AND ch.project_id IS NOT DISTINCT FROM k.project_id
                GROUP BY k.id, ch.j) c
         WHERE (d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12)
            <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ), kd AS (
        -- Per day: its changed hours (js), each up to the next one (njs), the running change
        -- from each on (a1..a12), and the sizes of the changes (s1..s12).
        SELECT id, min(j) AS j0, sum(d5) AS t, array_agg(j ORDER BY j) AS js,
               array_agg(nj ORDER BY j) AS njs,
               array_agg(r1 ORDER BY j) AS a1, array_agg(r2 ORDER BY j) AS a2,
               array_agg(r3 ORDER BY j) AS a3, array_agg(r4 ORDER BY j) AS a4,
               array_agg(r5 ORDER BY j) AS a5, array_agg(r6 ORDER BY j) AS a6,
               array_agg(r7 ORDER BY j) AS a7, array_agg(r8 ORDER BY j) AS a8,
               array_agg(r9 ORDER BY j) AS a9, array_agg(r10 ORDER BY j) AS a10,
               array_agg(r11 ORDER BY j) AS a11, array_agg(r12 ORDER BY j) AS a12,
               sum(abs(d1)) AS s1, sum(abs(d2)) AS s2, sum(abs(d3)) AS s3, sum(abs(d4)) AS s4,
               sum(abs(d5)) AS s5, sum(abs(d6)) AS s6, sum(abs(d7)) AS s7, sum(abs(d8)) AS s8,
               sum(abs(d9)) AS s9, sum(abs(d10)) AS s10, sum(abs(d11)) AS s11, sum(abs(d12)) AS s12
          FROM (SELECT hd.*, lead(j, 1, 24) OVER w AS nj,
                       sum(d1) OVER w AS r1, sum(d2) OVER w AS r2, sum(d3) OVER w AS r3,
                       sum(d4) OVER w AS r4, sum(d5) OVER w AS r5, sum(d6) OVER w AS r6,
                       sum(d7) OVER w AS r7, sum(d8) OVER w AS r8, sum(d9) OVER w AS r9,
                       sum(d10) OVER w AS r10, sum(d11) OVER w AS r11, sum(d12) OVER w AS r12
                  FROM hd WINDOW w AS (PARTITION BY id ORDER BY j)) c
         GROUP BY id
    ), ad AS (
        -- The change is added when the day's sums stay within a bigint: the stored total's
        -- size plus the sizes of the changes bounds every running sum when values are not
        -- negative (the rollup writes none; any other overflow raises an error, caught
        -- below), else the day is recomputed. In the INSERT trigger, a day that already
        -- counts an inserted hour is left as it is (counted): an inserted bucket had no row
        -- before its statement, so a day counts it only when the statement's UPDATE trigger
        -- (INSERT ... ON CONFLICT DO UPDATE fires it first) recomputed that day from the
        -- hourly table, new rows and all.
        SELECT od.workspace_id, od.runtime_id, od.agent_id, od.provider, od.model,
               od.project_id, od.day, od.cum, kd.*, od.cum[25][5] + kd.t AS left_tasks,
               greatest(abs(od.cum[25][1]) + kd.s1, abs(od.cum[25][2]) + kd.s2,
                        abs(od.cum[25][3]) + kd.s3, abs(od.cum[25][4]) + kd.s4,
                        abs(od.cum[25][5]) + kd.s5, abs(od.cum[25][6]) + kd.s6,
                        abs(od.cum[25][7]) + kd.s7, abs(od.cum[25][8]) + kd.s8,
                        abs(od.cum[25][9]) + kd.s9, abs(od.cum[25][10]) + kd.s10,
                        abs(od.cum[25][11]) + kd.s11, abs(od.cum[25][12]) + kd.s12)
                   > 9223372036854775807 AS redo,
               coalesce($1 AND od.cum[kd.j0 + 2][5] <> od.cum[kd.j0 + 1][5], false) AS counted
          FROM od JOIN kd USING (id)
    ), upserted AS (
        -- Row r of the sums holds the hours before hour r - 1: the rows from a changed hour j
        -- (r = j + 2) to the next changed one (nj) move by the running change; the rows
        -- before the first changed hour stay.
        INSERT INTO usage.task_usage_daily AS d
               (workspace_id, runtime_id, agent_id, provider, model, project_id, day, cum)
        SELECT ad.workspace_id, ad.runtime_id, ad.agent_id, ad.provider, ad.model,
               ad.project_id, ad.day,
               ad.cum[1:ad.j0 + 1] || (
               SELECT array_agg(ARRAY[u.c1 + v.r1, u.c2 + v.r2, u.c3 + v.r3, u.c4 + v.r4,
                                      u.c5 + v.r5, u.c6 + v.r6, u.c7 + v.r7, u.c8 + v.r8,
                                      u.c9 + v.r9, u.c10 + v.r10, u.c11 + v.r11,
                                      u.c12 + v.r12] ORDER BY v.j, u.k)
                 FROM unnest(ad.js, ad.njs, ad.a1::bigint[], ad.a2::bigint[], ad.a3::bigint[],
                             ad.a4::bigint[], ad.a5::bigint[], ad.a6::bigint[], ad.a7::bigint[],
                             ad.a8::bigint[], ad.a9::bigint[], ad.a10::bigint[], ad.a11::bigint[],
                             ad.a12::bigint[])
                      AS v(j, nj, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12)
                CROSS JOIN LATERAL unnest(
                      ad.cum[v.j + 2:v.nj + 1][1:1], ad.cum[v.j + 2:v.nj + 1][2:2],
                      ad.cum[v.j + 2:v.nj + 1][3:3], ad.cum[v.j + 2:v.nj + 1][4:4],
                      ad.cum[v.j + 2:v.nj + 1][5:5], ad.cum[v.j + 2:v.nj + 1][6:6],
                      ad.cum[v.j + 2:v.nj + 1][7:7], ad.cum[v.j + 2:v.nj + 1][8:8],
                      ad.cum[v.j + 2:v.nj + 1][9:9], ad.cum[v.j + 2:v.nj + 1][10:10],
                      ad.cum[v.j + 2:v.nj + 1][11:11], ad.cum[v.j + 2:v.nj + 1][12:12])
                      WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, k))
          FROM ad
         WHERE NOT ad.redo AND NOT ad.counted AND ad.left_tasks > 0
        ON CONFLICT ON CONSTRAINT task_usage_daily_key DO UPDATE SET cum = EXCLUDED.cum
    ), removed AS (
        -- Empty as the recompute defines it: no task left in the day.
        DELETE FROM usage.task_usage_daily d
         USING ad
         WHERE NOT ad.redo AND NOT ad.counted AND ad.left_tasks = 0
           AND (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
             = (ad.workspace_id, ad.runtime_id, ad.agent_id, ad.provider, ad.model, ad.day)
           AND d.project_id IS NOT DISTINCT FROM ad.project_id
    )
    -- The days to recompute from their hours.
    SELECT array_agg(workspace_id), array_agg(runtime_id), array_agg(agent_id),
           array_agg(provider), array_agg(model), array_agg(project_id), array_agg(day)
      FROM (SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day
              FROM od WHERE redo
            UNION ALL
            SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day
              FROM ad WHERE NOT counted AND (redo OR left_tasks < 0)) f
        $q$, '$source', src)
        INTO w, r, a, p, m, pj, dy
        USING TG_OP = 'INSERT';
    EXCEPTION WHEN numeric_value_out_of_range THEN
        -- A running sum past a bigint that the bound above did not foresee (negative values):
        -- every day the statement touched is recomputed.
        EXECUTE replace($q$
        SELECT array_agg(workspace_id), array_agg(runtime_id), array_agg(agent_id),
               array_agg(provider), array_agg(model), array_agg(project_id),
               array_agg((bucket_hour AT TIME ZONE 'UTC')::date)
          FROM ($source) ch
        $q$, '$source', src)
        INTO w, r, a, p, m, pj, dy;
    END;
    IF dy IS NOT NULL THEN
        PERFORM usage.sync_task_usage_daily(w, r, a, p, m, pj, dy);
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION usage.task_usage_hourly_to_daily() IS
    'Trigger on task_usage_hourly (after each statement): adds what the statement changed to the task_usage_daily days it touched (recomputing new days, bulk-written ones and those past a bigint); empties the level on TRUNCATE.';
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
