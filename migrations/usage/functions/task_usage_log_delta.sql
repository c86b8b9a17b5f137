-- Logs each change of task_usage into usage.task_usage_delta, in the transaction that makes
-- it: one set-based INSERT per statement from its transition tables (a row trigger would cost
-- a call per row). An insert logs the new row (+1), a delete the old one (-1). An update logs
-- one row when the row keeps its key and created_at (every update of the ingester): the row
-- as it is with, in old_*, the values it had (sign 0; it falls in one bucket at one price, so
-- the fold adds the difference and attributes the row once); otherwise the row as it was (-1)
-- and as it is (+1).
-- Each logged row carries the row's runtime_id (task_usage.runtime_id, migration 0025): a
-- runtime's read finds its unfolded changes by it (usage.usage_delta_rows, migration 0026).
-- An update that changes only runtime_id logs nothing (no summed value changes); the writers
-- of runtime_id (functions/task_attribution_usage_runtime.sql, apply_batch's correction)
-- write the new runtime on the task's logged changes themselves, so that a task's unfolded
-- changes carry the runtime its rows carry.
-- An update in place that changes none of the summed values (a newer report with the same
-- counts) logs nothing: it would add zero to its bucket.
-- A row written with an updated_at before both the rollup's watermark and its own
-- transaction is history loaded in bulk (the benchmarks' seeds, a restore): as before, the
-- watermark says it is already in the rollup (or that a backfill will put it there), so it
-- is not logged. Every write of the ingester stamps updated_at = now(), so none of its
-- changes is ever taken for history, however long its transaction ran.
CREATE OR REPLACE FUNCTION usage.task_usage_log_delta()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    wm timestamptz;
BEGIN
    -- A statement that changed no row (an upsert whose rows were all inserted fires the
    -- UPDATE trigger too) logs nothing, and reads nothing.
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM mc_old) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM mc_new) THEN
        RETURN NULL;
    END IF;
    wm := coalesce((SELECT watermark FROM usage.rollup_state), '-infinity');
    IF TG_OP = 'INSERT' THEN
        INSERT INTO usage.task_usage_delta
               (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_usd_ticks, runtime_id)
        SELECT n.task_id, n.provider, n.model, n.created_at, 1, n.input_tokens, n.output_tokens,
               n.cache_read_tokens, n.cache_write_tokens, n.cost_usd_ticks, n.runtime_id
          FROM mc_new n
         WHERE n.updated_at >= now() OR n.updated_at >= wm;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Old and new rows paired by key (unique in each). An old row is logged unless its
        -- new row is history (then neither is); a new row unless it is history.
        INSERT INTO usage.task_usage_delta
               (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_usd_ticks, old_input_tokens,
                old_output_tokens, old_cache_read_tokens, old_cache_write_tokens,
                old_cost_usd_ticks, runtime_id)
        SELECT v.task_id, v.provider, v.model, v.created_at, v.sign, v.input_tokens,
               v.output_tokens, v.cache_read_tokens, v.cache_write_tokens, v.cost_usd_ticks,
               v.old_input_tokens, v.old_output_tokens, v.old_cache_read_tokens,
               v.old_cache_write_tokens, v.old_cost_usd_ticks, v.runtime_id
          FROM mc_old o
          FULL JOIN mc_new n
            ON (n.task_id, n.provider, n.model) = (o.task_id, o.provider, o.model)
         CROSS JOIN LATERAL (
               SELECT n.task_id IS NOT NULL AND (n.updated_at >= now() OR n.updated_at >= wm)
                          AS logged_new,
                      o.task_id IS NOT NULL AND n.task_id IS NOT NULL
                          AND o.created_at = n.created_at AS in_place,
                      (n.input_tokens, n.output_tokens, n.cache_read_tokens,
                       n.cache_write_tokens, n.cost_usd_ticks)
                          IS DISTINCT FROM (o.input_tokens, o.output_tokens,
                                            o.cache_read_tokens, o.cache_write_tokens,
                                            o.cost_usd_ticks) AS changed) k
         CROSS JOIN LATERAL (VALUES
               (k.logged_new AND k.in_place AND k.changed,
                n.task_id, n.provider, n.model, n.created_at, 0::smallint, n.input_tokens,
                n.output_tokens, n.cache_read_tokens, n.cache_write_tokens, n.cost_usd_ticks,
                o.input_tokens, o.output_tokens, o.cache_read_tokens, o.cache_write_tokens,
                o.cost_usd_ticks, n.runtime_id),
               (o.task_id IS NOT NULL AND (n.task_id IS NULL OR (k.logged_new AND NOT k.in_place)),
                o.task_id, o.provider, o.model, o.created_at, -1::smallint, o.input_tokens,
                o.output_tokens, o.cache_read_tokens, o.cache_write_tokens, o.cost_usd_ticks,
                NULL, NULL, NULL, NULL, NULL, o.runtime_id),
               (k.logged_new AND NOT k.in_place,
                n.task_id, n.provider, n.model, n.created_at, 1::smallint, n.input_tokens,
                n.output_tokens, n.cache_read_tokens, n.cache_write_tokens, n.cost_usd_ticks,
                NULL, NULL, NULL, NULL, NULL, n.runtime_id))
               AS v(keep, task_id, provider, model, created_at, sign, input_tokens,
                    output_tokens, cache_read_tokens, cache_write_tokens, cost_usd_ticks,
                    old_input_tokens, old_output_tokens, old_cache_read_tokens,
                    old_cache_write_tokens, old_cost_usd_ticks, runtime_id)
         WHERE v.keep;
    ELSE
        INSERT INTO usage.task_usage_delta
               (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_usd_ticks, runtime_id)
        SELECT o.task_id, o.provider, o.model, o.created_at, -1, o.input_tokens, o.output_tokens,
               o.cache_read_tokens, o.cache_write_tokens, o.cost_usd_ticks, o.runtime_id
          FROM mc_old o;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION usage.task_usage_log_delta() IS
    'Statement trigger of task_usage: logs the rows a statement changed (old -1, new +1, an update in place as one row, sign 0, with the old values, each with the row''s runtime_id) into usage.task_usage_delta for the rollup to fold; rows stamped before the watermark and before their transaction (bulk history) are not logged.';
REVOKE ALL ON FUNCTION usage.task_usage_log_delta() FROM PUBLIC;

CREATE OR REPLACE TRIGGER task_usage_delta_insert AFTER INSERT ON usage.task_usage
    REFERENCING NEW TABLE AS mc_new FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_log_delta();
CREATE OR REPLACE TRIGGER task_usage_delta_update AFTER UPDATE ON usage.task_usage
    REFERENCING OLD TABLE AS mc_old NEW TABLE AS mc_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_log_delta();
CREATE OR REPLACE TRIGGER task_usage_delta_delete AFTER DELETE ON usage.task_usage
    REFERENCING OLD TABLE AS mc_old FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_log_delta();
