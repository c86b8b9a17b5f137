-- Keeps task_usage.runtime_id (migration 0025) the runtime of the task's attribution: a
-- statement that inserts attributions, or changes their runtime, writes the new runtime on
-- the usage rows of those tasks in its own transaction (usage that came before its
-- attribution, a task moved to another runtime). Whoever writes the attribution (the
-- ingester's batch, a test, a repair by hand) keeps it so. A usage row inserted meanwhile by
-- another transaction is not seen here: the ingester's batch locks the attribution of the rows
-- it inserted (FOR SHARE) and corrects them itself (functions/apply_batch.sql), and a read
-- never trusts runtime_id alone (it probes the attribution). Statement triggers: one UPDATE
-- per statement, none where no runtime changed. The delta log's trigger skips these updates
-- (no sum changes; the rollup is moved by the dirty queue, enqueue_task_buckets). The
-- changes of those rows logged and not folded yet (usage.task_usage_delta.runtime_id,
-- migration 0026) take the new runtime too, so a runtime's read finds them.
CREATE OR REPLACE FUNCTION usage.task_attribution_usage_runtime()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
BEGIN
    -- Each UPDATE runs only when a row would change: an UPDATE of no row still fires
    -- task_usage's statement trigger, and nearly every statement here (a new task without
    -- usage yet, a status change, the usage_missing flag) changes no runtime.
    IF TG_OP = 'INSERT' THEN
        -- Each new attribution's usage probed by key (LATERAL ... LIMIT 1): the join hashed
        -- the whole of task_usage (a transition table's size is not known to the planner).
        IF NOT EXISTS (SELECT 1 FROM mc_new n
                        CROSS JOIN LATERAL (SELECT 1 FROM usage.task_usage u
                                             WHERE u.task_id = n.task_id
                                               AND u.runtime_id IS DISTINCT FROM n.runtime_id
                                             LIMIT 1) w) THEN
            RETURN NULL;
        END IF;
        UPDATE usage.task_usage u
           SET runtime_id = n.runtime_id
          FROM mc_new n
         WHERE u.task_id = n.task_id AND u.runtime_id IS DISTINCT FROM n.runtime_id;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM mc_new n JOIN mc_old o ON o.task_id = n.task_id
                        WHERE n.runtime_id IS DISTINCT FROM o.runtime_id) THEN
            RETURN NULL;
        END IF;
        UPDATE usage.task_usage u
           SET runtime_id = n.runtime_id
          FROM mc_new n
          JOIN mc_old o ON o.task_id = n.task_id
         WHERE n.runtime_id IS DISTINCT FROM o.runtime_id
           AND u.task_id = n.task_id AND u.runtime_id IS DISTINCT FROM n.runtime_id;
    END IF;
    -- Rows moved: their changes the rollup has not folded follow them (migration 0026; the
    -- log has no task index, so this reads the whole log, only when a row moved).
    IF FOUND THEN
        UPDATE usage.task_usage_delta d
           SET runtime_id = n.runtime_id
          FROM mc_new n
         WHERE d.task_id = n.task_id AND d.runtime_id IS DISTINCT FROM n.runtime_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION usage.task_attribution_usage_runtime() IS
    'Statement trigger of task_attribution: writes the runtime of inserted or moved attributions on their tasks'' task_usage rows (task_usage.runtime_id, a read''s index key).';
REVOKE ALL ON FUNCTION usage.task_attribution_usage_runtime() FROM PUBLIC;
CREATE OR REPLACE TRIGGER task_attribution_usage_runtime_insert AFTER INSERT
    ON usage.task_attribution REFERENCING NEW TABLE AS mc_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_attribution_usage_runtime();
CREATE OR REPLACE TRIGGER task_attribution_usage_runtime_update AFTER UPDATE
    ON usage.task_attribution REFERENCING OLD TABLE AS mc_old NEW TABLE AS mc_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage.task_attribution_usage_runtime();
