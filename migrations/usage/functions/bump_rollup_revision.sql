-- Raises usage.rollup_revision (0024) for each statement on task_usage_hourly or
-- task_usage_daily: what the gateway keeps of the rollup's rows (usage_daily_cache.c) was read
-- before it and is read again. Every statement, even one that changed no row: the daily
-- level's trigger writes the daily table for any statement on the hourly one, and telling
-- empty statements apart there needs transition tables, whose capture of the daily level's
-- 2.4 kB rows would cost the rollup's tick (spilled past work_mem on a scattered one); a
-- statement that changed nothing costs one more reading of the kept rows (about 3 ms). The
-- counter is a row updated in the writer's transaction: a read sees the new revision exactly
-- when it sees the new rows; writers of the rollup serialize on it until they commit (the
-- scheduler is one writer already, and the daily level's trigger serializes them on an
-- advisory lock). Raised to at least the clock (see 0024).
CREATE OR REPLACE FUNCTION usage.bump_rollup_revision()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
BEGIN
    UPDATE usage.rollup_revision
       SET revision = greatest(revision + 1,
                               (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION usage.bump_rollup_revision() IS
    'Trigger: raises usage.rollup_revision for a statement on the rollup''s tables, so what the gateway keeps of them is read again.';
REVOKE ALL ON FUNCTION usage.bump_rollup_revision() FROM PUBLIC;
CREATE OR REPLACE TRIGGER task_usage_hourly_revision
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage.task_usage_hourly
    FOR EACH STATEMENT EXECUTE FUNCTION usage.bump_rollup_revision();
CREATE OR REPLACE TRIGGER task_usage_daily_revision
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage.task_usage_daily
    FOR EACH STATEMENT EXECUTE FUNCTION usage.bump_rollup_revision();
