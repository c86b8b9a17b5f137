-- Logs each change of task_usage into usage.task_usage_delta, in the transaction that makes
-- it: one set-based INSERT per statement from its transition tables (a row trigger would cost
-- a call per row). An update logs the row as it was (-1) and as it is (+1), an insert the new
-- row, a delete the old one.
-- A row written with an updated_at before both the rollup's watermark and its own
-- transaction is history loaded in bulk (the benchmarks' seeds, a restore): as before, the
-- watermark says it is already in the rollup (or that a backfill will put it there), so it
-- is not logged. Every write of the ingester stamps updated_at = now(), so none of its
-- changes is ever taken for history, however long its transaction ran.
CREATE OR REPLACE FUNCTION usage.task_usage_log_delta()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    wm timestamptz := coalesce((SELECT watermark FROM usage.rollup_state), '-infinity');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO usage.task_usage_delta
               (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_usd_ticks)
        SELECT n.task_id, n.provider, n.model, n.created_at, 1, n.input_tokens, n.output_tokens,
               n.cache_read_tokens, n.cache_write_tokens, n.cost_usd_ticks
          FROM mc_new n
         WHERE n.updated_at >= now() OR n.updated_at >= wm;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO usage.task_usage_delta
               (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_usd_ticks)
        SELECT o.task_id, o.provider, o.model, o.created_at, -1, o.input_tokens, o.output_tokens,
               o.cache_read_tokens, o.cache_write_tokens, o.cost_usd_ticks
          FROM mc_old o
         WHERE NOT EXISTS (SELECT 1 FROM mc_new n
                            WHERE (n.task_id, n.provider, n.model) = (o.task_id, o.provider, o.model)
                              AND n.updated_at < now() AND n.updated_at < wm)
        UNION ALL
        SELECT n.task_id, n.provider, n.model, n.created_at, 1, n.input_tokens, n.output_tokens,
               n.cache_read_tokens, n.cache_write_tokens, n.cost_usd_ticks
          FROM mc_new n
         WHERE n.updated_at >= now() OR n.updated_at >= wm;
    ELSE
        INSERT INTO usage.task_usage_delta
               (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_usd_ticks)
        SELECT o.task_id, o.provider, o.model, o.created_at, -1, o.input_tokens, o.output_tokens,
               o.cache_read_tokens, o.cache_write_tokens, o.cost_usd_ticks
          FROM mc_old o;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION usage.task_usage_log_delta() IS
    'Statement trigger of task_usage: logs the rows a statement changed (old -1, new +1) into usage.task_usage_delta for the rollup to fold; rows stamped before the watermark and before their transaction (bulk history) are not logged.';
REVOKE ALL ON FUNCTION usage.task_usage_log_delta() FROM PUBLIC;

CREATE OR REPLACE TRIGGER task_usage_delta_insert AFTER INSERT ON usage.task_usage
    REFERENCING NEW TABLE AS mc_new FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_log_delta();
CREATE OR REPLACE TRIGGER task_usage_delta_update AFTER UPDATE ON usage.task_usage
    REFERENCING OLD TABLE AS mc_old NEW TABLE AS mc_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_log_delta();
CREATE OR REPLACE TRIGGER task_usage_delta_delete AFTER DELETE ON usage.task_usage
    REFERENCING OLD TABLE AS mc_old FOR EACH STATEMENT EXECUTE FUNCTION usage.task_usage_log_delta();
