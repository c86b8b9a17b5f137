-- Keeps task_usage_daily equal to task_usage_hourly: after each statement that writes the
-- hourly table, what it changed (its transition tables: the rows as they were and as they are)
-- is added to the running sums of the days it touched, one update per day of the row its probe
-- found, without reading the hourly table. A day without a row, or whose sums cannot be
-- trusted (its row stores no sums because they exceed a bigint, or would after the change), is
-- recomputed from its hours instead (usage.sync_task_usage_daily). Statement-level, so a rollup
-- tick that changes a thousand buckets writes each touched day once, and whatever writes the
-- hourly table, the level follows. Writers take turns on lock 4247 (the rollup's
-- recomputations already hold it). Postgres allows transition tables on a trigger of one event only, hence one trigger per
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
    -- The rows the statement changed, read once (a bulk write holds millions).
    WITH ch AS NOT MATERIALIZED (
        SELECT sign, workspace_id, runtime_id, agent_id, provider, model, project_id,
               (bucket_hour AT TIME ZONE 'UTC')::date AS day,
               extract(hour FROM bucket_hour AT TIME ZONE 'UTC')::int AS j,
               input_tokens, output_tokens, cache_read_tokens,
               cache_write_tokens, task_count, cost_usd_ticks,
               uncosted_input_tokens, uncosted_output_tokens, uncosted_cache_read_tokens,
               uncosted_cache_write_tokens, estimated_cost_usd_ticks, unpriced_tokens
          FROM ($source) s
    ), hd AS (
        -- Per (key, UTC day, hour): the statement's rows there (n) and new minus old. A sign
        -- times a value is a bigint; its sum a numeric, so a sum past a bigint is seen.
        SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day, j,
               count(*) AS n,
               sum(sign * input_tokens) AS d1, sum(sign * output_tokens) AS d2,
               sum(sign * cache_read_tokens) AS d3, sum(sign * cache_write_tokens) AS d4,
               sum(sign * task_count) AS d5, sum(sign * cost_usd_ticks) AS d6,
               sum(sign * uncosted_input_tokens) AS d7, sum(sign * uncosted_output_tokens) AS d8,
               sum(sign * uncosted_cache_read_tokens) AS d9,
               sum(sign * uncosted_cache_write_tokens) AS d10,
               sum(sign * estimated_cost_usd_ticks) AS d11, sum(sign * unpriced_tokens) AS d12
          FROM ch GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), kd AS (
        -- Per touched day: the statement's rows there (n counts old and new), whether its
        -- change is nil (a rewrite with equal values), the sizes of the changes (s1..s12), and
        -- its segments (sg): per changed hour j, row [j, the next changed hour nj, the running
        -- change from j on (12 values)], in one ordered aggregate (each ORDER BY in an
        -- aggregate sorts on its own). A nil hour is kept: its segment adds the running change
        -- as it is. A running change past a bigint raises an error, caught below.
        SELECT row_number() OVER () AS id, workspace_id, runtime_id, agent_id, provider, model,
               project_id, day, sum(n) AS n, min(j) AS j0, sum(d5) AS t,
               bool_and((d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12)
                        = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) AS nil,
               array_agg(ARRAY[j, nj, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12]::bigint[]
                         ORDER BY j) AS sg,
               sum(abs(d1)) AS s1, sum(abs(d2)) AS s2, sum(abs(d3)) AS s3, sum(abs(d4)) AS s4,
               sum(abs(d5)) AS s5, sum(abs(d6)) AS s6, sum(abs(d7)) AS s7, sum(abs(d8)) AS s8,
               sum(abs(d9)) AS s9, sum(abs(d10)) AS s10, sum(abs(d11)) AS s11, sum(abs(d12)) AS s12
          FROM (SELECT hd.*, lead(j, 1, 24) OVER w AS nj,
                       sum(d1) OVER w AS r1, sum(d2) OVER w AS r2, sum(d3) OVER w AS r3,
                       sum(d4) OVER w AS r4, sum(d5) OVER w AS r5, sum(d6) OVER w AS r6,
                       sum(d7) OVER w AS r7, sum(d8) OVER w AS r8, sum(d9) OVER w AS r9,
                       sum(d10) OVER w AS r10, sum(d11) OVER w AS r11, sum(d12) OVER w AS r12
                  FROM hd
                WINDOW w AS (PARTITION BY workspace_id, runtime_id, agent_id, provider, model,
                                          project_id, day ORDER BY j)) c
         GROUP BY workspace_id, runtime_id, agent_id, provider, model, project_id, day
    ), pr AS (
        -- Each day with at most three changed hours (n <= 6; a day with more, a tick's recent
        -- ones, is cheaper to reread from its hours just written), probed by its key (OFFSET 0
        -- keeps it a probe whatever the planner guesses of the transition table): where its
        -- row is (tid), and whether the change can be added to its sums (ok): the row stores
        -- sums (NULL past a bigint), a task is left, and the stored total's size plus the
        -- sizes of the changes stays within a bigint, which bounds every running sum when
        -- values are not negative (the rollup writes none; any other overflow raises an error,
        -- caught below). In the INSERT trigger, a day that already counts an inserted hour is
        -- left as it is (counted): an inserted bucket had no row before its statement, so a
        -- day counts it only when the statement's UPDATE trigger (INSERT ... ON CONFLICT DO
        -- UPDATE fires it first) recomputed that day from the hourly table, new rows and all.
        -- Only the row's place and these flags leave the probe, not its 300 sums.
        SELECT kd.id, o.tid, coalesce(o.ok, false) AS ok, coalesce(o.counted, false) AS counted
          FROM kd
          LEFT JOIN LATERAL (
               SELECT d.ctid AS tid,
                      d.cum IS NOT NULL AND d.cum[25][5] + kd.t > 0
                      AND greatest(abs(d.cum[25][1]) + kd.s1, abs(d.cum[25][2]) + kd.s2,
                                   abs(d.cum[25][3]) + kd.s3, abs(d.cum[25][4]) + kd.s4,
                                   abs(d.cum[25][5]) + kd.s5, abs(d.cum[25][6]) + kd.s6,
                                   abs(d.cum[25][7]) + kd.s7, abs(d.cum[25][8]) + kd.s8,
                                   abs(d.cum[25][9]) + kd.s9, abs(d.cum[25][10]) + kd.s10,
                                   abs(d.cum[25][11]) + kd.s11, abs(d.cum[25][12]) + kd.s12)
                          <= 9223372036854775807 AS ok,
                      $1 AND d.cum[kd.j0 + 2][5] <> d.cum[kd.j0 + 1][5] AS counted
                 FROM usage.task_usage_daily d
                WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day)
                    = (kd.workspace_id, kd.runtime_id, kd.agent_id, kd.provider, kd.model, kd.day)
                  AND d.project_id IS NOT DISTINCT FROM kd.project_id
               OFFSET 0) o ON true
         WHERE kd.n <= 6
    ), added AS (
        -- Row r of the sums holds the hours before hour r - 1: the rows from a changed hour j
        -- (r = j + 2) to the next changed one (nj) move by the running change; the rows
        -- before the first changed hour stay. The row is updated where the probe found it.
        UPDATE usage.task_usage_daily d
           SET cum = d.cum[1:kd.j0 + 1] || (
               SELECT array_agg(ARRAY[u.c1 + kd.sg[v.i][3], u.c2 + kd.sg[v.i][4],
                                      u.c3 + kd.sg[v.i][5], u.c4 + kd.sg[v.i][6],
                                      u.c5 + kd.sg[v.i][7], u.c6 + kd.sg[v.i][8],
                                      u.c7 + kd.sg[v.i][9], u.c8 + kd.sg[v.i][10],
                                      u.c9 + kd.sg[v.i][11], u.c10 + kd.sg[v.i][12],
                                      u.c11 + kd.sg[v.i][13], u.c12 + kd.sg[v.i][14]]
                                ORDER BY v.i, u.k)
                 FROM generate_subscripts(kd.sg, 1) AS v(i)
                CROSS JOIN LATERAL unnest(
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][1:1],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][2:2],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][3:3],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][4:4],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][5:5],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][6:6],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][7:7],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][8:8],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][9:9],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][10:10],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][11:11],
                      d.cum[kd.sg[v.i][1] + 2:kd.sg[v.i][2] + 1][12:12])
                      WITH ORDINALITY AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, k))
          FROM pr JOIN kd USING (id)
         WHERE d.ctid = pr.tid AND pr.ok AND NOT pr.counted AND NOT kd.nil
        RETURNING kd.id
    )
    -- The days to recompute from their hours: those with more than three changed hours, and
    -- those whose change could not be added (no row: a new day, or every day after a
    -- TRUNCATE, which empties the level; no sums; no task left, which the recompute removes;
    -- past a bigint). A nil change to a stored day, and a counted day, stay as they are.
    SELECT array_agg(kd.workspace_id), array_agg(kd.runtime_id), array_agg(kd.agent_id),
           array_agg(kd.provider), array_agg(kd.model), array_agg(kd.project_id),
           array_agg(kd.day)
      FROM kd
      LEFT JOIN pr USING (id)
     WHERE kd.id NOT IN (SELECT id FROM added)
       AND (kd.n > 6 OR pr.tid IS NULL OR NOT (pr.counted OR (kd.nil AND pr.ok)))
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
